"""The gateway app on its own (an in-memory RPC pool): its OpenAPI document and error mapping."""

import pytest
from openapi_spec_validator import validate

from crm_common.errors import Conflict, NotFound, ServiceUnavailable
from gateway.rpc import RemoteFailure


def test_the_openapi_document_is_valid_openapi_3_1(client):
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_api_route_is_documented(client):
    app = client.application
    documented = client.get("/api/v1/openapi.json").get_json()["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule in ("/api/v1/openapi.json", "/api/v1/docs"):
            continue
        path = rule.rule.removeprefix("/api/v1").replace("<resource_id>", "{id}").replace("<pipeline_id>", "{id}")
        path = path.replace("<service>", "{service}").replace("<failure_id>", "{failure_id}")
        assert path in documented, rule.rule
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in documented[path], f"{method} {rule.rule}"


def test_the_docs_page_lists_the_operations(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/contacts/{id}/timeline" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "error,status",
    [
        (NotFound("gone"), 404),
        (Conflict("dup", [{"id": "c1"}]), 409),
        (ServiceUnavailable("down"), 503),
        (RemoteFailure("KeyError: 'x'"), 500),
    ],
)
def test_service_errors_become_problems_with_the_right_status(client, rpc, error, status):
    rpc.answers[("contacts", "get_contact")] = error
    response = client.get("/api/v1/contacts/c1")
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["instance"] == "/api/v1/contacts/c1"
    if status == 409:
        assert body["matches"] == [{"id": "c1"}]
    if status == 503:
        assert response.headers["Retry-After"]
    if status == 500:
        assert "KeyError" not in body["detail"]  # nothing internal leaks


def test_the_caller_and_request_id_are_passed_with_every_call(client, rpc):
    rpc.answers[("contacts", "get_contact")] = {"id": "c1", "version": 4}
    response = client.get("/api/v1/contacts/c1", headers={"X-Request-ID": "abc-123"})
    assert response.headers["ETag"] == '"4"' and response.headers["X-Request-ID"] == "abc-123"
    service, method, caller, kwargs = rpc.calls[0]
    assert (service, method, kwargs) == ("contacts", "get_contact", {"contact_id": "c1"})
    assert caller.request_id == "abc-123" and caller.user_id


def test_an_unsafe_request_id_is_replaced(client, rpc):
    for unsafe in ("has spaces", "<script>", "x" * 200):
        response = client.get("/api/v1/ping", headers={"X-Request-ID": unsafe})
        assert response.headers["X-Request-ID"] != unsafe and len(response.headers["X-Request-ID"]) == 32


def test_list_parameters_are_forwarded_as_a_query(client, rpc):
    rpc.answers[("contacts", "list_contacts")] = {"data": [], "next_cursor": None}
    client.get('/api/v1/contacts?limit=5&sort=-created_at&owner_id=u1&filter={"tags":{"contains":"vip"}}')
    query = rpc.calls[0][3]["query"]
    assert query == {
        "limit": "5",
        "sort": "-created_at",
        "filter": {"tags": {"contains": "vip"}},
        "where": {"owner_id": "u1"},
    }
