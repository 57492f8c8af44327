"""The duplicate check, the create override and the merge routes on their own (a scripted RPC pool)."""

import inspect

import pytest

from crm_common.errors import Conflict
from gateway.api import DEDUPLICATED

CANDIDATE = {"id": "c1", "score": 1.0, "reasons": ["email"], "strong": True, "record": {"id": "c1"}}


@pytest.mark.parametrize("path,subject_type", [("contacts", "contact"), ("companies", "company")])
def test_the_check_before_entry_forwards_the_body_and_answers_the_candidates(client, rpc, path, subject_type):
    rpc.answers[("contacts", "find_duplicates")] = {"data": [CANDIDATE]}
    response = client.post(f"/api/v1/{path}/duplicates", json={"email": "a@b.cn"})
    assert response.status_code == 200 and response.get_json() == {"data": [CANDIDATE]}
    assert rpc.calls[-1][1:4:2] == ("find_duplicates", {"subject_type": subject_type, "data": {"email": "a@b.cn"}})


@pytest.mark.parametrize("path,method", [("contacts", "create_contact"), ("companies", "create_company")])
def test_a_customer_create_passes_the_override_only_when_asked(client, rpc, path, method):
    rpc.answers[("contacts", method)] = {"id": "n1", "version": 1}
    assert client.post(f"/api/v1/{path}", json={"name": "x"}).status_code == 201
    assert rpc.calls[-1][3] == {"data": {"name": "x"}, "allow_duplicate": False}
    assert client.post(f"/api/v1/{path}?allow_duplicate=true", json={"name": "x"}).status_code == 201
    assert rpc.calls[-1][3] == {"data": {"name": "x"}, "allow_duplicate": True}


@pytest.mark.parametrize("value", ["yes", "1", "TRUE", ""])
def test_an_override_that_is_not_a_boolean_is_a_400(client, rpc, value):
    response = client.post(f"/api/v1/contacts?allow_duplicate={value}", json={"last_name": "x"})
    assert response.status_code == 400 and rpc.calls == []
    assert client.post("/api/v1/contacts?allow_duplicate=true&allow_duplicate=false", json={}).status_code == 400


def test_other_creates_know_no_override(client, rpc):
    rpc.answers[("sales", "create_deal")] = {"id": "d1", "version": 1}
    assert client.post("/api/v1/deals?allow_duplicate=true", json={"title": "x"}).status_code == 201
    assert rpc.calls[-1][3] == {"data": {"title": "x"}}


def test_a_refused_duplicate_is_a_409_with_its_matches(client, rpc):
    rpc.answers[("contacts", "create_contact")] = Conflict("likely duplicate", [CANDIDATE])
    response = client.post("/api/v1/contacts", json={"email": "a@b.cn"})
    assert response.status_code == 409 and response.get_json()["matches"] == [CANDIDATE]


@pytest.mark.parametrize("path,subject_type", [("contacts", "contact"), ("companies", "company")])
def test_a_merge_forwards_the_duplicates_and_if_match_and_answers_the_survivor(client, rpc, path, subject_type):
    rpc.answers[("contacts", "merge_records")] = {"id": "s1", "version": 4}
    response = client.post(
        f"/api/v1/{path}/s1/merge", json={"duplicate_ids": ["d1", "d2"]}, headers={"If-Match": '"3"'}
    )
    assert response.status_code == 200 and response.headers["ETag"] == '"4"'
    assert rpc.calls[-1][1:4:2] == (
        "merge_records",
        {"subject_type": subject_type, "survivor_id": "s1", "duplicate_ids": ["d1", "d2"], "expected_version": 3},
    )


@pytest.mark.parametrize("body", [{}, {"duplicate_ids": ["d1"], "keep": "s1"}, ["d1"]])
def test_a_merge_body_without_duplicate_ids_or_with_other_fields_is_a_422(client, rpc, body):
    assert client.post("/api/v1/contacts/s1/merge", json=body).status_code == 422
    assert rpc.calls == []


def test_the_services_take_what_these_routes_send():
    service = pytest.importorskip("contacts.service").ContactsService
    for noun in DEDUPLICATED:
        assert "allow_duplicate" in inspect.signature(getattr(service, f"create_{noun}")).parameters
    assert {"subject_type", "data"} <= set(inspect.signature(service.find_duplicates).parameters)
    merge = set(inspect.signature(service.merge_records).parameters)
    assert {"subject_type", "survivor_id", "duplicate_ids", "expected_version"} <= merge
