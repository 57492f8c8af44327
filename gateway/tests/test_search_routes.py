"""The search routes at the edge: what they ask the search service, the JSON parameters they parse
(a malformed one is a problem naming it), the 202 and Location of the jobs, and each job path
answering for its own kind."""

import inspect

import pytest

from crm_common.errors import Forbidden

JOB = {"id": "j1", "kind": "reindex", "status": "running", "types": ["contact"], "counts": {}}


def test_search_forwards_the_query_with_filter_and_range_parsed(client, rpc):
    rpc.answers[("search", "search")] = {"data": [], "facets": {}, "total": 0, "total_relation": "eq"}
    params = {"q": "静怡", "filter": '{"owner_id": ["u1", "u2"]}', "range": '{"amount": [100, null]}', "facets": "type"}
    assert client.get("/api/v1/search", query_string=params).status_code == 200
    assert rpc.calls[0][1:2] == ("search",)
    assert rpc.calls[0][3] == {
        "query": {**params, "filter": {"owner_id": ["u1", "u2"]}, "range": {"amount": [100, None]}}
    }


@pytest.mark.parametrize("name", ["filter", "range"])
@pytest.mark.parametrize("malformed", ["{not json", "[" * 5000])  # too deep for the parser: still a 400
def test_malformed_json_in_filter_or_range_is_a_400_naming_it(client, rpc, name, malformed):
    response = client.get("/api/v1/search", query_string={"q": "x", name: malformed})
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert response.get_json()["detail"].startswith(f"{name} is not valid JSON")
    assert rpc.calls == []


def test_a_reindex_is_started_and_followed(client, rpc):
    rpc.answers[("search", "start_reindex")] = JOB
    response = client.post("/api/v1/search/reindex", json={"types": ["contact"]})
    assert response.status_code == 202 and response.headers["Location"].endswith("/api/v1/search/reindex/j1")
    assert rpc.calls[-1][1] == "start_reindex" and rpc.calls[-1][3] == {"types": ["contact"]}
    assert client.post("/api/v1/search/reindex").status_code == 202  # the body is optional: every type
    assert rpc.calls[-1][3] == {"types": None}
    assert client.post("/api/v1/search/reindex", json={"kinds": []}).status_code == 422
    rpc.answers[("search", "get_reindex")] = {**JOB, "status": "done"}
    assert client.get("/api/v1/search/reindex/j1").get_json()["status"] == "done"
    assert rpc.calls[-1][3] == {"reindex_id": "j1"}
    assert client.get("/api/v1/search/consistency-check/j1").status_code == 404  # a reindex, not a check


def test_a_consistency_check_is_started_and_followed(client, rpc):
    check = {**JOB, "id": "j2", "kind": "consistency", "fix": True, "report": {}}
    rpc.answers[("search", "check_consistency")] = check
    response = client.post("/api/v1/search/consistency-check", json={"fix": True})
    assert response.status_code == 202 and response.headers["Location"].endswith("/search/consistency-check/j2")
    assert rpc.calls[-1][1] == "check_consistency" and rpc.calls[-1][3] == {"types": None, "fix": True}
    rpc.answers[("search", "get_reindex")] = check
    assert client.get("/api/v1/search/consistency-check/j2").status_code == 200
    assert client.get("/api/v1/search/reindex/j2").status_code == 404


def test_jobs_are_listed_and_the_service_decides_who_may_start_them(client, rpc):
    rpc.answers[("search", "list_reindexes")] = {"data": [JOB], "next_cursor": None}
    assert client.get("/api/v1/search/reindex?kind=reindex&limit=5").status_code == 200
    assert rpc.calls[-1][3] == {"query": {"limit": "5", "where": {"kind": "reindex"}}}
    rpc.answers[("search", "start_reindex")] = Forbidden("only an admin may reindex search")
    assert client.post("/api/v1/search/reindex", json={}).status_code == 403


def test_the_routes_call_the_search_service_with_its_parameter_names():
    service = pytest.importorskip("search.service").SearchService
    calls = {
        "search": {"query"},
        "start_reindex": {"types"},
        "get_reindex": {"reindex_id"},
        "list_reindexes": {"query"},
        "check_consistency": {"types", "fix"},
    }
    for method, names in calls.items():
        taken = set(inspect.signature(getattr(service, method)).parameters) - {"self"}
        assert names <= taken, f"search.{method}({', '.join(sorted(taken))}) is called with {sorted(names)}"
