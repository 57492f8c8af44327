"""Whatever a client sends, the gateway answers with a 4xx problem+json, never a 500."""

import json

import pytest

PROBLEM = "application/problem+json"


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and "type" in body
    return body


def _raw_post(api, path: str, data: bytes, content_type: str = "application/json"):
    return api.request("POST", path, data=data, headers={"Content-Type": content_type})


@pytest.mark.parametrize("payload", [b"{", b"{'single': 'quotes'}", b"\xff\xfe", b"[1, 2", b"nul"])
def test_malformed_json_is_a_400(api, payload):
    _problem(_raw_post(api, "/contacts", payload), 400)


def test_an_empty_body_is_a_400(api):
    _problem(_raw_post(api, "/contacts", b""), 400)


@pytest.mark.parametrize("payload", [[], "a string", 42, None])
def test_a_body_that_is_not_an_object_is_a_422(api, payload):
    _problem(_raw_post(api, "/contacts", json.dumps(payload).encode()), 422)


@pytest.mark.parametrize(
    "field,value",
    [
        ("first_name", 42),
        ("email", "not-an-email"),
        ("tags", "vip"),
        ("tags", [1, 2]),
        ("lifecycle_stage", "king"),
        ("custom_fields", ["a"]),
        ("phone", {"number": "1"}),
    ],
)
def test_wrong_types_are_a_422_naming_the_field(api, field, value):
    body = _problem(api.post("/contacts", {"first_name": "A", field: value}), 422)
    assert any(e["field"] == field for e in body["errors"])


def test_unknown_fields_are_a_422(api):
    body = _problem(api.post("/contacts", {"first_name": "A", "favourite_colour": "blue"}), 422)
    assert body["errors"] == [{"field": "favourite_colour", "message": "is not a known field"}]


@pytest.mark.parametrize("field", ["id", "created_at", "version", "value_grade"])
def test_server_owned_fields_are_refused_not_ignored(api, field):
    body = _problem(api.post("/contacts", {"first_name": "A", field: "x"}), 422)
    assert body["errors"][0]["field"] == field


@pytest.mark.parametrize("value", [{"$ne": None}, {"$gt": ""}, {"$where": "1"}, ["$in"]])
def test_operator_objects_in_values_are_refused(api, value):
    _problem(api.post("/contacts", {"first_name": "A", "email": value}), 422)


@pytest.mark.parametrize(
    "flt",
    [
        '{"email": {"$ne": ""}}',
        '{"$where": "sleep(1)"}',
        '{"email": {"regex": ".*"}}',
        '{"password": "x"}',
        '{"email": {"eq": {"$gt": ""}}}',
        "not json",
        "[]",
    ],
)
def test_bad_filters_are_a_400(api, flt):
    _problem(api.get("/contacts", params={"filter": flt}), 400)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"cursor": "%%%"},
        {"cursor": "WzEsMiwzXQ"},
        {"sort": "password"},
        {"nonexistent_field": "1"},
    ],
)
def test_bad_list_parameters_are_a_400(api, params):
    _problem(api.get("/contacts", params=params), 400)


def test_an_oversized_body_is_a_413(api):
    huge = json.dumps({"first_name": "A", "custom_fields": {"blob": "x" * 2_000_000}}).encode()
    _problem(_raw_post(api, "/contacts", huge), 413)


def test_an_unknown_record_is_a_404(api):
    _problem(api.get("/contacts/does-not-exist"), 404)


def test_an_unknown_route_is_a_404(api):
    _problem(api.get("/no-such-thing"), 404)


def test_a_wrong_method_is_a_405_with_allow(api):
    response = api.request("PUT", "/contacts")
    _problem(response, 405)
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]


def test_a_wrong_content_type_is_a_4xx(api):
    response = _raw_post(api, "/contacts", b"first_name=A", "application/x-www-form-urlencoded")
    assert 400 <= response.status_code < 500
    assert response.headers["Content-Type"] == PROBLEM


def test_references_to_missing_records_are_a_422(api):
    body = _problem(api.post("/deals", {"title": "X", "amount": "1.00", "currency": "CNY", "contact_id": "nope"}), 422)
    assert body["errors"][0]["field"] == "contact_id"
    _problem(api.post("/contacts", {"first_name": "A", "company_id": "nope"}), 422)


@pytest.mark.parametrize("amount", [12.5, "-3", "abc", "NaN", "1e999999"])
def test_money_must_be_a_non_negative_decimal_string(api, amount):
    _problem(api.post("/deals", {"title": "X", "amount": amount, "currency": "CNY", "contact_id": "x"}), 422)


def test_search_needs_a_query(api):
    _problem(api.get("/search"), 400)
    _problem(api.get("/search", params={"q": "x", "types": "planets"}), 400)
    _problem(api.get("/search", params={"q": "x" * 500}), 400)


def test_a_bad_if_match_is_a_412(api):
    contact = api.create("/contacts", {"first_name": "Etag"})
    _problem(api.patch(f"/contacts/{contact['id']}", {"first_name": "B"}, headers={"If-Match": '"abc"'}), 412)


@pytest.mark.parametrize(
    "path,body",
    [
        ("/tickets", {"subject": "S", "contact_id": "x", "priority": None}),
        ("/tickets", {"subject": "S", "contact_id": "x", "kind": None}),
        ("/contacts", {"first_name": "A", "tags": None}),
        ("/contacts", {"first_name": "A", "lifecycle_stage": None}),
    ],
)
def test_null_is_refused_for_fields_that_have_defaults(api, path, body):
    field = next(k for k, v in body.items() if v is None)
    body_ = _problem(api.post(path, body), 422)
    assert body_["errors"] == [{"field": field, "message": "must not be null"}]


def test_a_stale_if_match_fails_even_when_nothing_would_change(api):
    contact = api.create("/contacts", {"first_name": "Same"})
    api.patch(f"/contacts/{contact['id']}", {"first_name": "Other"})
    _problem(api.patch(f"/contacts/{contact['id']}", {"first_name": "Other"}, headers={"If-Match": '"1"'}), 412)


def test_dead_letter_listing_checks_its_parameters(api):
    _problem(api.get("/dead-letters/search", params={"limit": "abc"}), 400)
    _problem(api.get("/dead-letters/nonexistent"), 404)


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "9999"}, {"limit": "x"}, {"cursor": "!!"}, {"kind": "planet"}]
)
def test_timeline_parameters_are_checked(api, params):
    contact = api.create("/contacts", {"first_name": "Timeline"})
    _problem(api.get(f"/contacts/{contact['id']}/timeline", params=params), 400 if "kind" not in params else 422)


@pytest.mark.parametrize("path", ["/notifications", "/search?q=a"])
@pytest.mark.parametrize("params", [{"limit": "-1"}, {"limit": "abc"}, {"cursor": "not-a-cursor"}])
def test_inbox_and_search_parameters_are_checked(api, path, params):
    _problem(api.get(path, params=params), 400)
