"""The gateway app on its own (an in-memory RPC pool): its OpenAPI document and error mapping."""

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from crm_common.errors import Conflict, NotFound, ServiceUnavailable
from crm_common.listing import API_OPERATORS
from gateway.api import SERVICES_WITH_DEAD_LETTERS
from gateway.auth import PUBLIC_ENDPOINTS
from gateway.openapi import METHODS, openapi_document, render
from gateway.rpc import RemoteFailure

COMMITTED = Path(__file__).resolve().parents[1] / "openapi.json"


@pytest.fixture
def document(client):
    """The document as the app serves it."""
    response = client.get("/api/v1/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200
    return response.get_json()


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _api_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            yield rule, re.sub(r"<[^>]+>", "{}", rule.rule.removeprefix("/api/v1"))


def test_the_openapi_document_is_valid_openapi_3_1(document):
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_route_and_method_is_documented_and_nothing_else(client, document):
    served = {(path, method) for rule, path in _api_rules(client.application) for method in rule.methods}
    served -= {(path, method) for path, method in served if method in ("HEAD", "OPTIONS")}
    documented = {(re.sub(r"\{[^}]+\}", "{}", path), method.upper()) for path, method, _ in _operations(document)}
    assert sorted(served - documented) == [], "served but not documented"
    assert sorted(documented - served) == [], "documented but not served"


def test_exactly_the_public_operations_need_no_credential(client, document):
    assert {"bearerAuth", "apiKeyAuth"} == {name for option in document["security"] for name in option}
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["apiKeyAuth"] == {**schemes["apiKeyAuth"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    public = {path for rule, path in _api_rules(client.application) if rule.endpoint in PUBLIC_ENDPOINTS}
    for path, method, operation in _operations(document):
        path = re.sub(r"\{[^}]+\}", "{}", path)
        assert (operation.get("security") == []) == (path in public), f"{method} {path}"


def _response(document, response: dict) -> dict:
    if "$ref" in response:
        return document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def test_every_operation_follows_the_conventions(document):
    rate_headers = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"}
    for path, method, operation in _operations(document):
        where = f"{method} {path}"
        params = {p.get("$ref", "").rsplit("/", 1)[-1] or p["name"] for p in operation.get("parameters", [])}
        responses = operation["responses"]
        authenticated = operation.get("security") != []
        if method == "post":
            assert "idempotencyKey" in params, where
        if method in ("patch", "delete") and path != "/api-keys/{id}":  # revoking a key takes no If-Match (yet)
            assert "ifMatch" in params and "412" in responses, where
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= set(responses), where
        if authenticated:
            assert {"401", "429", "503"} <= set(responses), where
        for status, response in responses.items():
            response = _response(document, response)
            assert "X-Request-ID" in response["headers"], f"{where} {status}"
            if status.startswith("2") and authenticated:
                assert rate_headers <= set(response["headers"]), f"{where} {status}"
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], f"{where} {status}"
    headers = {name: set(r["headers"]) for name, r in document["components"]["responses"].items()}
    assert "WWW-Authenticate" in headers["Unauthorized"] and "Allow" in headers["MethodNotAllowed"]
    assert {"Retry-After", *rate_headers} <= headers["TooManyRequests"]
    assert "Retry-After" in headers["ServiceUnavailable"]


def test_the_filter_parameter_documents_its_grammar(document):
    lists = 0
    for path, method, operation in _operations(document):
        for param in operation.get("parameters", []):
            if param.get("name") != "filter":
                continue
            lists += 1
            grammar = param["description"]
            assert all(word in grammar for word in ('"and"', '"or"', '"not"', "custom_fields.", *API_OPERATORS))
            assert param["content"]["application/json"]["schema"]["$ref"].endswith("Filter"), f"{method} {path}"
    assert lists == 7  # companies, contacts, deals, tickets, users, teams, api-keys


def test_the_committed_document_is_current():
    if not COMMITTED.exists() or COMMITTED.read_text(encoding="utf-8") != render():
        pytest.fail("gateway/openapi.json differs from gateway.openapi.openapi_document(): run `make openapi`")
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == openapi_document()


# The request bodies and list parameters of the document against the field tables the services and
# the identity directory validate with: a field added to a service and not to the document fails here.
BODIES = [
    ("CompanyInput", "contacts.schemas", "COMPANY_FIELDS"),
    ("CompanyUpdate", "contacts.schemas", "COMPANY_FIELDS"),
    ("ContactInput", "contacts.schemas", "CONTACT_FIELDS"),
    ("ContactUpdate", "contacts.schemas", "CONTACT_FIELDS"),
    ("DealInput", "sales.schemas", "DEAL_FIELDS"),
    ("DealUpdate", "sales.schemas", "DEAL_UPDATE_FIELDS"),
    ("TicketInput", "service_desk.schemas", "TICKET_FIELDS"),
    ("TicketUpdate", "service_desk.schemas", "TICKET_UPDATE_FIELDS"),
    ("UserInput", "gateway.identity.directory", "USER_FIELDS"),
    ("UserUpdate", "gateway.identity.directory", "USER_FIELDS"),
    ("TeamInput", "gateway.identity.directory", "TEAM_FIELDS"),
    ("TeamUpdate", "gateway.identity.directory", "TEAM_FIELDS"),
    ("ApiKeyInput", "gateway.identity.directory", "API_KEY_FIELDS"),
]
JSON_TYPES = {
    "text": "string",
    "id": "string",
    "email": "string",
    "phone": "string",
    "decimal": "string",
    "date": "string",
    "datetime": "string",
    "bool": "boolean",
    "int": "integer",
    "tags": "array",
    "ids": "array",
    "choices": "array",
    "object": "object",
}


def _table(module: str, name: str):
    return getattr(pytest.importorskip(module), name)


def _types(schema: dict) -> set:
    kinds = schema.get("type", [])
    return {kinds} if isinstance(kinds, str) else set(kinds)


@pytest.mark.parametrize("schema_name,module,table", BODIES)
def test_request_bodies_match_the_fields_the_services_accept(document, schema_name, module, table):
    fields = _table(module, table)
    schema = document["components"]["schemas"][schema_name]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(fields)
    required = {name for name, spec in fields.items() if spec.required}
    assert set(schema["required"]) == (set() if schema_name.endswith("Update") else required)
    for name, spec in fields.items():
        prop = schema["properties"][name]
        takes_null = "null" in _types(prop) or None in prop.get("enum", [])
        assert takes_null == (spec.nullable and not spec.required), f"{schema_name}.{name}: null"
        if spec.kind == "choice":
            assert set(prop["enum"]) - {None} == set(spec.choices), f"{schema_name}.{name}"
        else:
            assert JSON_TYPES[spec.kind] in _types(prop), f"{schema_name}.{name}: type"
        if spec.kind == "choices":
            assert set(prop["items"]["enum"]) == set(spec.choices), f"{schema_name}.{name}"
        if spec.kind in ("text", "id", "email", "phone"):
            assert prop["maxLength"] == spec.max_length, f"{schema_name}.{name}: maxLength"


LIST_TABLES = [
    ("Company", "contacts.schemas", "COMPANY_FILTERABLE", "COMPANY_SORTABLE", "/companies"),
    ("Contact", "contacts.schemas", "CONTACT_FILTERABLE", "CONTACT_SORTABLE", "/contacts"),
    ("Deal", "sales.schemas", "DEAL_FILTERABLE", "DEAL_SORTABLE", "/deals"),
    ("Ticket", "service_desk.schemas", "TICKET_FILTERABLE", "TICKET_SORTABLE", "/tickets"),
    ("User", "gateway.identity.directory", "USER_FILTERABLE", None, "/users"),
]


@pytest.mark.parametrize("item,module,filterable,sortable,path", LIST_TABLES)
def test_filter_and_sort_fields_match_the_services(document, item, module, filterable, sortable, path):
    names = document["components"]["schemas"][f"{item}Filter"]["propertyNames"]
    enum = set((names["anyOf"][0] if "anyOf" in names else names)["enum"]) - {"and", "or", "not"}
    expected = set(_table(module, filterable))
    assert enum | ({"custom_fields."} if "anyOf" in names else set()) == expected
    if sortable:
        sort = next(p for p in document["paths"][path]["get"]["parameters"] if p.get("name") == "sort")
        documented = re.match(r"\^-\?\(([^)]*)\)", sort["schema"]["pattern"]).group(1).split("|")
        assert set(documented) == set(_table(module, sortable))


def test_enumerated_path_and_query_values_match_the_app(document):
    service = document["paths"]["/dead-letters/{service}"]["parameters"][0]
    assert set(service["schema"]["enum"]) == set(SERVICES_WITH_DEAD_LETTERS)
    timeline = document["paths"]["/contacts/{id}/timeline"]["get"]["parameters"]
    kinds = next(p for p in timeline if p.get("name") == "kind")["schema"]["items"]["enum"]
    assert set(kinds) == set(_table("contacts.schemas", "TIMELINE_KINDS"))


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
