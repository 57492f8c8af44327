"""Validation at the edge: schemas, list queries and the event envelope."""

import pytest

from crm_common.envelope import SCHEMA_VERSION, new_event, parse_event
from crm_common.errors import BadRequest, ValidationFailed
from crm_common.listing import api_filter_to_store, parse_list_query
from crm_common.schema import Field, validate

FIELDS = {
    "name": Field("text", required=True, max_length=5),
    "email": Field("email"),
    "amount": Field("decimal"),
    "stage": Field("choice", choices=("a", "b")),
    "extra": Field("object"),
}


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValidationFailed) as caught:
        validate({"name": "toolong", "email": "x", "id": "1", "color": "red"}, FIELDS, server_owned=("id",))
    assert {e["field"] for e in caught.value.errors} == {"name", "email", "id", "color"}


def test_partial_updates_do_not_require_required_fields():
    assert validate({"email": "a@b.co"}, FIELDS, partial=True) == {"email": "a@b.co"}


@pytest.mark.parametrize("amount", [1.5, "1,5", "-1", "inf", True, "1e3", "1_000", " 5", "NaN", ".5"])
def test_money_is_only_a_non_negative_decimal_string(amount):
    with pytest.raises(ValidationFailed):
        validate({"name": "a", "amount": amount}, FIELDS)


def test_custom_objects_hold_only_scalars_under_safe_keys():
    assert validate({"name": "a", "extra": {"region": "east", "score": 3}}, FIELDS)
    for bad in ({"$gt": 1}, {"a.b": 1}, {"nested": {"x": 1}}):
        with pytest.raises(ValidationFailed):
            validate({"name": "a", "extra": bad}, FIELDS)


def test_the_api_filter_becomes_the_store_grammar():
    flt = {
        "and": [
            {"stage": {"in": ["a", "b"]}},
            {"not": {"tags": {"contains": "vip"}}},
            {"or": [{"custom_fields.region": "east"}, {"score": {"gte": 3}}]},
        ]
    }
    assert api_filter_to_store(flt, ("stage", "tags", "score", "custom_fields.")) == {
        "$and": [
            {"stage": {"$in": ["a", "b"]}},
            {"$not": {"tags": {"$contains": "vip"}}},
            {"$or": [{"custom_fields.region": "east"}, {"score": {"$gte": 3}}]},
        ]
    }


@pytest.mark.parametrize(
    "flt",
    [
        {"$where": "x"},
        {"stage": {"$ne": 1}},
        {"secret": 1},
        {"stage": {"regex": "."}},
        {"and": []},
        {"stage": {}},
        {"stage": [1]},
        "x",
    ],
)
def test_filters_outside_the_grammar_are_refused(flt):
    with pytest.raises(BadRequest):
        api_filter_to_store(flt, ("stage",))


def test_equality_params_and_filter_combine_with_and():
    q = parse_list_query(
        {"where": {"stage": "a"}, "filter": {"score": {"gt": 1}}, "limit": "10", "sort": "-name"},
        filterable=("stage", "score"),
        sortable=("name",),
    )
    assert q.filter == {"$and": [{"stage": "a"}, {"score": {"$gt": 1}}]}
    assert (q.limit, q.sort) == (10, [("name", -1)])


@pytest.mark.parametrize(
    "where", [{"breached": {"eq": True}}, {"breached": ["true"]}, {"breached": True}, {"breached": "yes"}, ["x"]]
)
def test_a_boolean_parameter_reads_only_true_or_false_text(where):
    # An operator object or a list is unhashable: it must be refused, not crash the lookup.
    with pytest.raises(BadRequest):
        parse_list_query({"where": where}, filterable=("breached",), sortable=(), booleans=("breached",))
    q = parse_list_query(
        {"where": {"breached": "true"}}, filterable=("breached",), sortable=("created_at",), booleans=("breached",)
    )
    assert q.filter == {"breached": True}


def test_events_carry_the_full_envelope_and_round_trip():
    event = new_event("contact_created", "contacts", {"id": "c1"}, actor="u", correlation_id="r")
    parsed = parse_event(event.as_dict())
    assert parsed == event and parsed.schema_version == SCHEMA_VERSION


def test_consumers_accept_the_previous_schema_version_but_not_older_or_newer():
    body = new_event("x", "s", {}).as_dict()
    assert parse_event({**body, "schema_version": SCHEMA_VERSION - 1})
    for version in (SCHEMA_VERSION + 1, SCHEMA_VERSION - 2, "1"):
        with pytest.raises(ValidationFailed):
            parse_event({**body, "schema_version": version})


def test_an_envelope_missing_fields_is_refused():
    with pytest.raises(ValidationFailed, match="event_id"):
        parse_event({"event_type": "x"})


def test_boolean_equality_params_are_read_as_booleans():
    q = parse_list_query(
        {"where": {"done": "true"}}, filterable=("done",), sortable=("created_at",), booleans=("done",)
    )
    assert q.filter == {"done": True}
    with pytest.raises(BadRequest):
        parse_list_query({"where": {"done": "yes"}}, filterable=("done",), sortable=("created_at",), booleans=("done",))
