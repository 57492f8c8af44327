"""The gateway app on its own (an in-memory RPC pool): its OpenAPI document and error mapping."""

import inspect
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from crm_common.errors import Conflict, NotFound, ServiceUnavailable
from crm_common.listing import API_OPERATORS
from crm_common.search_index import FACETABLE
from gateway.api import HISTORIED, RESOURCES, SERVICES_WITH_DEAD_LETTERS
from gateway.auth import PUBLIC_ENDPOINTS
from gateway.openapi import LISTS, METHODS, openapi_document, render
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
    filters = set()
    for path, method, operation in _operations(document):
        for param in operation.get("parameters", []):
            if param.get("name") != "filter":
                continue
            grammar = param["description"]
            if path == "/search":  # the index's own grammar: field -> value or list, over its keyword fields
                assert all(field in grammar for field in FACETABLE), grammar
                continue
            assert all(word in grammar for word in ('"and"', '"or"', '"not"', "custom_fields.", *API_OPERATORS))
            schema = param["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            assert schema.endswith("Filter"), f"{method} {path}"
            filters.add(schema)
    assert filters == {f"{item}Filter" for item in LISTS}  # each list's grammar is used by some list


def test_the_committed_document_is_current():
    if not COMMITTED.exists() or COMMITTED.read_text(encoding="utf-8") != render():
        pytest.fail("gateway/openapi.json differs from gateway.openapi.openapi_document(): run `make openapi`")
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == openapi_document()


# The request bodies and list parameters of the document against the field tables the services and
# the identity directory validate with: a field added to a service and not to the document fails here.


# (schema, module, table: a name in the module or a function answering the fields)
BODIES = [
    ("CompanyInput", "contacts.schemas", "COMPANY_FIELDS"),
    ("CompanyUpdate", "contacts.schemas", "COMPANY_FIELDS"),
    ("ContactInput", "contacts.schemas", "CONTACT_FIELDS"),
    ("ContactUpdate", "contacts.schemas", "CONTACT_FIELDS"),
    ("InteractionInput", "contacts.schemas", "INTERACTION_FIELDS"),
    ("InteractionUpdate", "contacts.schemas", "INTERACTION_UPDATABLE"),
    ("CustomFieldInput", "contacts.schemas", "CUSTOM_FIELD_DEFINITION"),
    ("CustomFieldUpdate", "contacts.schemas", "CUSTOM_FIELD_UPDATE"),
    ("PipelineInput", "sales.schemas", "PIPELINE_FIELDS"),
    ("PipelineUpdate", "sales.schemas", "PIPELINE_FIELDS"),
    ("DealInput", "sales.schemas", "DEAL_FIELDS"),
    ("DealUpdate", "sales.schemas", "DEAL_UPDATE_FIELDS"),
    ("TaskInput", "sales.schemas", "TASK_FIELDS"),
    ("QuotaInput", "sales.schemas", "QUOTA_FIELDS"),
    ("QuotaUpdate", "sales.schemas", "QUOTA_UPDATE_FIELDS"),
    ("LeadScoringRuleInput", "sales.lead_scoring", "RULE_FIELDS"),
    ("LeadScoringRuleUpdate", "sales.lead_scoring", "RULE_FIELDS"),
    ("TaskUpdate", "sales.schemas", "TASK_FIELDS"),
    ("TicketInput", "service_desk.schemas", "TICKET_FIELDS"),
    ("TicketUpdate", "service_desk.schemas", "TICKET_UPDATE_FIELDS"),
    ("TicketCommentInput", "service_desk.schemas", "COMMENT_FIELDS"),
    ("TicketMergeRequest", "service_desk.schemas", "MERGE_FIELDS"),
    ("SatisfactionInput", "service_desk.satisfaction", "SATISFACTION_FIELDS"),
    ("ServiceTeamInput", "service_desk.roster", "TEAM_FIELDS"),
    ("UserInput", "gateway.identity.directory", "USER_FIELDS"),
    ("UserUpdate", "gateway.identity.directory", "USER_FIELDS"),
    ("TeamInput", "gateway.identity.directory", "TEAM_FIELDS"),
    ("TeamUpdate", "gateway.identity.directory", "TEAM_FIELDS"),
    ("ApiKeyInput", "gateway.identity.directory", "API_KEY_FIELDS"),
    ("ErasureRequest", "contacts.personal_data", "ERASE_FIELDS"),
    ("NotificationTemplateInput", "notifications.templates", "TEMPLATE_FIELDS"),
    ("NotificationTemplateUpdate", "notifications.templates", "TEMPLATE_FIELDS"),
    ("CampaignInput", "notifications.campaigns", "CAMPAIGN_FIELDS"),
    ("CampaignUpdate", "notifications.campaigns", "CAMPAIGN_FIELDS"),
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
    "number": "number",
    "tags": "array",
    "ids": "array",
    "choices": "array",
    "emails": "array",
    "phones": "array",
    "records": "array",
    "object": "object",
}


def _table(module: str, name: str):
    return getattr(pytest.importorskip(module), name)


def _types(schema: dict) -> set:
    kinds = schema.get("type", [])
    return {kinds} if isinstance(kinds, str) else set(kinds)


def _check_fields(where: str, schema: dict, fields: dict, required: set) -> None:
    """`schema` is a closed object of exactly `fields`, each with its type, null, lengths and items."""
    assert schema["additionalProperties"] is False, where
    assert set(schema["properties"]) == set(fields), where
    assert set(schema["required"]) == required, where
    for name, spec in fields.items():
        prop, at = schema["properties"][name], f"{where}.{name}"
        takes_null = "null" in _types(prop) or None in prop.get("enum", [])
        assert takes_null == (spec.nullable and not spec.required), f"{at}: null"
        if spec.kind == "choice":
            assert set(prop["enum"]) - {None} == set(spec.choices), at
        else:
            assert JSON_TYPES[spec.kind] in _types(prop), f"{at}: type"
        if spec.kind == "choices":
            assert set(prop["items"]["enum"]) == set(spec.choices), at
        if spec.kind in ("text", "id", "email", "phone"):
            assert prop["maxLength"] == spec.max_length, f"{at}: maxLength"
        if spec.kind in ("emails", "phones", "records"):
            assert prop["maxItems"] == spec.max_items, f"{at}: maxItems"
        if spec.kind in ("emails", "phones"):
            item = prop["items"]
            assert item["maxLength"] == spec.max_length and _types(item) == {"string"}, f"{at}: items"
        if spec.kind == "records":
            inner = {n for n, s in spec.fields.items() if s.required}
            _check_fields(f"{at}[]", prop["items"], spec.fields, inner)


@pytest.mark.parametrize(
    "schema_name,module,table", BODIES, ids=lambda value: value.__name__ if callable(value) else None
)
def test_request_bodies_match_the_fields_the_services_accept(document, schema_name, module, table):
    fields = table() if callable(table) else _table(module, table)
    required = set() if schema_name.endswith("Update") else {name for name, spec in fields.items() if spec.required}
    _check_fields(schema_name, document["components"]["schemas"][schema_name], fields, required)


def _held(item: str) -> set:
    """The fields of a record as its service builds it (the store adds `version`)."""
    schemas = pytest.importorskip("contacts.schemas")
    domain = pytest.importorskip("contacts.domain")
    now = "2024-05-01T00:00:00.000000Z"
    if item == "Company":
        return set(domain.new_company({"name": "Acme"}, "u1", now))
    if item == "Contact":
        return set(domain.new_contact({"first_name": "Ada"}, "u1", now))
    if item == "Interaction":
        return {*schemas.INTERACTION_FIELDS, *schemas.INTERACTION_SERVER_OWNED}
    return {*schemas.CUSTOM_FIELD_DEFINITION, *schemas.CUSTOM_FIELD_SERVER_OWNED, "active"}


@pytest.mark.parametrize("item", ["Company", "Contact", "Interaction", "CustomField"])
def test_answers_document_every_field_a_record_holds(document, item):
    """Every field of a record as the service answers it is documented, and none required that it may lack."""
    held = _held(item) | {"version"}
    schema = document["components"]["schemas"][item]
    assert sorted(held - set(schema["properties"])) == [], "held but not documented"
    assert sorted(set(schema["required"]) - held) == [], "required but not held"


LIST_TABLES = [
    ("Company", "contacts.schemas", "COMPANY_FILTERABLE", "COMPANY_SORTABLE", "/companies"),
    ("Contact", "contacts.schemas", "CONTACT_FILTERABLE", "CONTACT_SORTABLE", "/contacts"),
    ("Deal", "sales.schemas", "DEAL_FILTERABLE", "DEAL_SORTABLE", "/deals"),
    ("Task", "sales.schemas", "TASK_FILTERABLE", "TASK_SORTABLE", "/tasks"),
    ("Quota", "sales.schemas", "QUOTA_FILTERABLE", "QUOTA_SORTABLE", "/quotas"),
    ("LeadScoringRule", "sales.lead_scoring", "RULE_FILTERABLE", "RULE_SORTABLE", "/lead-scoring-rules"),
    ("Pipeline", "sales.schemas", "PIPELINE_FILTERABLE", "PIPELINE_SORTABLE", "/pipelines"),
    ("Ticket", "service_desk.schemas", "TICKET_FILTERABLE", "TICKET_SORTABLE", "/tickets"),
    ("TicketComment", "service_desk.schemas", "COMMENT_FILTERABLE", None, "/tickets/{id}/comments"),
    ("SlaPolicy", "service_desk.sla_policies", "POLICY_FILTERABLE", "POLICY_SORTABLE", "/sla-policies"),
    ("BusinessCalendar", "service_desk.calendars", "CALENDAR_FILTERABLE", "CALENDAR_SORTABLE", "/business-calendars"),
    ("ServiceTeam", "service_desk.roster", "TEAM_FILTERABLE", "TEAM_SORTABLE", "/service-teams"),
    ("Interaction", "contacts.schemas", "INTERACTION_FILTERABLE", "INTERACTION_SORTABLE", "/interactions"),
    ("User", "gateway.identity.directory", "USER_FILTERABLE", None, "/users"),
    ("NotificationTemplate", "notifications.templates", "FILTERABLE", "SORTABLE", "/notification-templates"),
    ("Webhook", "notifications.webhooks", "WEBHOOK_FILTERABLE", "WEBHOOK_SORTABLE", "/webhooks"),
    ("Delivery", "notifications.dispatch", "FILTERABLE", "SORTABLE", "/deliveries"),
    ("Campaign", "notifications.campaigns", "FILTERABLE", "SORTABLE", "/campaigns"),
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


# Bodies the services check by hand (nested lists and objects): the document names exactly their fields.
NESTED_BODIES = [
    ("SlaPolicyInput", "service_desk.sla_policies", lambda m: m.POLICY_FIELDS, {"name", "targets"}),
    ("SlaPolicyUpdate", "service_desk.sla_policies", lambda m: m.POLICY_FIELDS, set()),
    (
        "BusinessCalendarInput",
        "service_desk.calendars",
        lambda m: (*m.CALENDAR_FIELDS, *m.NESTED_FIELDS),
        {"name", "time_zone", "working_hours"},
    ),
    ("BusinessCalendarUpdate", "service_desk.calendars", lambda m: (*m.CALENDAR_FIELDS, *m.NESTED_FIELDS), set()),
    # `filters` (dotted paths into the payload) is checked by hand beside the plain fields.
    ("WebhookInput", "notifications.webhook_rules", lambda m: (*m.WEBHOOK_FIELDS, "filters"), {"url", "event_types"}),
    ("WebhookUpdate", "notifications.webhook_rules", lambda m: (*m.WEBHOOK_FIELDS, "filters"), set()),
]


@pytest.mark.parametrize("schema_name,module,names,required", NESTED_BODIES, ids=[row[0] for row in NESTED_BODIES])
def test_hand_checked_bodies_name_the_fields_the_services_accept(document, schema_name, module, names, required):
    schema = document["components"]["schemas"][schema_name]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(names(pytest.importorskip(module)))
    assert set(schema["required"]) == required


def test_service_desk_answers_and_vocabularies_match_the_service(document):
    domain = pytest.importorskip("service_desk.domain")
    schemas = document["components"]["schemas"]
    held = set(domain.new_ticket({"subject": "s", "contact_id": "c1"}, "u1", datetime(2026, 1, 1, tzinfo=UTC)))
    held |= {"version"}
    assert sorted(held - set(schemas["Ticket"]["properties"])) == [], "held but not documented"
    assert sorted(set(schemas["Ticket"]["required"]) - held) == [], "required but not held"
    assert set(schemas["Ticket"]["properties"]["status"]["enum"]) == set(domain.STATUSES)
    assert set(schemas["TicketUpdate"]["properties"]["status"]["enum"]) == set(domain.STATUSES)
    satisfaction = pytest.importorskip("service_desk.satisfaction")
    view = satisfaction.satisfaction_view({"id": "k1", "satisfaction": None})
    assert set(schemas["Satisfaction"]["required"]) == set(view) == set(schemas["Satisfaction"]["properties"])
    reporting = pytest.importorskip("service_desk.reporting")
    params = {p["name"]: p["schema"] for p in document["paths"]["/reports/service"]["get"]["parameters"]}
    assert set(params) == set(reporting.PARAMS)
    assert set(params["group_by"]["enum"]) == set(reporting.GROUPINGS)
    assert set(params["period"]["enum"]) == set(reporting.PERIODS)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    answer = reporting.service_report(reporting.parse_service_query({}, moment.date()), [], [], moment)
    report, totals = schemas["ServiceReport"], schemas["ServiceReport"]["properties"]["totals"]
    assert set(report["required"]) == set(answer) and set(totals["required"]) == set(answer["totals"])
    by_status = totals["properties"]["backlog"]["properties"]["by_status"]
    assert set(by_status["required"]) == set(answer["totals"]["backlog"]["by_status"])
    roster = pytest.importorskip("service_desk.roster")
    team = {"id": "t1", **roster.roster_fields({"assignment": "manual"}), "last_assigned_user_id": None}
    assert set(schemas["ServiceTeam"]["required"]) == {*team, "version", "updated_at"}


def test_notifications_answers_and_vocabularies_match_the_service(document):
    schemas = document["components"]["schemas"]
    deliveries = pytest.importorskip("notifications.delivery_rules")
    webhooks = pytest.importorskip("notifications.webhook_rules")
    campaigns = pytest.importorskip("notifications.campaigns")
    templates = pytest.importorskip("notifications.templates")
    now = "2026-01-01T00:00:00.000000Z"
    delivery = deliveries.new_delivery(channel="email", to="a@b.test", dedupe_key="k", kind="greeting", created_at=now)
    webhook = webhooks.public(webhooks.new_webhook({"url": "http://h.test", "event_types": []}, "u1", now))
    campaign = {**campaigns.checked_campaign({"name": "n", "kind": "birthday", "segment_id": "s1"}), "id": "c1"}
    campaign.update(created_by="u1", created_at=now, updated_at=now)
    template = {*templates.TEMPLATE_FIELDS, *templates.SERVER_OWNED}
    for item, held in (("Delivery", set(delivery)), ("Webhook", set(webhook)), ("Campaign", set(campaign))):
        held |= {"version"}
        assert sorted(held - set(schemas[item]["properties"])) == [], f"{item}: held but not documented"
        assert sorted(set(schemas[item]["required"]) - held) == [], f"{item}: required but not held"
    assert set(schemas["NotificationTemplate"]["properties"]) == template
    assert "secret" in webhooks.new_webhook({"url": "u", "event_types": []}, "u1", now)
    assert set(schemas["Delivery"]["properties"]["status"]["enum"]) == set(deliveries.STATUSES)
    assert set(schemas["Delivery"]["properties"]["channel"]["enum"]) == set(deliveries.CHANNELS)
    assert set(schemas["WebhookInput"]["properties"]["event_types"]["items"]["enum"]) == set(webhooks.CATALOG)


def test_enumerated_path_and_query_values_match_the_app(document):
    service = document["paths"]["/dead-letters/{service}"]["parameters"][0]
    assert set(service["schema"]["enum"]) == set(SERVICES_WITH_DEAD_LETTERS)
    timeline = document["paths"]["/contacts/{id}/timeline"]["get"]["parameters"]
    kinds = next(p for p in timeline if p.get("name") == "kind")["schema"]["items"]["enum"]
    assert set(kinds) == set(_table("contacts.schemas", "TIMELINE_KINDS"))
    entities = document["paths"]["/custom-fields"]["get"]["parameters"]
    entities = next(p for p in entities if p.get("name") == "entity")["schema"]["enum"]
    assert set(entities) == set(_table("contacts.schemas", "CUSTOM_FIELD_ENTITIES"))
    contact = document["components"]["schemas"]["Contact"]["properties"]
    assert set(contact["value_grade"]["enum"]) == {*_table("contacts.schemas", "VALUE_GRADES"), None}
    assert set(contact["churn_risk"]["enum"]) == {*_table("contacts.schemas", "CHURN_LEVELS"), None}


def test_as_of_is_documented_where_the_gateway_forwards_it(document):
    for path, (_, noun, _, _) in RESOURCES.items():
        params = document["paths"][f"/{path}/{{id}}"]["get"].get("parameters", [])
        assert any(p.get("name") == "as_of" for p in params) == (noun in HISTORIED), path
    for subject in ("contacts", "companies"):
        params = document["paths"][f"/{subject}/{{id}}/timeline"]["get"]["parameters"]
        assert any(p.get("name") == "as_of" for p in params), subject


def test_as_of_is_forwarded_for_customers_only(client, rpc):
    rpc.answers[("contacts", "get_contact")] = {"id": "c1", "version": 2}
    rpc.answers[("contacts", "get_interaction")] = {"id": "i1", "version": 1}
    assert client.get("/api/v1/contacts/c1?as_of=2024-05-01").status_code == 200
    assert client.get("/api/v1/interactions/i1?as_of=2024-05-01").status_code == 200
    assert [call[3] for call in rpc.calls] == [{"contact_id": "c1", "as_of": "2024-05-01"}, {"interaction_id": "i1"}]


@pytest.mark.parametrize("path", sorted(RESOURCES))
def test_the_generic_routes_call_the_services_with_their_parameter_names(path):
    """The RESOURCES table and the RPC methods it calls (`<noun>_id`, `data`, `query`, ...) agree."""
    service, noun, plural, deletable = RESOURCES[path]
    key = f"{noun}_id"
    module = pytest.importorskip(f"{service}.service")
    cls = next(v for v in vars(module).values() if isinstance(v, type) and getattr(v, "name", None) == service)
    calls = {
        f"create_{noun}": {"data"},
        f"list_{plural}": {"query"},
        f"get_{noun}": {key, *(["as_of"] if noun in HISTORIED else [])},
        f"update_{noun}": {key, "data", "expected_version"},
    }
    if deletable:
        calls[f"delete_{noun}"] = {key, "expected_version"}
    for method, names in calls.items():
        taken = set(inspect.signature(getattr(cls, method)).parameters) - {"self"}
        assert names <= taken, f"{service}.{method}({', '.join(sorted(taken))}) is called with {sorted(names)}"


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
