"""The OpenAPI 3.1 document of /api/v1: the contract clients are written against.

`python -m gateway.openapi [PATH]` prints it (or writes it to PATH) as committed in
gateway/openapi.json: sorted keys, 2-space indent. `make openapi` regenerates that file, and a test
fails when it differs from `openapi_document()`.
"""

import functools
import html
import json
import re
import sys

from crm_common.access import ROLES
from crm_common.listing import API_OPERATORS, DEFAULT_LIMIT, MAX_LIMIT

FILTER_GRAMMAR = """A JSON object, URL-encoded:
  filter    := {"and": [filter, ...]} | {"or": [filter, ...]} | {"not": filter}
             | {field: value} | {field: {op: value, ...}}
  op        := eq | ne | gt | gte | lt | lte | in | nin | contains | exists
  field     := a field name of the resource, or a dotted path into a nested object:
               custom fields are custom_fields.<key> (custom_fields.region)
Several keys in one object are ANDed. Values are JSON scalars (lists for in / nin, true/false for
exists). `contains` is element membership for lists (tags) and a case-insensitive substring for
text; in / nin compare a scalar field with a list. Fields that cannot be filtered on, unknown
operators and keys starting with `$` are a 400.
Example: {"and": [{"lifecycle_stage": {"in": ["lead", "customer"]}}, {"not": {"tags": {"contains": "vip"}}}]}"""

METHODS = ("get", "post", "patch", "delete")
# Endpoints that hand out secrets never store their answers, so they ignore Idempotency-Key.
IDEMPOTENCY_IGNORED = (
    "Ignored by POST /auth/token, /auth/refresh and /api-keys (their answers hold secrets and are never stored)."
)

# JSON Schema building blocks


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **props: dict) -> dict:
    return {"type": "object", "required": required, "properties": props}


def _closed(required: list[str], **props: dict) -> dict:
    """A request body: the services refuse unknown and server-owned fields with a 422."""
    return {**_obj(required, **props), "additionalProperties": False}


def _null(schema: dict) -> dict:
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    return {**schema, "type": [schema["type"], "null"]}


def _text(max_length: int = 200, *, nullable: bool = True, required: bool = False) -> dict:
    schema = {"type": "string", "maxLength": max_length}
    if required:
        return {**schema, "pattern": r"\S", "description": "must not be blank"}
    return _null(schema) if nullable else schema


def _list(items: dict, max_items: int) -> dict:
    return {"type": "array", "items": items, "maxItems": max_items}


def _page(item: str) -> dict:
    return _obj(["data", "next_cursor"], data={"type": "array", "items": _ref(item)}, next_cursor=NS)


def _record(fields: dict, **server: dict) -> dict:
    """A resource as answered: its writable fields (all present, null when unset) and the ones the
    server owns. `shared_with` may be missing on records written before it existed."""
    props = {**fields, **SERVER, **server}
    return _obj([name for name in props if name != "shared_with"], **props)


S = {"type": "string"}
NS = {"type": ["string", "null"]}
TS = {"type": "string", "format": "date-time"}
NTS = {"type": ["string", "null"], "format": "date-time"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
ID = _text(64)
IDS = _list({"type": "string", "minLength": 1, "maxLength": 64}, 500)
STRINGS = {"type": "array", "items": S}
EMAIL = {"type": "string", "format": "email", "maxLength": 254}
PHONE = {"type": ["string", "null"], "pattern": r"^\+?[0-9][0-9 ()\-.]{3,30}$", "maxLength": 40}
DECIMAL = {"type": "string", "pattern": r"^\d+(\.\d+)?$", "description": "a decimal string, never a float"}
MONEY = {"type": "string", "description": 'a decimal string such as "1234.50", never a float'}
SCALAR = {"type": ["string", "number", "boolean", "null"]}
CUSTOM_FIELDS = {
    "type": "object",
    "description": "Your own fields: keys are identifiers, values scalars or lists of scalars",
    "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
    "additionalProperties": {"anyOf": [SCALAR, {"type": "array", "items": {"type": ["string", "number", "boolean"]}}]},
}
REF = _obj(["type", "id"], type=S, id=S)
SERVER = dict(id=S, version=INT, created_at=TS, updated_at=TS)

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketing_qualified",
    "sales_qualified",
    "opportunity",
    "customer",
    "loyal",
    "churned",
)
CURRENCIES = ("CNY", "USD", "EUR", "GBP", "JPY", "HKD", "SGD")
TICKET_KINDS = ("inquiry", "incident", "complaint", "request")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "phone", "chat", "web", "social", "visit")
TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
TIMELINE_KINDS = ("contact", "company", "interaction", "deal", "order", "ticket", "message")
SEARCH_TYPES = ("contact", "company", "deal", "ticket")
DEAD_LETTER_SERVICES = ("contacts", "sales", "service_desk", "notifications", "search")

# Writable fields of each resource, as the owning service validates them.
COMPANY_FIELDS = dict(
    name=_text(required=True),
    tax_id=_text(64),
    industry=_text(100),
    size=_text(50),
    owner_id=ID,
    shared_with=IDS,
    custom_fields=CUSTOM_FIELDS,
)
CONTACT_FIELDS = dict(
    first_name=_text(100),
    last_name=_text(100),
    email=_null(EMAIL),
    phone=PHONE,
    company_id=ID,
    owner_id={**ID, "description": "null puts the customer in the shared pool"},
    shared_with=IDS,
    lifecycle_stage={"enum": list(LIFECYCLE_STAGES)},
    tags=_list({"type": "string", "minLength": 1, "maxLength": 50}, 50),
    custom_fields=CUSTOM_FIELDS,
)
DEAL_FIELDS = dict(
    title=_text(required=True),
    amount=DECIMAL,
    currency={"enum": list(CURRENCIES)},
    pipeline_id=ID,
    stage_id=ID,
    contact_id=_text(64, required=True),
    company_id=ID,
    owner_id={**_text(64, nullable=False), "description": "every deal has an owner: the creator unless given"},
    shared_with=IDS,
    expected_close_date={"type": ["string", "null"], "format": "date"},
)
DEAL_UPDATABLE = ("title", "amount", "currency", "stage_id", "expected_close_date", "owner_id", "shared_with")
TICKET_FIELDS = dict(
    subject=_text(required=True),
    description=_text(20000, nullable=False),
    kind={"enum": list(TICKET_KINDS)},
    priority={"enum": list(PRIORITIES)},
    channel={"enum": list(CHANNELS)},
    contact_id=_text(64, required=True),
    company_id=ID,
    assignee_id=ID,
    team_id=ID,
)
TICKET_UPDATABLE = ("subject", "description", "priority", "assignee_id", "team_id")
USER_FIELDS = dict(
    email=EMAIL,
    name=_text(required=True),
    password={"type": "string", "minLength": 12, "maxLength": 1024, "writeOnly": True},
    roles={"type": "array", "items": {"enum": list(ROLES)}, "minItems": 1},
    active=BOOL,
)
TEAM_FIELDS = dict(name=_text(required=True), member_ids=IDS, manager_ids=IDS)
RATE_LIMIT = _closed(["per_second", "burst"], per_second=DECIMAL, burst={"type": "integer", "minimum": 1})
API_KEY_FIELDS = dict(
    name=_text(required=True),
    role={"enum": list(ROLES)},
    user_id={**ID, "description": "the user the key acts for; default the admin who creates it"},
    rate_limit=_null(RATE_LIMIT),
)


def _subset(fields: dict, names: tuple[str, ...]) -> dict:
    return {name: fields[name] for name in names}


# A new contact needs a name or an email.
NAMED = [
    {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
    for name in ("first_name", "last_name", "email")
]

# Filters and sorting, per resource: item -> (fields that can be filtered on, fields that can be
# sorted by[, the default order when not -created_at]).
CUSTOM = "custom_fields."
LISTS = {
    "Company": ("name tax_id industry size owner_id shared_with created_at " + CUSTOM, "created_at updated_at name"),
    "Contact": (
        "first_name last_name email phone company_id owner_id shared_with lifecycle_stage tags created_at updated_at "
        "value_grade " + CUSTOM,
        "created_at updated_at last_name first_name email",
    ),
    "Deal": (
        "title pipeline_id stage_id status contact_id company_id owner_id shared_with currency expected_close_date "
        "created_at",
        "created_at updated_at expected_close_date title",
    ),
    "Ticket": (
        "kind priority status contact_id company_id assignee_id team_id contact_owner_id breached created_at",
        "created_at updated_at",
    ),
    "User": ("email name active roles created_at", "created_at email name"),
    "Team": ("name member_ids manager_ids", "created_at name", "name"),
    "ApiKey": ("user_id role revoked_at", "created_at name"),
}


def _listing(item: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    filterable, sortable, *default = LISTS[item]
    return tuple(filterable.split()), tuple(sortable.split()), default[0] if default else "-created_at"


def _filter_schema(item: str) -> dict:
    """The filter grammar as JSON Schema, with the resource's own field names."""
    fields, _, _ = _listing(item)
    names: dict = {"enum": [f for f in fields if f != CUSTOM] + ["and", "or", "not"]}
    if CUSTOM in fields:
        names = {"anyOf": [names, {"pattern": r"^custom_fields(\.[A-Za-z_][A-Za-z0-9_]*)+$"}]}
    operators = {op: SCALAR for op in API_OPERATORS}
    operators.update({"in": {"type": "array", "items": SCALAR}, "nin": {"type": "array", "items": SCALAR}})
    operators.update({"exists": BOOL, "contains": {"type": ["string", "number", "boolean"]}})
    nested = _ref(f"{item}Filter")
    return {
        "type": "object",
        "minProperties": 1,
        "propertyNames": names,
        "properties": {
            "and": {"type": "array", "items": nested, "minItems": 1},
            "or": {"type": "array", "items": nested, "minItems": 1},
            "not": nested,
        },
        "additionalProperties": {
            "anyOf": [
                SCALAR,
                {"type": "object", "minProperties": 1, "properties": operators, "additionalProperties": False},
            ]
        },
    }


# Parameters


def _param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _query(name: str, schema: dict, description: str | None = None, **extra) -> dict:
    param = {"name": name, "in": "query", "schema": schema, **extra}
    if description:
        param["description"] = description
    return param


def _csv(name: str, values: tuple[str, ...], description: str) -> dict:
    """A comma-separated list of known values: `?types=contact,deal`."""
    schema = {"type": "array", "items": {"enum": list(values)}, "uniqueItems": True}
    return _query(name, schema, description, style="form", explode=False)


def _list_params(item: str, *equality: dict) -> list[dict]:
    _, sortable, default = _listing(item)
    names = "|".join(sortable)
    sort = {"type": "string", "pattern": rf"^-?({names})(,-?({names}))*$", "default": default}
    filter_ = {
        "name": "filter",
        "in": "query",
        "description": FILTER_GRAMMAR,
        "content": {"application/json": {"schema": _ref(f"{item}Filter")}},
    }
    sort_doc = f"Comma-separated fields, `-` for descending; sortable: {', '.join(sortable)}"
    return [_param("limit"), _param("cursor"), _query("sort", sort, sort_doc), filter_, *equality]


def _equals(*names: str, **schemas: dict) -> list[dict]:
    """Equality parameters: `?owner_id=usr-1`, given once each."""
    params = [_query(name, S, f"Only those whose {name} equals this") for name in names]
    return params + [_query(name, schema, f"Only those whose {name} equals this") for name, schema in schemas.items()]


PATH_PARAMS = {
    "id": {"name": "id", "in": "path", "required": True, "schema": S},
    "service": {"name": "service", "in": "path", "required": True, "schema": {"enum": list(DEAD_LETTER_SERVICES)}},
    "failure_id": {"name": "failure_id", "in": "path", "required": True, "schema": S},
}

# Responses and their headers

HEADERS = {
    "X-Request-ID": ("The client's X-Request-ID when it is [A-Za-z0-9._:-]{1,128}, else a new one", S),
    "ETag": ("The resource version; send it in If-Match", S),
    "Location": ("The URL of the created resource", S),
    "Cache-Control": ("no-store: the answer holds a secret shown only once", S),
    "Idempotent-Replayed": ("true when this is the stored answer to an earlier request with the same key", S),
    "RateLimit-Limit": ("Requests the credential's bucket holds (its burst)", INT),
    "RateLimit-Remaining": ("Requests left in the bucket now", INT),
    "RateLimit-Reset": ("Seconds until the bucket is full again", INT),
    "RateLimit-Policy": ("The policy: `<burst>;w=<seconds to refill>`", S),
    "Retry-After": ("Seconds to wait before retrying", INT),
    "WWW-Authenticate": ('Bearer realm="crm"', S),
    "Allow": ("The methods the path answers", S),
}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


def _headers(*names: str) -> dict:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-ID", *names)}


# status -> (component name, description, extra headers)
PROBLEMS = {
    400: (
        "BadRequest",
        "Malformed: bad or empty JSON body, bad query parameter (limit, cursor, sort, filter), bad Idempotency-Key",
        (),
    ),
    401: (
        "Unauthorized",
        "No credential, or a missing, expired, tampered, revoked or `alg: none` token, "
        "an unknown or revoked API key, a deactivated user; or wrong sign-in details",
        ("WWW-Authenticate",),
    ),
    403: ("Forbidden", "The caller's role may not do this at all", ()),
    404: ("NotFound", "No such resource, or one the caller may not see (existence is never leaked)", ()),
    405: ("MethodNotAllowed", "The path does not answer this method", ("Allow",)),
    409: (
        "Conflict",
        "A duplicate (`matches` lists the records it collides with), a conflicting state, "
        "or the first request with this Idempotency-Key is still running",
        (),
    ),
    412: ("PreconditionFailed", "If-Match does not name the current version", ()),
    413: ("PayloadTooLarge", "The body is larger than the limit", ()),
    415: ("UnsupportedMediaType", "The body is not application/json", ()),
    422: (
        "ValidationFailed",
        "Validation failed; `errors` lists each field. Also: an Idempotency-Key reused with a different request",
        (),
    ),
    429: (
        "TooManyRequests",
        "Over the rate limit, or the account is locked after failed sign-ins; retry after Retry-After",
        ("Retry-After", *RATE_LIMIT_HEADERS),
    ),
    503: (
        "ServiceUnavailable",
        "A service, the broker or the gateway store is unavailable; retry after Retry-After",
        ("Retry-After",),
    ),
}


def _problem(status: int) -> dict:
    return {"$ref": f"#/components/responses/{PROBLEMS[status][0]}"}


def _json(schema: dict, description: str = "OK", headers: tuple[str, ...] = ()) -> dict:
    return {"description": description, "headers": headers, "content": {"application/json": {"schema": schema}}}


def _empty(description: str) -> dict:
    return {"description": description, "headers": ()}


def _operation(
    method: str,
    path: str,
    tag: str,
    summary: str,
    answers: dict[int, dict],
    *,
    errors: tuple[int, ...] = (),
    query: list[dict] | tuple = (),
    body: str | None = None,
    public: bool = False,
    rate_limited: bool = True,
    if_match: bool = True,
    idempotent: bool = True,
    description: str | None = None,
) -> tuple[str, str, dict]:
    """One operation with the API's conventions applied: path parameters answer 404, query
    parameters 400, bodies 400/413/415/422; POST takes Idempotency-Key, PATCH and DELETE If-Match;
    everything but the public operations needs a credential (401), is rate-limited (429) and may
    meet an unavailable service or store (503)."""
    statuses = set(errors)
    parameters = list(query)
    if "{" in path:
        statuses.add(404)
    if query:
        statuses.add(400)
    if body:
        statuses |= {400, 413, 415, 422}
    if method == "post":
        parameters.append(_param("idempotencyKey"))
        if idempotent:
            statuses |= {400, 409, 422}
    if method in ("patch", "delete") and if_match:
        parameters.append(_param("ifMatch"))
        statuses.add(412)
    if not public:
        statuses |= {401, 429, 503}
    extra = RATE_LIMIT_HEADERS if rate_limited else ()
    if method == "post" and idempotent:
        extra += ("Idempotent-Replayed",)
    responses = {str(status): {**ok, "headers": _headers(*ok["headers"], *extra)} for status, ok in answers.items()}
    responses.update({str(status): _problem(status) for status in sorted(statuses)})
    operation = {"tags": [tag], "summary": summary, "operationId": _operation_id(method, path)}
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    operation["responses"] = responses
    if public:
        operation["security"] = []
    return path, method, operation


def _operation_id(method: str, path: str) -> str:
    """`get /contacts/{id}/timeline` -> `get_contacts_id_timeline`."""
    return "_".join([method, *re.findall(r"[a-z0-9]+", path.replace("-", "_").replace("{", "").replace("}", ""))])


def _paths(*operations: tuple[str, str, dict]) -> dict:
    paths: dict = {}
    for path, method, operation in operations:
        item = paths.setdefault(path, {})
        names = re.findall(r"\{(\w+)\}", path)
        if names:
            item["parameters"] = [PATH_PARAMS[name] for name in names]
        item[method] = operation
    return paths


# Resources


def _collection(
    tag: str, path: str, item: str, create: str | None, equality: list[dict], create_errors: tuple[int, ...] = (403,)
) -> list:
    ops = [
        _operation(
            "get",
            path,
            tag,
            f"List {path.strip('/')}",
            {200: _json(_page(item))},
            query=_list_params(item, *equality),
            description="Newest first unless sorted; cursor-paged. The other query parameters documented here are "
            "equality filters on their field.",
        )
    ]
    if create:
        created = _json(_ref(item), "Created", ("ETag", "Location"))
        summary = f"Create a {item.lower()}"
        ops.append(_operation("post", path, tag, summary, {201: created}, body=create, errors=create_errors))
    return ops


def _item(
    tag: str,
    path: str,
    item: str,
    update: str | None = None,
    deletable: bool = False,
    write_errors: tuple[int, ...] = (403,),
) -> list:
    one = _json(_ref(item), headers=("ETag",))
    ops = [_operation("get", path, tag, f"Get a {item.lower()}", {200: one})]
    if update:
        summary = f"Change some fields of a {item.lower()}"
        ops.append(_operation("patch", path, tag, summary, {200: one}, body=update, errors=write_errors))
    if deletable:
        summary = f"Delete a {item.lower()}"
        ops.append(_operation("delete", path, tag, summary, {204: _empty("Deleted")}, errors=write_errors))
    return ops


def _timeline(tag: str, path: str, subject: str) -> tuple:
    query = [_param("limit"), _param("cursor"), _csv("kind", TIMELINE_KINDS, "Only entries of these kinds")]
    return _operation(
        "get",
        path,
        tag,
        f"The {subject}'s 360-degree timeline, newest first",
        {200: _json(_page("TimelineEntry"))},
        query=query,
        errors=(422,),
        description="Entries about other records (deals, tickets) appear only to callers who may see them.",
    )


def _identity_paths() -> list:
    admin = (403,)
    token = _json(_ref("TokenResponse"), headers=("Cache-Control",))
    new_key = _json(_ref("ApiKeyCreated"), "Created: `key` is shown this once", ("ETag", "Location", "Cache-Control"))
    audit_query = [
        _query("user_id", S, "Only writes by this user"),
        _query("record_id", S, "Only writes to this record"),
        _query("since", TS, "Only writes at or after this time"),
        _query("until", TS, "Only writes before this time"),
        _param("limit"),
        _param("cursor"),
    ]
    sign_in = dict(public=True, idempotent=False, errors=(401, 429, 503))
    return [
        _operation(
            "post",
            "/auth/token",
            "identity",
            "Sign in with email and password",
            {200: token},
            body="TokenRequest",
            description="The same 401 for a wrong email and a wrong password. After 5 failures in 15 minutes the "
            "account is locked for 15 minutes (429 with Retry-After), even with the right password.",
            **sign_in,
        ),
        _operation(
            "post",
            "/auth/refresh",
            "identity",
            "Rotate a refresh token",
            {200: token},
            body="RefreshRequest",
            description="The old refresh token stops working; presenting one already rotated revokes the session.",
            **sign_in,
        ),
        _operation(
            "post",
            "/auth/logout",
            "identity",
            "End the bearer token's session",
            {204: _empty("Signed out")},
            errors=(400,),
            description="400 for an API key: revoke it with DELETE /api-keys/{id}.",
        ),
        _operation("get", "/me", "identity", "The caller, with the roles they act with", {200: _json(_ref("Me"))}),
        *_collection(
            "identity", "/users", "User", "UserInput", _equals("email", "name", active=BOOL), create_errors=(403, 409)
        ),
        *_item("identity", "/users/{id}", "User", "UserUpdate", write_errors=(403, 409)),
        *_collection("identity", "/teams", "Team", "TeamInput", _equals("name"), create_errors=(403, 409)),
        *_item("identity", "/teams/{id}", "Team", "TeamUpdate", deletable=True, write_errors=(403, 409)),
        _operation(
            "get",
            "/api-keys",
            "identity",
            "List API keys (admin)",
            {200: _json(_page("ApiKey"))},
            query=_list_params("ApiKey", *_equals("user_id", role={"enum": list(ROLES)})),
            errors=admin,
        ),
        _operation(
            "post",
            "/api-keys",
            "identity",
            "Create an API key (admin)",
            {201: new_key},
            body="ApiKeyInput",
            idempotent=False,
            errors=(403, 404),
            description="404 when user_id names no user. Only a hash of the secret is kept.",
        ),
        _operation(
            "get",
            "/api-keys/{id}",
            "identity",
            "Get an API key (admin)",
            {200: _json(_ref("ApiKey"), headers=("ETag",))},
            errors=admin,
        ),
        _operation(
            "delete",
            "/api-keys/{id}",
            "identity",
            "Revoke an API key (admin)",
            {204: _empty("Revoked")},
            errors=admin,
            if_match=False,
        ),
        _operation(
            "get",
            "/audit-log",
            "identity",
            "Every write through the gateway, newest first (admin)",
            {200: _json(_page("AuditEntry"))},
            query=audit_query,
            errors=admin,
        ),
    ]


def _resource_paths() -> list:
    status = {"enum": ["open", "won", "lost"]}
    html_page = {"description": "HTML", "headers": (), "content": {"text/html": {"schema": S}}}
    search_query = [
        _query("q", {"type": "string", "minLength": 1, "pattern": r"\S"}, "The words to find", required=True),
        _csv("types", SEARCH_TYPES, "Only hits of these types"),
        _param("limit"),
        _param("cursor"),
    ]
    inbox_query = [_param("limit"), _param("cursor"), _query("unread", BOOL, "Only unread notifications")]
    return [
        *_collection("companies", "/companies", "Company", "CompanyInput", _equals("owner_id", "industry", "name")),
        *_item("companies", "/companies/{id}", "Company", "CompanyUpdate", deletable=True),
        _timeline("companies", "/companies/{id}/timeline", "company"),
        *_collection(
            "contacts",
            "/contacts",
            "Contact",
            "ContactInput",
            _equals("owner_id", "company_id", "email", lifecycle_stage={"enum": list(LIFECYCLE_STAGES)}),
        ),
        *_item("contacts", "/contacts/{id}", "Contact", "ContactUpdate", deletable=True),
        _timeline("contacts", "/contacts/{id}/timeline", "contact"),
        _operation("get", "/pipelines", "sales", "Pipelines with their stages", {200: _json(_page("Pipeline"))}),
        *_item("sales", "/pipelines/{id}", "Pipeline"),
        *_collection(
            "sales",
            "/deals",
            "Deal",
            "DealInput",
            _equals("owner_id", "contact_id", "company_id", "pipeline_id", "stage_id", status=status),
        ),
        *_item("sales", "/deals/{id}", "Deal", "DealUpdate"),
        *_collection(
            "service desk",
            "/tickets",
            "Ticket",
            "TicketInput",
            _equals(
                "contact_id",
                "company_id",
                "assignee_id",
                "team_id",
                status={"enum": list(TICKET_STATUSES)},
                priority={"enum": list(PRIORITIES)},
                breached=BOOL,
            ),
        ),
        *_item("service desk", "/tickets/{id}", "Ticket", "TicketUpdate"),
        _operation(
            "get",
            "/notifications",
            "notifications",
            "The caller's in-app inbox, newest first",
            {200: _json(_page("Notification"))},
            query=inbox_query,
        ),
        _operation(
            "get",
            "/search",
            "search",
            "One box over every entity the caller may see",
            {200: _json(_ref("SearchResponse"))},
            query=search_query,
        ),
        _operation(
            "get",
            "/dead-letters/{service}",
            "operations",
            "Events a service parked after its retry cap (admin)",
            {200: _json(_page("DeadLetter"))},
            query=[_param("limit"), _param("cursor")],
            errors=(403,),
        ),
        _operation(
            "post",
            "/dead-letters/{service}/{failure_id}/replay",
            "operations",
            "Retry a dead-lettered event now (admin)",
            {202: _json(_ref("DeadLetter"), "Queued for retry")},
            errors=(403,),
        ),
        _operation(
            "get",
            "/ping",
            "operations",
            "Answers without calling any service",
            {200: _json(_obj(["status", "api"], status={"const": "ok"}, api={"const": "v1"}))},
        ),
        _operation(
            "get",
            "/openapi.json",
            "operations",
            "This document",
            {200: _json({"type": "object"})},
            public=True,
            rate_limited=False,
        ),
        _operation(
            "get",
            "/docs",
            "operations",
            "A page listing every operation",
            {200: html_page},
            public=True,
            rate_limited=False,
        ),
    ]


def _schemas() -> dict:
    problem = _obj(
        ["type", "title", "status", "detail"],
        type=S,
        title=S,
        status=INT,
        detail=S,
        instance=S,
        errors={"type": "array", "items": _obj(["field", "message"], field=S, message=S)},
        matches={"type": "array", "items": {"type": "object"}},
    )
    user = _record({k: v for k, v in USER_FIELDS.items() if k != "password"}, team_ids=STRINGS)
    api_key = _obj(
        ["id", "version", "name", "role", "user_id", "rate_limit", "created_at", "revoked_at"],
        id=S,
        version=INT,
        created_at=TS,
        name=S,
        role={"enum": list(ROLES)},
        user_id=S,
        rate_limit=_null(RATE_LIMIT),
        created_by=S,
        revoked_at=NTS,
        last_used_at=NTS,
    )
    schemas = {
        "Problem": problem,
        "CompanyInput": _closed(["name"], **COMPANY_FIELDS),
        "CompanyUpdate": _closed([], **COMPANY_FIELDS),
        "Company": _record(COMPANY_FIELDS, created_by=S),
        "ContactInput": {
            **_closed([], **CONTACT_FIELDS),
            "anyOf": NAMED,
            "description": "A name or an email is required",
        },
        "ContactUpdate": _closed([], **CONTACT_FIELDS),
        "Contact": _record(
            CONTACT_FIELDS,
            created_by=S,
            display_name=S,
            value_grade=NS,
            churn_risk=NS,
        ),
        "DealInput": _closed(["title", "amount", "currency", "contact_id"], **DEAL_FIELDS),
        "DealUpdate": _closed([], **_subset(DEAL_FIELDS, DEAL_UPDATABLE)),
        "Deal": _record(
            {**DEAL_FIELDS, "amount": MONEY},
            status={"enum": ["open", "won", "lost"]},
            lost_reason=NS,
            created_by=S,
            stage_history={"type": "array", "items": _obj(["stage_id", "at"], stage_id=S, at=TS)},
        ),
        "TicketInput": _closed(["subject", "contact_id"], **TICKET_FIELDS),
        "TicketUpdate": _closed([], **_subset(TICKET_FIELDS, TICKET_UPDATABLE), status={"enum": list(TICKET_STATUSES)}),
        "Ticket": _record(
            TICKET_FIELDS,
            status={"enum": list(TICKET_STATUSES)},
            breached=BOOL,
            contact_owner_id={**NS, "description": "the owner of the ticket's contact"},
            first_response_due_at=TS,
            resolution_due_at=TS,
            created_by=S,
        ),
        "Pipeline": _obj(
            ["id", "name", "stages"],
            **SERVER,
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
            ref=REF,
        ),
        "Notification": _obj(
            ["id", "title", "read", "created_at"],
            id=S,
            recipient_id=S,
            channel=S,
            title=S,
            body=S,
            read=BOOL,
            created_at=TS,
            ref=REF,
        ),
        "SearchResponse": _obj(
            ["data", "facets", "total", "next_cursor"],
            data={
                "type": "array",
                "items": _obj(
                    ["type", "id", "title", "highlights", "score"],
                    type={"enum": list(SEARCH_TYPES)},
                    id=S,
                    title=S,
                    score={"type": "number"},
                    highlights=STRINGS,
                ),
            },
            facets={"type": "object", "description": "counts per facet value: {facet: {value: count}}"},
            total=INT,
            next_cursor=NS,
        ),
        "DeadLetter": _obj(
            ["id", "event_id", "handler", "attempts", "status"],
            id=S,
            event_id=NS,
            handler=S,
            attempts=INT,
            status={"enum": ["retrying", "dead"]},
            last_error=S,
            event={"type": "object"},
            next_attempt_at=TS,
            first_failed_at=TS,
            last_failed_at=TS,
        ),
        "TokenRequest": _obj(
            ["email", "password"],
            email={"type": "string", "minLength": 1},
            password={"type": "string", "minLength": 1, "writeOnly": True},
        ),
        "RefreshRequest": _obj(["refresh_token"], refresh_token={"type": "string", "minLength": 1}),
        "TokenResponse": _obj(
            ["access_token", "token_type", "expires_in", "refresh_token"],
            access_token={**S, "description": "an HS256 JWT; send it as `Authorization: Bearer <token>`"},
            token_type={"const": "Bearer"},
            expires_in={**INT, "description": "seconds the access token is valid"},
            refresh_token=S,
        ),
        "User": user,
        "Me": {
            "allOf": [
                _ref("User"),
                _obj(
                    ["managed_team_ids", "credential"],
                    managed_team_ids=STRINGS,
                    credential={"enum": ["user", "api_key"]},
                ),
            ]
        },
        "UserInput": _closed(["email", "name", "password", "roles"], **USER_FIELDS),
        "UserUpdate": _closed([], **USER_FIELDS),
        "Team": _record(TEAM_FIELDS),
        "TeamInput": _closed(["name"], **TEAM_FIELDS),
        "TeamUpdate": _closed([], **TEAM_FIELDS),
        "ApiKey": api_key,
        "ApiKeyCreated": {
            "allOf": [_ref("ApiKey"), _obj(["key"], key={**S, "pattern": "^crm_", "description": "shown only once"})]
        },
        "ApiKeyInput": _closed(["name", "role"], **API_KEY_FIELDS),
        "AuditEntry": _obj(
            ["id", "at", "actor_id", "method", "path", "resource", "record_id", "status", "request_id", "changes"],
            id=S,
            at=TS,
            actor_id=NS,
            api_key_id=NS,
            method={"enum": ["POST", "PATCH", "PUT", "DELETE"]},
            path=S,
            resource=S,
            record_id=NS,
            status=INT,
            request_id=NS,
            changes={"type": ["object", "null"], "description": "the request body, secrets masked"},
        ),
    }
    schemas.update({f"{item}Filter": _filter_schema(item) for item in LISTS})
    return schemas


@functools.cache
def openapi_document() -> dict:
    problem_content = {"application/problem+json": {"schema": _ref("Problem")}}
    responses = {
        name: {"description": description, "headers": _headers(*headers), "content": problem_content}
        for name, description, headers in PROBLEMS.values()
    }
    parameters = {
        "limit": _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "Page size",
        ),
        "cursor": _query("cursor", S, "Opaque; the next_cursor of the previous page"),
        "ifMatch": {
            "name": "If-Match",
            "in": "header",
            "schema": {"type": "string", "pattern": r'^(\*|"[0-9]+")$'},
            "description": "The ETag last seen; 412 if the resource changed since. `*` or no header: no check",
        },
        "idempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,255}$"},
            "description": "Up to 255 visible ASCII characters, scoped to the credential and kept 24 h: the same "
            "key with the same method, path and body gets the first answer again (with Idempotent-Replayed: true), "
            "with a different request a 422, while the first is still running a 409. " + IDEMPOTENCY_IGNORED,
        },
    }
    headers = {name: {"description": description, "schema": schema} for name, (description, schema) in HEADERS.items()}
    operations = [*_identity_paths(), *_resource_paths()]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CRM platform API",
            "version": "1.0.0",
            "description": "Every response carries X-Request-ID. Errors are application/problem+json (RFC 9457), "
            "never a 500 for anything a client sent: an unknown path is a 404, a method the path does not answer "
            "a 405 with Allow. Every authenticated answer carries RateLimit-Limit, RateLimit-Remaining, "
            "RateLimit-Reset and RateLimit-Policy. Lists take `limit` (default 50, max 200) and `cursor` and "
            "answer `{data, next_cursor}`.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}, {"apiKeyAuth": []}],
        "tags": [{"name": name} for name in dict.fromkeys(t for _, _, op in operations for t in op["tags"])],
        "paths": _paths(*operations),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from POST /auth/token (HS256, expires after 15 minutes)",
                },
                "apiKeyAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "An integration's key `crm_<id>.<secret>` from POST /api-keys",
                },
            },
            "schemas": _schemas(),
            "parameters": parameters,
            "headers": headers,
            "responses": responses,
        },
    }


def render() -> str:
    """The document as committed in gateway/openapi.json."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def docs_page(spec_url: str) -> str:
    """A dependency-free page listing every operation of the document."""
    rows = []
    for path, ops in openapi_document()["paths"].items():
        for verb, op in ops.items():
            if verb not in METHODS:
                continue
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


if __name__ == "__main__":
    text = render()  # before the file is opened, so a failure leaves the committed one as it was
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
