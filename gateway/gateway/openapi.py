"""The OpenAPI 3.1 document of /api/v1: the contract clients are written against."""

import functools
import html

FILTER_GRAMMAR = """A JSON object, URL-encoded:
  filter    := {"and": [filter, ...]} | {"or": [filter, ...]} | {"not": filter}
             | {field: value} | {field: {op: value, ...}}
  op        := eq | ne | gt | gte | lt | lte | in | nin | contains | exists
  field     := a field name, or a dotted path into custom_fields (custom_fields.region)
Values are JSON scalars (lists for in / nin, true/false for exists). `contains` is element membership
for lists (tags) and a case-insensitive substring for text. Keys starting with `$` are refused.
Example: {"and": [{"lifecycle_stage": {"in": ["lead", "customer"]}}, {"not": {"tags": {"contains": "vip"}}}]}"""


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(status: str, description: str) -> tuple[str, dict]:
    return status, {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


ERRORS = dict(
    [
        _problem("400", "Malformed request (bad JSON, bad cursor, bad filter)"),
        _problem("404", "Not found, or not visible to the caller"),
        _problem("413", "Body larger than the limit"),
        _problem("422", "Validation failed; `errors` lists each field"),
        _problem("503", "A service or the broker is unavailable; retry after Retry-After"),
    ]
)


def _json(schema: dict, description: str = "OK", headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _page(item: str) -> dict:
    return {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {"data": {"type": "array", "items": _ref(item)}, "next_cursor": {"type": ["string", "null"]}},
    }


ETAG = {"ETag": {"schema": {"type": "string"}, "description": "The resource version; send it in If-Match"}}
LOCATION = {"Location": {"schema": {"type": "string"}}}
LIST_PARAMS = [
    {"$ref": "#/components/parameters/limit"},
    {"$ref": "#/components/parameters/cursor"},
    {"$ref": "#/components/parameters/sort"},
    {"$ref": "#/components/parameters/filter"},
]
STALE = dict([_problem("412", "If-Match does not name the current version")])
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _collection(tag: str, item: str, create: str | None) -> dict:
    ops = {
        "get": {
            "tags": [tag],
            "summary": f"List {tag}",
            "parameters": LIST_PARAMS,
            "description": "Any other query parameter is an equality filter on that field.",
            "responses": {"200": _json(_page(item)), **ERRORS},
        }
    }
    if create:
        ops["post"] = {
            "tags": [tag],
            "summary": f"Create a {item.lower()}",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(create)}}},
            "responses": {"201": _json(_ref(item), "Created", {**ETAG, **LOCATION}), **ERRORS},
        }
    return ops


def _item(tag: str, item: str) -> dict:
    return {
        "get": {
            "tags": [tag],
            "summary": f"Get a {item.lower()}",
            "parameters": [ID_PARAM],
            "responses": {"200": _json(_ref(item), headers=ETAG), **ERRORS},
        }
    }


def _timeline(tag: str, subject: str) -> dict:
    parameters = [ID_PARAM] + [{"$ref": f"#/components/parameters/{name}"} for name in ("limit", "cursor", "kind")]
    return {
        "get": {
            "tags": [tag],
            "summary": f"The {subject}'s 360-degree timeline, newest first",
            "parameters": parameters,
            "responses": {"200": _json(_page("TimelineEntry")), **ERRORS},
        }
    }


def _obj(required: list[str], **props: dict) -> dict:
    return {"type": "object", "required": required, "properties": props}


S = {"type": "string"}
NS = {"type": ["string", "null"]}
TS = {"type": "string", "format": "date-time"}
MONEY = {"type": "string", "pattern": r"^\d+(\.\d+)?$", "description": "decimal string, never a float"}

CONTACT_INPUT = _obj(
    [],
    first_name=NS,
    last_name=NS,
    email={"type": ["string", "null"], "format": "email"},
    phone=NS,
    company_id=NS,
    owner_id=NS,
    lifecycle_stage={
        "enum": [
            "subscriber",
            "lead",
            "marketing_qualified",
            "sales_qualified",
            "opportunity",
            "customer",
            "loyal",
            "churned",
        ]
    },
    tags={"type": "array", "items": S},
    custom_fields={"type": "object"},
)
CONTACT_INPUT["additionalProperties"] = False
COMPANY_INPUT = _obj(["name"], name=S, tax_id=NS, industry=NS, size=NS, owner_id=NS, custom_fields={"type": "object"})
COMPANY_INPUT["additionalProperties"] = False
DEAL_INPUT = _obj(
    ["title", "amount", "currency", "contact_id"],
    title=S,
    amount=MONEY,
    currency=S,
    pipeline_id=NS,
    stage_id=NS,
    contact_id=S,
    company_id=NS,
    owner_id=NS,
    expected_close_date={"type": ["string", "null"], "format": "date"},
)
DEAL_INPUT["additionalProperties"] = False
TICKET_INPUT = _obj(
    ["subject", "contact_id"],
    subject=S,
    description=S,
    kind={"enum": ["inquiry", "incident", "complaint", "request"]},
    priority={"enum": ["low", "normal", "high", "urgent"]},
    channel={"enum": ["email", "phone", "chat", "web", "social", "visit"]},
    contact_id=S,
    company_id=NS,
    assignee_id=NS,
    team_id=NS,
)
TICKET_INPUT["additionalProperties"] = False
SERVER = dict(id=S, version={"type": "integer"}, created_at=TS, updated_at=TS)


@functools.cache
def openapi_document() -> dict:
    paths = {
        "/companies": _collection("companies", "Company", "CompanyInput"),
        "/companies/{id}": _item("companies", "Company"),
        "/companies/{id}/timeline": _timeline("companies", "company"),
        "/contacts": _collection("contacts", "Contact", "ContactInput"),
        "/contacts/{id}": {
            **_item("contacts", "Contact"),
            "patch": {
                "tags": ["contacts"],
                "summary": "Change some fields of a contact",
                "parameters": [ID_PARAM, {"$ref": "#/components/parameters/ifMatch"}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ContactInput")}}},
                "responses": {
                    "200": _json(_ref("Contact"), headers=ETAG),
                    **STALE,
                    **ERRORS,
                },
            },
            "delete": {
                "tags": ["contacts"],
                "summary": "Delete a contact (its timeline is kept)",
                "parameters": [ID_PARAM, {"$ref": "#/components/parameters/ifMatch"}],
                "responses": {
                    "204": {"description": "Deleted"},
                    **STALE,
                    **ERRORS,
                },
            },
        },
        "/contacts/{id}/timeline": _timeline("contacts", "contact"),
        "/pipelines": {
            "get": {
                "tags": ["sales"],
                "summary": "Pipelines with their stages",
                "responses": {"200": _json(_page("Pipeline")), **ERRORS},
            }
        },
        "/pipelines/{id}": _item("sales", "Pipeline"),
        "/deals": _collection("sales", "Deal", "DealInput"),
        "/deals/{id}": _item("sales", "Deal"),
        "/tickets": _collection("service desk", "Ticket", "TicketInput"),
        "/tickets/{id}": _item("service desk", "Ticket"),
        "/notifications": {
            "get": {
                "tags": ["notifications"],
                "summary": "The caller's in-app inbox, newest first",
                "parameters": [
                    {"$ref": "#/components/parameters/limit"},
                    {"$ref": "#/components/parameters/cursor"},
                    {"name": "unread", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {"200": _json(_page("Notification")), **ERRORS},
            }
        },
        "/search": {
            "get": {
                "tags": ["search"],
                "summary": "One box over every entity",
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "schema": S},
                    {
                        "name": "types",
                        "in": "query",
                        "schema": S,
                        "description": "comma-separated: contact, company, deal, ticket",
                    },
                    {"$ref": "#/components/parameters/limit"},
                    {"$ref": "#/components/parameters/cursor"},
                ],
                "responses": {"200": _json(_ref("SearchResponse")), **ERRORS},
            }
        },
        "/dead-letters/{service}": {
            "get": {
                "tags": ["operations"],
                "summary": "Events a service parked after its retry cap",
                "parameters": [{"name": "service", "in": "path", "required": True, "schema": S}],
                "responses": {"200": _json(_page("DeadLetter")), **ERRORS},
            }
        },
        "/dead-letters/{service}/{failure_id}/replay": {
            "post": {
                "tags": ["operations"],
                "summary": "Retry a dead-lettered event now",
                "parameters": [
                    {"name": "service", "in": "path", "required": True, "schema": S},
                    {"name": "failure_id", "in": "path", "required": True, "schema": S},
                ],
                "responses": {"202": _json(_ref("DeadLetter"), "Queued for retry"), **ERRORS},
            }
        },
        "/ping": {
            "get": {
                "tags": ["operations"],
                "summary": "Answers without calling any service",
                "responses": {"200": _json(_obj(["status"], status=S, api=S))},
            }
        },
    }
    schemas = {
        "Problem": _obj(
            ["type", "title", "status"],
            type=S,
            title=S,
            status={"type": "integer"},
            detail=S,
            instance=S,
            errors={"type": "array", "items": _obj(["field", "message"], field=S, message=S)},
            matches={"type": "array", "items": {"type": "object"}},
        ),
        "ContactInput": CONTACT_INPUT,
        "CompanyInput": COMPANY_INPUT,
        "DealInput": DEAL_INPUT,
        "TicketInput": TICKET_INPUT,
        "Contact": {
            "allOf": [
                CONTACT_INPUT | {"additionalProperties": True},
                _obj(["id", "version"], **SERVER, value_grade=NS, churn_risk=NS),
            ]
        },
        "Company": {"allOf": [COMPANY_INPUT | {"additionalProperties": True}, _obj(["id", "version"], **SERVER)]},
        "Deal": {
            "allOf": [
                DEAL_INPUT | {"additionalProperties": True},
                _obj(["id", "version", "status"], **SERVER, status={"enum": ["open", "won", "lost"]}, lost_reason=NS),
            ]
        },
        "Ticket": {
            "allOf": [
                TICKET_INPUT | {"additionalProperties": True},
                _obj(
                    ["id", "version", "status"],
                    **SERVER,
                    status=S,
                    breached={"type": "boolean"},
                    first_response_due_at=TS,
                    resolution_due_at=TS,
                ),
            ]
        },
        "Pipeline": _obj(
            ["id", "name", "stages"],
            id=S,
            name=S,
            stages={
                "type": "array",
                "items": _obj(
                    ["id", "name", "probability"],
                    id=S,
                    name=S,
                    probability={"type": "integer", "minimum": 0, "maximum": 100},
                ),
            },
        ),
        "TimelineEntry": _obj(
            ["id", "kind", "occurred_at", "source", "summary", "ref"],
            id=S,
            kind=S,
            occurred_at=TS,
            source=S,
            summary=S,
            ref=_obj(["type", "id"], type=S, id=S),
        ),
        "Notification": _obj(
            ["id", "title", "read", "created_at"],
            id=S,
            recipient_id=S,
            channel=S,
            title=S,
            body=S,
            read={"type": "boolean"},
            created_at=TS,
            ref=_obj(["type", "id"], type=S, id=S),
        ),
        "SearchResponse": _obj(
            ["data", "facets", "total", "next_cursor"],
            data={
                "type": "array",
                "items": _obj(
                    ["type", "id", "title", "highlights", "score"],
                    type=S,
                    id=S,
                    title=S,
                    score={"type": "number"},
                    highlights={"type": "array", "items": S},
                ),
            },
            facets={"type": "object"},
            total={"type": "integer"},
            next_cursor=NS,
        ),
        "DeadLetter": _obj(
            ["id", "event_id", "handler", "attempts", "status"],
            id=S,
            event_id=NS,
            handler=S,
            attempts={"type": "integer"},
            status={"enum": ["retrying", "dead"]},
            last_error=S,
            event={"type": "object"},
        ),
    }
    parameters = {
        "limit": {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        },
        "cursor": {"name": "cursor", "in": "query", "schema": S, "description": "Opaque; from next_cursor"},
        "sort": {
            "name": "sort",
            "in": "query",
            "schema": S,
            "description": "Comma-separated fields, `-` for descending: -created_at,last_name",
        },
        "filter": {"name": "filter", "in": "query", "schema": S, "description": FILTER_GRAMMAR},
        "kind": {"name": "kind", "in": "query", "schema": S, "description": "Comma-separated timeline kinds"},
        "ifMatch": {
            "name": "If-Match",
            "in": "header",
            "schema": S,
            "description": "The ETag last seen; 412 if it changed",
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CRM platform API",
            "version": "1.0.0",
            "description": "Every response carries X-Request-ID. Errors are application/problem+json (RFC 9457).",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": schemas, "parameters": parameters},
    }


def docs_page(spec_url: str) -> str:
    """A dependency-free page listing every operation of the document."""
    rows = []
    for path, ops in openapi_document()["paths"].items():
        for verb, op in ops.items():
            rows.append(
                f"<tr><td><code>{verb.upper()}</code></td><td><code>/api/v1{html.escape(path)}</code></td>"
                f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
            )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>CRM API</title>"
        "<style>body{font:14px system-ui;margin:2rem}td{padding:.2rem .8rem;border-bottom:1px solid #ddd}</style>"
        f"<h1>CRM platform API v1</h1><p>Machine-readable: <a href='{html.escape(spec_url)}'>openapi.json</a></p>"
        f"<table>{''.join(rows)}</table><h2>Filter grammar</h2><pre>{html.escape(FILTER_GRAMMAR)}</pre></html>"
    )
