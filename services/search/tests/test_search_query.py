"""The search RPC's parameters: filters, ranges, facets, browsing, paging, and a BadRequest naming
the parameter for every bad value (no broker)."""

import base64
import json

import pytest

from crm_common.caller import Caller
from crm_common.errors import BadRequest

ADMIN = Caller("a1", ("admin",))


def deal(deal_id: str, amount: str, created_at: str, stage: str = "s1") -> dict:
    return {
        "id": deal_id,
        "version": 1,
        "title": f"Findme {deal_id}",
        "amount": amount,
        "currency": "CNY",
        "owner_id": "u1",
        "stage_id": stage,
        "status": "open",
        "created_at": created_at,
        "updated_at": created_at,
    }


@pytest.fixture
def deals(deliver) -> None:
    deliver("sales", "deal_created", deal("small", "10.00", "2026-11-01T08:00:00.000000Z"))
    deliver("sales", "deal_created", deal("medium", "500.00", "2026-11-15T08:00:00.000000Z", "s2"))
    deliver("sales", "deal_created", deal("large", "9000.00", "2026-11-30T23:00:00.000000Z", "s2"))


def _b64(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def cursor(now: str, after: list) -> str:
    """A cursor as the service makes one (query.encode_cursor), around the adapter's keyset."""
    return _b64([now, _b64(after)])


def ids(search, **query) -> set[str]:
    return {h["id"] for h in search(ADMIN).search({"q": "findme", **query})["data"]}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"q": ""}, "q is required"),
        ({"q": 5}, "q"),
        ({"q": "x", "types": "contact,person"}, "types"),
        ({"q": "x", "filter": "{not json"}, "filter"),
        ({"q": "x", "filter": "[1]"}, "filter"),
        ({"q": "x", "filter": json.dumps({"body": "x"})}, "filter"),
        ({"q": "x", "filter": json.dumps({"owner_id": []})}, "filter"),
        ({"q": "x", "filter": json.dumps({"owner_id": {"$ne": "u1"}})}, "filter"),
        ({"q": "x", "filter": json.dumps({"type": "person"})}, "filter"),
        ({"q": "x", "range": json.dumps({"title": ["a", "b"]})}, "range"),
        ({"q": "x", "range": json.dumps({"amount": [1]})}, "range"),
        ({"q": "x", "range": json.dumps({"amount": ["1", None]})}, "range"),
        ({"q": "x", "range": json.dumps({"amount": [None, None]})}, "range"),
        ({"q": "x", "range": json.dumps({"ordered_at": ["yesterday", None]})}, "range"),
        ({"q": "x", "created_from": "2026-13-01"}, "created_from"),
        ({"q": "x", "updated_to": "soon"}, "updated_to"),
        ({"q": "x", "created_from": "2026-11-01", "range": json.dumps({"created_at": ["2026-10-01", None]})}, "range"),
        ({"q": "x", "facets": "type,body"}, "facets"),
        ({"q": "x", "limit": "many"}, "limit"),
        ({"q": "x", "limit": 0}, "limit"),
        ({"q": "x", "cursor": "not-a-cursor"}, "cursor"),
        ({"q": "x" * 201}, "query longer"),
        # Values Python reads but no index can take: out-of-range dates, NaN, huge numbers and terms.
        ({"q": "x", "created_to": "9999-12-31"}, "created_to"),
        ({"q": "x", "created_from": "0001-01-01T00:00:00+05:00"}, "created_from"),
        ({"q": "x", "range": json.dumps({"updated_at": [None, "9999-12-31"]})}, "range"),
        ({"q": "x", "range": '{"amount": [NaN, null]}'}, "range"),
        ({"q": "x", "range": '{"amount": [Infinity, null]}'}, "range"),
        ({"q": "x", "range": json.dumps({"amount": [10**400, None]})}, "range"),
        ({"q": "x", "filter": '{"owner_id": NaN}'}, "filter"),
        ({"q": "x", "filter": json.dumps({"owner_id": True})}, "filter"),
        ({"q": "x", "filter": json.dumps({"owner_id": "u" * 201})}, "filter"),
        ({"q": "x", "cursor": cursor("0001-01-01T00:00:00+05:00", [1.0, "deal:small"])}, "cursor"),
        ({"q": "x", "cursor": cursor("2026-11-01", [10**400, "deal:small"])}, "cursor"),
        ({"q": "x", "cursor": cursor("2026-11-01", ["1", "deal:small"])}, "cursor"),
    ],
)
def test_a_bad_parameter_is_a_bad_request_naming_it(search, query: dict, named: str) -> None:
    with pytest.raises(BadRequest, match=named):
        search(ADMIN).search(query)


def test_filters_and_ranges_narrow_the_matches(search, deals) -> None:
    assert ids(search, filter=json.dumps({"stage_id": "s2"})) == {"medium", "large"}
    assert ids(search, range=json.dumps({"amount": [100, 9000]})) == {"medium"}
    assert ids(search, range=json.dumps({"amount": [None, 100]})) == {"small"}
    # A date-only upper bound includes its whole day; a date-time with an offset is read as UTC.
    assert ids(search, created_from="2026-11-15", created_to="2026-11-30") == {"medium", "large"}
    assert ids(search, created_to="2026-12-01T06:00:00+08:00") == {"small", "medium"}
    assert ids(search, updated_from="2026-11-16") == {"large"}
    assert ids(search, types="contact") == set()
    assert ids(search, filter=json.dumps({"type": ["deal"]})) == {"small", "medium", "large"}


def test_an_empty_q_browses_when_a_filter_or_range_narrows(search, deals) -> None:
    browsed = search(ADMIN).search({"q": "", "filter": json.dumps({"stage_id": ["s1", "s2"]}), "facets": "stage_id"})
    assert browsed["total"] == 3 and browsed["facets"] == {"stage_id": {"s1": 1, "s2": 2}}


def test_the_cursor_pages_through_every_match_once(search, deals) -> None:
    seen, cursor = [], None
    while True:
        page = search(ADMIN).search({"q": "findme", "limit": 1, "cursor": cursor})
        seen += [h["id"] for h in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["large", "medium", "small"]


def test_each_hit_carries_its_fields_and_the_answer_its_total_relation(search, deals) -> None:
    answer = search(ADMIN).search({"q": "findme", "types": "deal", "facets": "type"})
    assert answer["total_relation"] == "eq" and answer["facets"] == {"type": {"deal": 3}}
    assert {h["fields"]["stage_id"] for h in answer["data"]} == {"s1", "s2"}
