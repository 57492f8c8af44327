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

METHODS = ("get", "post", "put", "patch", "delete")
# Endpoints that hand out secrets never store their answers, so they ignore Idempotency-Key.
IDEMPOTENCY_IGNORED = (
    "Ignored by POST /auth/token, /auth/refresh and /api-keys (their answers hold secrets and are never stored)."
)

# JSON Schema building blocks


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], /, **props: dict) -> dict:
    # Positional-only: a resource may have a field named `required` (custom field definitions).
    return {"type": "object", "required": required, "properties": props}


def _closed(required: list[str], /, **props: dict) -> dict:
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
PHONE_NUMBER = {"type": "string", "pattern": r"^\+?[0-9][0-9 ()\-.]{3,30}$", "maxLength": 40}
PHONE = _null(PHONE_NUMBER)
DATE = {"type": ["string", "null"], "format": "date"}
TAGS = _list({"type": "string", "minLength": 1, "maxLength": 50}, 50)
DECIMAL = {"type": "string", "pattern": r"^\d+(\.\d+)?$", "description": "a decimal string, never a float"}
MONEY = {"type": "string", "description": 'a decimal string such as "1234.50", never a float'}
SCALAR = {"type": ["string", "number", "boolean", "null"]}
# An object of scalars (or lists of scalars) by identifier: the `object` kind of the services' schemas.
SCALARS_BY_KEY = {
    "type": "object",
    "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
    "additionalProperties": {"anyOf": [SCALAR, {"type": "array", "items": {"type": ["string", "number", "boolean"]}}]},
}
CUSTOM_FIELDS = {
    **SCALARS_BY_KEY,
    "description": "Values of the custom fields an admin defined (GET /custom-fields), by their key",
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
TIMELINE_KINDS = ("contact", "company", "interaction", "deal", "order", "ticket", "message")
SOURCE_CHANNELS = (
    "web",
    "referral",
    "event",
    "campaign",
    "advertising",
    "social",
    "cold_call",
    "partner",
    "import",
    "walk_in",
    "other",
)
ADDRESS_KINDS = ("work", "home", "billing", "shipping", "registered", "other")
VALUE_GRADES = ("A", "B", "C", "D")
CHURN_LEVELS = ("low", "medium", "high")
INTERACTION_KINDS = ("call", "email", "meeting", "chat", "visit", "web", "note")
DIRECTIONS = ("inbound", "outbound")
CUSTOM_FIELD_ENTITIES = ("contact", "company")
CUSTOM_FIELD_TYPES = ("text", "number", "date", "choice", "multi_choice", "boolean")
DEAD_LETTER_SERVICES = ("contacts", "sales", "service_desk", "notifications", "search")

# Writable fields of each resource, as the owning service validates them.
ADDRESS = _closed(
    [],
    kind=_null({"enum": list(ADDRESS_KINDS)}),
    line1=_text(200),
    line2=_text(200),
    city=_text(100),
    region=_text(100),
    postal_code=_text(20),
    country={**_text(2), "description": "a two-letter country code such as CN"},
)
# Fields companies and contacts share.
CUSTOMER_FIELDS = dict(
    local_name={**_text(100), "description": "the name in its own script, such as 张伟"},
    email=_null(EMAIL),
    phone=PHONE,
    addresses=_list(ADDRESS, 10),
    source_channel=_null({"enum": list(SOURCE_CHANNELS)}),
    source_campaign=_text(100),
    tags=TAGS,
    owner_id={**ID, "description": "null puts the customer in the shared pool"},
    shared_with=IDS,
    custom_fields=CUSTOM_FIELDS,
)
COMPANY_FIELDS = dict(
    name=_text(required=True),
    tax_id=_text(64),
    account_number=_text(64),
    industry=_text(100),
    size=_text(50),
    business_scope=_text(2000),
    credit_rating=_text(20),
    website=_text(200),
    **CUSTOMER_FIELDS,
)
CONTACT_FIELDS = dict(
    first_name=_text(100),
    last_name=_text(100),
    other_emails=_list(EMAIL, 10),
    other_phones=_list(PHONE_NUMBER, 10),
    company_id=ID,
    title=_text(100),
    birthday=DATE,
    preferred_language={**_text(20), "description": "a language tag such as zh-CN"},
    lifecycle_stage={"enum": list(LIFECYCLE_STAGES)},
    interests=TAGS,
    preferences={**SCALARS_BY_KEY, "description": "the customer's preferences: scalars or lists of them by key"},
    **CUSTOMER_FIELDS,
)
# What the server keeps on every company and contact.
CUSTOMER_SERVER = dict(
    created_by=S,
    value_grade={"enum": [*VALUE_GRADES, None], "description": "from the customer's sales; A is the highest"},
    churn_risk={"enum": [*CHURN_LEVELS, None]},
    owner_history={
        "type": "array",
        "description": "every hand-over, oldest first; null owner_id: into the pool",
        "items": _obj(
            ["owner_id", "from_owner_id", "at", "by", "reason"],
            owner_id=NS,
            from_owner_id=NS,
            at=TS,
            by=S,
            reason=NS,
        ),
    },
    pool={
        **_null(_obj(["entered_at", "reason", "previous_owner_id"], entered_at=TS, reason=NS, previous_owner_id=NS)),
        "description": "set while the customer is in the shared pool (owner_id null), else null",
    },
    last_activity_at={**NTS, "description": "when its newest interaction occurred"},
    open_deal_count=INT,
)
PARTICIPANT = _closed(
    [],
    name=_text(200),
    email=_null(EMAIL),
    phone=PHONE,
    user_id={**ID, "description": "a colleague who took part"},
    contact_id={**ID, "description": "a contact who took part"},
)
INTERACTION_FIELDS = dict(
    kind={"enum": list(INTERACTION_KINDS)},
    direction={
        **_null({"enum": list(DIRECTIONS)}),
        "description": "default: none for a note, inbound for web, else outbound",
    },
    contact_id={**ID, "description": "the contact it was with; its company_id is taken when none is given"},
    company_id=ID,
    occurred_at={**TS, "description": "default: now; kept in UTC"},
    duration_seconds={"type": ["integer", "null"]},
    subject=_text(200),
    summary=_text(20000),
    outcome=_text(200),
    participants=_list(PARTICIPANT, 50),
    channel_ref={**_text(200), "description": "the message or call id in the channel it came from"},
)
# An interaction stays with its customer: its contact and company cannot change.
INTERACTION_UPDATABLE = tuple(name for name in INTERACTION_FIELDS if name not in ("contact_id", "company_id"))
CUSTOM_FIELD_FIELDS = dict(
    entity={"enum": list(CUSTOM_FIELD_ENTITIES)},
    key={
        "type": "string",
        "maxLength": 64,
        "pattern": "^[a-z][a-z0-9_]{0,63}$",
        "description": "the key in the records' custom_fields and in filters (custom_fields.<key>)",
    },
    label=_text(100, required=True),
    type={"enum": list(CUSTOM_FIELD_TYPES)},
    choices={**TAGS, "description": "the values of a choice or multi_choice field (required for them, else empty)"},
    required={**BOOL, "description": "every write of a record must leave it a value"},
    description=_text(500),
    max_length={
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": 20000,
        "description": "text fields only; default 500",
    },
)
# A definition's entity, key and type are fixed once records use it.
CUSTOM_FIELD_UPDATABLE = ("label", "choices", "required", "description", "max_length")
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


def _any_given(*names: str) -> list[dict]:
    """An `anyOf`: at least one of these text fields given and not empty."""
    return [{"required": [name], "properties": {name: {"type": "string", "minLength": 1}}} for name in names]


# A new contact needs a name or an email; a new interaction its contact or its company.
NAMED = _any_given("first_name", "last_name", "email")
LINKED = _any_given("contact_id", "company_id")


def _customer_body(fields: dict, entity: str, *, merged: bool = False) -> dict:
    """A company's or contact's fields as a request body takes them, with the rules of custom_fields."""
    how = "Merged key by key into the record's: keys not sent stay, a key sent as null is removed. " if merged else ""
    rules = (
        f"Each key must be an active custom field defined for {entity} records (GET /custom-fields?entity={entity}) "
        "and its value of the field's type; a required one must keep a value. A 422 otherwise."
    )
    return {**fields, "custom_fields": {**SCALARS_BY_KEY, "description": how + rules}}


# Filters and sorting, per resource: item -> (fields that can be filtered on, fields that can be
# sorted by[, the default order when not -created_at]).
CUSTOM = "custom_fields."
CUSTOMER_FILTERABLE = "value_grade churn_risk last_activity_at open_deal_count created_at updated_at " + CUSTOM
LISTS = {
    "Company": (
        "name local_name tax_id account_number industry size credit_rating email phone owner_id shared_with tags "
        "source_channel source_campaign " + CUSTOMER_FILTERABLE,
        "created_at updated_at name last_activity_at",
    ),
    "Contact": (
        "first_name last_name local_name email phone company_id owner_id shared_with lifecycle_stage tags interests "
        "title birthday preferred_language source_channel source_campaign lead_score " + CUSTOMER_FILTERABLE,
        "created_at updated_at last_name first_name email last_activity_at",
    ),
    "Interaction": (
        "kind direction contact_id company_id occurred_at outcome logged_by owner_id created_at",
        "occurred_at created_at",
        "-occurred_at",
    ),
    "Deal": (
        "title pipeline_id stage_id status contact_id company_id owner_id shared_with currency expected_close_date "
        "created_at closed_at rotting",
        "created_at updated_at expected_close_date title closed_at",
    ),
    "Pipeline": ("name business_line created_at", "name created_at updated_at", "name"),
    "Order": (
        "contact_id company_id deal_id owner_id shared_with status payment_method currency reference ordered_at "
        "created_at",
        "ordered_at created_at updated_at",
        "-ordered_at",
    ),
    "Task": (
        "title kind priority done assignee_id created_by contact_id company_id deal_id due_at remind_at done_at "
        "created_at",
        "due_at remind_at created_at updated_at title",
    ),
    "Ticket": (
        "kind priority status category customer_grade channel contact_id company_id assignee_id team_id "
        "contact_owner_id breached received_at created_at first_response_due_at resolution_due_at",
        "created_at updated_at received_at first_response_due_at resolution_due_at",
    ),
    "TicketComment": ("public author_type author_id created_at", "created_at", "created_at"),
    "SlaPolicy": (
        "name active position calendar_id created_at updated_at",
        "position name created_at updated_at",
        "position",
    ),
    "BusinessCalendar": ("name time_zone holiday_preset created_at", "name created_at", "name"),
    "ServiceTeam": ("assignment", "id updated_at", "id"),
    "Quota": ("owner_id period currency created_at", "period owner_id created_at updated_at", "-period"),
    "LeadScoringRule": ("name category active created_at updated_at", "name created_at updated_at points", "name"),
    "User": ("email name active roles created_at", "created_at email name"),
    "Team": ("name member_ids manager_ids", "created_at name", "name"),
    "ApiKey": ("user_id role revoked_at", "created_at name"),
    "NotificationTemplate": (
        "key channel language created_at updated_at",
        "key channel language created_at updated_at",
        "key",
    ),
    "Webhook": ("active url event_types created_by", "created_at updated_at url"),
    "Delivery": (
        "channel status kind contact_id about_contact_id subscription_id campaign_id recipient_user_id event_id "
        "order_key",
        "created_at updated_at next_attempt_at sent_at",
    ),
    "Campaign": ("name kind holiday channel segment_id active created_at", "name created_at updated_at"),
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
    "user_id": {"name": "user_id", "in": "path", "required": True, "schema": S},
    "delivery_id": {"name": "delivery_id", "in": "path", "required": True, "schema": S},
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
    "Content-Disposition": ("`attachment; filename=...`: save the answer as a file", S),
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
    parameters 400, bodies 400/413/415/422; POST takes Idempotency-Key, PUT, PATCH and DELETE If-Match;
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
    if method in ("put", "patch", "delete") and if_match:
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


def _noun(item: str) -> str:
    """`CustomField` -> `custom field`."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", item).lower()


def _a(item: str) -> str:
    """`Contact` -> `a contact`, `Interaction` -> `an interaction`."""
    noun = _noun(item)
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _collection(
    tag: str,
    path: str,
    item: str,
    create: str | None,
    equality: list[dict],
    create_errors: tuple[int, ...] = (403,),
    *,
    query: list[dict] | None = None,
    descriptions: dict[str, str] | None = None,
) -> list:
    """The list (and create) operations of a resource. `query` replaces the list parameters (limit,
    cursor, sort, filter and `equality`) of a list that takes none of them; `descriptions` by method."""
    descriptions = descriptions or {}
    ops = [
        _operation(
            "get",
            path,
            tag,
            f"List {path.strip('/').replace('-', ' ')}",
            {200: _json(_page(item))},
            query=_list_params(item, *equality) if query is None else query,
            description=descriptions.get(
                "get",
                "Newest first unless sorted; cursor-paged. The other query parameters documented here are "
                "equality filters on their field.",
            ),
        )
    ]
    if create:
        created = _json(_ref(item), "Created", ("ETag", "Location"))
        summary = f"Create {_a(item)}"
        ops.append(
            _operation(
                "post",
                path,
                tag,
                summary,
                {201: created},
                body=create,
                errors=create_errors,
                description=descriptions.get("post"),
            )
        )
    return ops


AS_OF = {"type": "string", "examples": ["2024-05-01", "2024-05-01T09:30:00+08:00"]}
AS_OF_FORMAT = "An ISO 8601 date (its first moment, UTC) or date-time (UTC when it has no offset); 422 otherwise. "


def _item(
    tag: str,
    path: str,
    item: str,
    update: str | None = None,
    deletable: bool = False,
    write_errors: tuple[int, ...] = (403,),
    *,
    as_of: bool = False,
    descriptions: dict[str, str] | None = None,
    removal: str = "Delete",
) -> list:
    """Get, change (`update`: the PATCH body) and delete (`removal` names what DELETE does) one
    record; `as_of`: GET also answers the record as it was at a past moment."""
    descriptions = descriptions or {}
    one = _json(_ref(item), headers=("ETag",))
    get: dict = {"description": descriptions.get("get")}
    if as_of:
        moment = _query(
            "as_of",
            AS_OF,
            AS_OF_FORMAT + f"The {_noun(item)} as it was at that moment, with that version's ETag: a 404 "
            "when it did not exist then (not yet created, or already deleted). A deleted record's past stays "
            "readable to who could see it.",
        )
        get.update(query=[moment], errors=(422,))
    ops = [_operation("get", path, tag, f"Get {_a(item)}", {200: one}, **get)]
    if update:
        summary = f"Change some fields of {_a(item)}"
        ops.append(
            _operation(
                "patch",
                path,
                tag,
                summary,
                {200: one},
                body=update,
                errors=write_errors,
                description=descriptions.get("patch"),
            )
        )
    if deletable:
        summary = f"{removal} {_a(item)}"
        answer = {204: _empty(f"{removal}d")}
        ops.append(
            _operation(
                "delete", path, tag, summary, answer, errors=write_errors, description=descriptions.get("delete")
            )
        )
    return ops


def _timeline(tag: str, path: str, subject: str) -> tuple:
    moment = _query(
        "as_of",
        AS_OF,
        AS_OF_FORMAT + f"Only the entries up to that moment, and `profile`: the {subject} as it was then.",
    )
    query = [_param("limit"), _param("cursor"), _csv("kind", TIMELINE_KINDS, "Only entries of these kinds"), moment]
    page = _page("TimelineEntry")
    answer = {
        **page,
        "properties": {
            **page["properties"],
            "as_of": {**TS, "description": "with ?as_of: that moment, in UTC"},
            "profile": {
                "anyOf": [_ref(subject.capitalize()), {"type": "null"}],
                "description": f"with ?as_of: the {subject} as it was then; null when it did not exist then",
            },
        },
        "dependentRequired": {"as_of": ["profile"], "profile": ["as_of"]},
    }
    return _operation(
        "get",
        path,
        tag,
        f"The {subject}'s 360-degree timeline, newest first",
        {200: _json(answer)},
        query=query,
        errors=(422,),
        description="Entries about other records (deals, tickets) appear only to callers who may see them. "
        f"A deleted {subject}'s timeline stays readable to who could see it.",
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


CUSTOMER_NOTES = {
    "patch": "Only the fields sent change. `custom_fields` merges key by key (a key sent as null is removed); "
    "its keys must be active custom fields defined for the entity, with values of their type (422 otherwise). "
    "A new owner_id is added to owner_history (null: into the pool), a new lifecycle_stage to lifecycle_history. "
    "403 for a customer in the pool (claim it first, unless a manager or an admin), one seen only through a "
    "team's tickets, or an owner the caller may not give it to.",
    "delete": "Its history stays: its timeline and its past versions (GET with as_of) remain readable to who could "
    "see it.",
}


def _personal_data_paths() -> list:
    """Helper D: a contact's personal data, exported and erased across every service (admins only)."""
    admin = (403,)
    erase = _operation(
        "post",
        "/contacts/{id}/erase",
        "personal data",
        "Erase the person's data in every service (admin)",
        {202: _json(_ref("Erasure"), "Accepted: contacts has erased; the other services follow", ("ETag", "Location"))},
        body="ErasureRequest",
        errors=(403, 409),
        description="Irreversible. In one transaction the contacts service deletes the contact, blanks its "
        "history snapshots (business facts such as company, owner and lifecycle stage stay), scrubs its "
        "interactions and the timeline summaries about it (kinds, times and refs stay), and announces "
        "`contact_erased`; sales, the service desk, notifications and search scrub on that event and report "
        "back. Follow `Location` until `status` is `completed`. Every contact merged into this one (the same "
        "person), transitively, is erased with it (`merged_ids`). 404 for a contact that does not exist or was "
        "erased already; 409 for a contact merged into another, whose id `matches` gives: erase that one. The "
        "body is optional.",
    )
    erase[2]["requestBody"]["required"] = False
    erasure_query = [
        _param("limit"),
        _param("cursor"),
        _query("sort", {"type": "string", "pattern": r"^-?requested_at$", "default": "-requested_at"}, "Sort order"),
        *_equals("contact_id", "requested_by", status={"enum": ["in_progress", "completed"]}),
    ]
    return [
        _operation(
            "get",
            "/contacts/{id}/personal-data",
            "personal data",
            "Everything the platform holds about the person (admin)",
            {200: _json(_ref("PersonalDataExport"), headers=("Content-Disposition",))},
            errors=(403, 409),
            description="Gathered from every service at the time of the request; 503 when any service does not "
            "answer (never a partial export). Also answers for a deleted contact (from its history); 404 once "
            "erased. `merged` holds what every service keeps under the ids of the contacts merged into this one "
            "(the same person). 409 for a contact merged into another, whose id `matches` gives: export that one.",
        ),
        erase,
        _operation(
            "get",
            "/erasures",
            "personal data",
            "Erasure records, newest first (admin)",
            {200: _json(_page("Erasure"))},
            query=erasure_query,
            errors=admin,
        ),
        _operation(
            "get",
            "/erasures/{id}",
            "personal data",
            "One erasure record: which services have scrubbed (admin)",
            {200: _json(_ref("Erasure"), headers=("ETag",))},
            errors=admin,
        ),
    ]


def _personal_data_schemas() -> dict:
    service_step = _obj(
        ["status", "at", "detail"],
        status={"enum": ["pending", "done"]},
        at=NTS,
        detail={"type": ["object", "null"], "description": "what the service scrubbed or kept (counts)"},
    )
    section = {"type": "object", "description": "what the service holds about the person"}
    return {
        "ErasureRequest": _closed([], reason=_text(1000)),
        "Erasure": _obj(
            ["id", "version", "contact_id", "requested_by", "requested_at", "reason", "status", "services"],
            id=S,
            version=INT,
            contact_id=S,
            merged_ids={
                "type": "array",
                "items": S,
                "description": "the contacts merged into this one, erased with it",
            },
            requested_by=S,
            requested_at=TS,
            reason=NS,
            status={"enum": ["in_progress", "completed"]},
            services=_obj(
                ["contacts", "sales", "service_desk", "notifications", "search"],
                contacts=service_step,
                sales=service_step,
                service_desk=service_step,
                notifications=service_step,
                search=service_step,
            ),
            completed_at=NTS,
        ),
        "PersonalDataExport": _obj(
            ["subject", "generated_at", "generated_by", "services"],
            subject=_obj(["type", "id"], type={"const": "contact"}, id=S),
            generated_at=TS,
            generated_by=S,
            services=_obj(
                ["contacts", "sales", "service_desk", "notifications", "search"],
                contacts=_obj(
                    ["contact", "deleted", "history", "interactions", "participations", "timeline"],
                    contact={"type": "object", "description": "the contact (its last version when deleted)"},
                    deleted=BOOL,
                    history={"type": "array", "items": {"type": "object"}, "description": "every version"},
                    interactions={"type": "array", "items": {"type": "object"}},
                    participations={
                        "type": "array",
                        "items": {"type": "object"},
                        "description": "its company's interactions that name the person as a participant",
                    },
                    timeline={"type": "array", "items": _ref("TimelineEntry")},
                ),
                sales={
                    **_obj(
                        ["deals", "orders", "tasks", "lead_score", "customer_value"],
                        deals={"type": "array", "items": {"type": "object"}},
                        orders={"type": "array", "items": {"type": "object"}},
                        tasks={"type": "array", "items": {"type": "object"}},
                        lead_score={"type": ["object", "null"], "description": "the score and what it came from"},
                        customer_value={"type": ["object", "null"], "description": "RFM, grade and churn figures"},
                    ),
                    **section,
                },
                service_desk={**_obj(["tickets"], tickets={"type": "array", "items": {"type": "object"}}), **section},
                notifications={
                    **_obj(["notifications"], notifications={"type": "array", "items": {"type": "object"}}),
                    **section,
                },
                search={**_obj(["documents"], documents={"type": "array", "items": {"type": "object"}}), **section},
            ),
            merged={
                "type": "array",
                "description": "every contact merged into this one, transitively, oldest merge first",
                "items": _obj(
                    ["id", "merged_into", "merged_at", "services"],
                    id=S,
                    merged_into=S,
                    merged_at=TS,
                    merged_by=S,
                    services={
                        "type": "object",
                        "description": "`contacts`: {history, interactions, timeline} under its id; every "
                        "other service's answer about its id, as above",
                    },
                ),
            },
        ),
    }


# Helper C: CSV import and export.

TRANSFER_ENTITIES = ("contact", "company")
JOB_STATUSES = ("uploading", "queued", "running", "completed", "failed", "cancelled", "expired")
IMPORT_ENCODINGS = ("utf-8", "utf-16", "gb18030", "gbk", "big5", "shift_jis", "latin-1")
IMPORT_OPTION_DOCS = {
    "entity": ({"enum": list(TRANSFER_ENTITIES), "default": "contact"}, "What each row is"),
    "mapping": (
        S,
        "A JSON object `{column header: field}`; null or empty ignores a column. Columns it does not name feed "
        "the field their header names (case, spaces and hyphens ignored: `First Name` is first_name). Fields: "
        "the writable fields of the entity, `address.<line1|line2|city|region|postal_code|country|kind>` (the "
        "first address), `custom_fields.<key>` (a defined custom field) and, for contacts, `company_name` (an "
        "existing company you can see, by its exact name). Lists (tags, other_emails, shared_with...) are "
        "`;`-separated in one cell.",
    ),
    "dedupe": (
        {"enum": ["skip", "update", "create"], "default": "skip"},
        "A row that strongly matches an existing record (or an earlier row): skip it, apply its non-empty "
        "cells to that record as a PATCH would, or create it anyway",
    ),
    "dry_run": ({"type": "boolean", "default": False}, "Check every row as the import would, write nothing"),
    "delimiter": (
        {"enum": [",", ";", "|", "tab", "comma", "semicolon", "pipe"]},
        "Default: whichever of , ; tab | the header row holds most",
    ),
    "encoding": (
        {"enum": list(IMPORT_ENCODINGS)},
        "Default: a byte-order mark decides (UTF-8, UTF-16), else UTF-8, else GB18030",
    ),
}
IMPORT_NOTES = (
    "Send the file as multipart/form-data (part `file`, options as form fields) or as a raw text/csv body "
    "(options as query parameters). Row 1 is the header. The options, the mapping and the header are checked "
    "at once (422 listing each problem: `mapping.<column>`, `file`, an option), then the rows are imported in "
    "the background with the caller's rights, each new record as POST would create it (source_channel `import` "
    "unless given) with its timeline entry and event; follow `Location` for progress. A refused row does not "
    "stop the others: GET /imports/{id}/errors lists them with their row numbers. The body may be up to "
    "GATEWAY_MAX_UPLOAD_BYTES (default 50 MiB; 413 beyond); 415 for another media type. 403 for a role that "
    "does not write customers (viewers, support agents)."
)
EXPORT_NOTES = (
    "Exports what the caller sees of a filtered list (`filter`: the list grammar of the entity) or of a segment "
    "(`segment_id`), in the background; follow `Location`, then GET /exports/{id}/download. Every role may "
    "export its own reach. The CSV's columns are `fields` (default: id, every writable field, the custom fields "
    "and the server-kept ones), named so the file imports back as it is."
)


def _transfer_paths() -> list:
    job = {"ETag", "Location"}
    import_query = [_query(name, schema, doc) for name, (schema, doc) in IMPORT_OPTION_DOCS.items()]
    upload = _operation(
        "post",
        "/imports",
        "import and export",
        "Import contacts or companies from a CSV file",
        {202: _json(_ref("ImportJob"), "Accepted: queued (or refused at once with 422)", tuple(sorted(job)))},
        body="ImportUpload",
        query=import_query,
        errors=(403,),
        description=IMPORT_NOTES,
    )
    upload[2]["requestBody"]["content"] = {
        "multipart/form-data": {"schema": _ref("ImportUpload")},
        "text/csv": {"schema": {"type": "string"}},
    }
    csv_answer = {
        "description": "The CSV: UTF-8 with a byte-order mark (so Excel reads Chinese right) unless bom=false, "
        "CRLF line ends, lists `;`-separated, cells starting with = + - @ prefixed with an apostrophe",
        "headers": ("Content-Disposition",),
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
    jobs_query = [
        _param("limit"),
        _param("cursor"),
        *_equals(status={"enum": list(JOB_STATUSES)}, entity={"enum": list(TRANSFER_ENTITIES)}),
    ]
    mine = "Newest first: the caller's own (an admin's: everyone's)."
    return [
        upload,
        _operation(
            "get",
            "/imports",
            "import and export",
            "Imports, newest first",
            {200: _json(_page("ImportJob"))},
            query=jobs_query,
            description=mine,
        ),
        _operation(
            "get",
            "/imports/{id}",
            "import and export",
            "An import's progress and counts",
            {200: _json(_ref("ImportJob"), headers=("ETag",))},
            description="Seen by who uploaded it and by admins.",
        ),
        _operation(
            "get",
            "/imports/{id}/errors",
            "import and export",
            "The rows an import refused, in file order",
            {200: _json(_page("ImportRowError"))},
            query=[_param("limit"), _param("cursor")],
        ),
        _operation(
            "post",
            "/imports/{id}/cancel",
            "import and export",
            "Stop an import",
            {200: _json(_ref("ImportJob"), headers=("ETag",))},
            description="Rows already imported stay; the rest are dropped. 409 once it has finished.",
        ),
        _operation(
            "post",
            "/exports",
            "import and export",
            "Export a filtered list or a segment to CSV",
            {202: _json(_ref("ExportJob"), "Accepted: queued", tuple(sorted(job)))},
            body="ExportRequest",
            description=EXPORT_NOTES,
        ),
        _operation(
            "get",
            "/exports",
            "import and export",
            "Exports, newest first",
            {200: _json(_page("ExportJob"))},
            query=jobs_query,
            description=mine,
        ),
        _operation(
            "get",
            "/exports/{id}",
            "import and export",
            "An export's progress",
            {200: _json(_ref("ExportJob"), headers=("ETag",))},
            description="Seen by who asked for it and by admins. The CSV is kept until `expires_at` (24 h).",
        ),
        _operation(
            "post",
            "/exports/{id}/cancel",
            "import and export",
            "Stop an export",
            {200: _json(_ref("ExportJob"), headers=("ETag",))},
            description="409 once it has finished.",
        ),
        _operation(
            "get",
            "/exports/{id}/download",
            "import and export",
            "Download a completed export's CSV",
            {200: csv_answer},
            query=[_query("bom", {"type": "boolean", "default": True}, "Start with a UTF-8 byte-order mark")],
            errors=(409,),
            description="Streamed. 409 while the export is not completed (or has expired).",
        ),
    ]


def _transfer_schemas() -> dict:
    counts = {
        name: {**INT, "minimum": 0}
        for name in ("total_rows", "processed_rows", "created", "updated", "skipped", "failed")
    }
    job = dict(
        id=S,
        version=INT,
        status={"enum": list(JOB_STATUSES)},
        percent={"type": ["number", "null"], "description": "how far it is, 0-100; null while uploading"},
        error={**NS, "description": "why it failed"},
        created_by=S,
        created_at=TS,
        worked_at=TS,
        started_at=NTS,
        finished_at=NTS,
    )
    filter_ = {"anyOf": [_ref("ContactFilter"), _ref("CompanyFilter")], "description": FILTER_GRAMMAR}
    return {
        "ImportUpload": _obj(
            ["file"],
            file={"type": "string", "contentMediaType": "text/csv", "description": "the CSV file"},
            **{name: {**schema, "description": doc} for name, (schema, doc) in IMPORT_OPTION_DOCS.items()},
        ),
        "ImportJob": _obj(
            [*job, "entity", "dedupe", "dry_run", "mapping", "ignored_columns", *counts],
            **job,
            entity={"enum": list(TRANSFER_ENTITIES)},
            dedupe={"enum": ["skip", "update", "create"]},
            dry_run=BOOL,
            file_name=NS,
            mapping={"type": "object", "additionalProperties": S, "description": "column header -> field, as used"},
            ignored_columns=STRINGS,
            **counts,
        ),
        "ImportRowError": _obj(
            ["row", "errors"],
            row={**INT, "description": "the row number as a spreadsheet shows it (the header is row 1)"},
            errors={
                "type": "array",
                "items": _obj(
                    ["field", "message"], field=S, message=S, column={**S, "description": "the CSV column, if any"}
                ),
            },
        ),
        "ExportRequest": _closed(
            [],
            entity={"enum": list(TRANSFER_ENTITIES), "default": "contact"},
            filter=filter_,
            segment_id={**S, "description": "export a segment's members instead of `filter`"},
            fields={"type": "array", "items": S, "minItems": 1, "description": "the columns, in order"},
            sort={**S, "default": "-created_at", "description": "as the list's `sort`"},
        ),
        "ExportJob": _obj(
            [*job, "entity", "fields", "sort", "total_rows", "exported_rows"],
            **job,
            entity={"enum": list(TRANSFER_ENTITIES)},
            filter={"type": ["object", "null"]},
            segment_id=NS,
            fields=STRINGS,
            sort=S,
            total_rows={**INT, "description": "the records in reach when the export was asked for"},
            exported_rows=INT,
            chunks=INT,
            expires_at=NTS,
        ),
    }


# Helper B: ownership, the customer pool and segments.

POOL = "pool.entered_at pool.previous_owner_id "
LISTS.update(
    {
        "Pool": (POOL + LISTS["Contact"][0], "pool.entered_at " + LISTS["Contact"][1], "-pool.entered_at"),
        "ReclaimRule": ("name active created_at", "created_at name"),
        "Segment": ("name entity owner_id shared created_at", "created_at updated_at name"),
        # Members take the list grammar of the segment's entity: a contact's or a company's fields.
        "SegmentMember": (
            " ".join(dict.fromkeys((LISTS["Contact"][0] + " " + LISTS["Company"][0]).split())),
            " ".join(dict.fromkeys((LISTS["Contact"][1] + " " + LISTS["Company"][1]).split())),
        ),
    }
)
SEGMENT_ENTITIES = ("contact", "company")
CLAIM_LIMITS = (
    "409 when the customer is not in the pool (also when it is already yours), or when a claim limit of "
    "GET /pool/settings stops it; `detail` names the limit: `max_owned_per_rep` (customers you own), "
    "`max_claims_per_day` (your claims this UTC day) or `reclaim_cooldown_days` (the customer was taken back "
    "from you too recently). 404 when the customer is not in your reach."
)


def _count(maximum: int, *, nullable: bool = True, description: str = "") -> dict:
    schema = {"type": ["integer", "null"] if nullable else "integer", "minimum": 0, "maximum": maximum}
    return {**schema, "description": description} if description else schema


POOL_SETTINGS_FIELDS = dict(
    max_owned_per_rep=_count(1_000_000, description="customers one person may own and still claim; null: no cap"),
    max_claims_per_day=_count(100_000, description="claims per person per UTC day (default 20); null: no cap"),
    reclaim_cooldown_days=_count(
        3650,
        nullable=False,
        description="days before someone may claim back a customer taken back from them (default 0)",
    ),
)
RECLAIM_CONDITIONS = _closed(
    [],
    no_activity_days={
        **_count(3650),
        "description": "no interaction for this many days (counted from creation when there was none)",
    },
    no_open_deal={**BOOL, "description": "no open deal (default false)"},
    grade_below={"enum": ["A", "B", "C", None], "description": "value grade below this (ungraded never matches)"},
    lifecycle_stages={
        "type": ["array", "null"],
        "items": {"enum": list(LIFECYCLE_STAGES)},
        "minItems": 1,
        "description": "only customers at one of these stages",
    },
)
RECLAIM_RULE_FIELDS = dict(
    name=_text(100, required=True),
    description=_text(500),
    active={**BOOL, "description": "default true"},
    conditions={**RECLAIM_CONDITIONS, "description": "all given conditions must hold; give at least one"},
    notice_days={**_count(365, nullable=False), "description": "days between the notice and the reclaim (default 7)"},
)
SEGMENT_FIELDS = dict(
    name=_text(100, required=True),
    description=_text(500),
    entity={"enum": list(SEGMENT_ENTITIES)},
    filter={
        "type": "object",
        "minProperties": 1,
        "description": "the list filter grammar as a JSON object: a ContactFilter for a contact segment, a "
        "CompanyFilter for a company segment (the fields each can filter on, including custom_fields.<key>, "
        "value_grade and churn_risk); 422 on the `filter` field otherwise",
    },
    shared={**BOOL, "description": "visible to everyone who can see customers (default false: only its owner)"},
)


def _pool_paths() -> list:
    contact = _json(_ref("Contact"), headers=("ETag",))
    admin_only = (403,)
    release = _operation(
        "post",
        "/contacts/{id}/release",
        "pool",
        "Return a customer to the pool",
        {200: contact},
        body="ReleaseRequest",
        errors=(403,),
        description="Its owner, a manager of its owner's team or an admin; 403 for anyone else who sees it, 409 when "
        "it is already in the pool. The reason goes into its owner history, its `pool` and its timeline. "
        "The body is optional.",
    )
    release[2]["requestBody"]["required"] = False
    return [
        _operation(
            "get",
            "/pool",
            "pool",
            "Customers in the pool (no owner), newest arrivals first",
            {200: _json(_page("Contact"))},
            query=_list_params("Pool", *_equals("company_id", lifecycle_stage={"enum": list(LIFECYCLE_STAGES)})),
            description="The contacts with no owner in the caller's reach: admins, managers, sales reps and viewers "
            "see the whole pool, support agents only the pool customers of their teams' tickets. Filter and sort "
            "like GET /contacts, plus pool.entered_at and pool.previous_owner_id.",
        ),
        _operation(
            "post",
            "/contacts/{id}/claim",
            "pool",
            "Claim a customer from the pool for yourself",
            {200: contact},
            errors=(403,),
            description="Sales reps, managers and admins (403 for other roles). " + CLAIM_LIMITS + " No body.",
        ),
        release,
        _operation(
            "post",
            "/contacts/{id}/assign",
            "pool",
            "Give a customer to someone",
            {200: contact},
            body="AssignRequest",
            errors=(403,),
            description="Managers move customers among themselves and the members of the teams they manage (403 "
            "otherwise), admins to anyone. `owner_id` must be an active user who may own customers (admin, "
            "manager, sales_rep): 422 otherwise. Claim limits do not apply. Giving it to its owner changes nothing.",
        ),
        _operation(
            "post",
            "/contacts/assign",
            "pool",
            "Hand every customer of one owner over to others (bulk, when a rep leaves)",
            {202: _json(_ref("HandOver"), "Accepted: follow Location until status is done", ("ETag", "Location"))},
            body="HandOverRequest",
            errors=(403,),
            description="Managers within the teams they manage, admins for anyone. Every contact of "
            "`from_owner_id` (and, unless include_companies is false, every company) goes to `to_owner_ids` in "
            "turn, oldest first, each with an owner history step and a timeline entry naming who and why; "
            "nothing else about the records changes. Runs as a job in transactions of 100 records: the request "
            "moves what it can in about a second, the service the rest. 409 while another hand-over of the "
            "same owner runs.",
        ),
        _operation(
            "get",
            "/hand-overs/{id}",
            "pool",
            "A hand-over job and its progress",
            {200: _json(_ref("HandOver"), headers=("ETag",))},
            errors=(403,),
            description="Admins, the manager who asked, and the managers of the former owner.",
        ),
        _operation(
            "get",
            "/pool/settings",
            "pool",
            "The claim limits",
            {200: _json(_ref("PoolSettings"), headers=("ETag",))},
            errors=(403,),
            description="Readable by admins, managers, sales reps and viewers. ETag 0 until first saved.",
        ),
        _operation(
            "patch",
            "/pool/settings",
            "pool",
            "Change the claim limits (admin)",
            {200: _json(_ref("PoolSettings"), headers=("ETag",))},
            body="PoolSettingsUpdate",
            errors=admin_only,
        ),
        _operation(
            "get",
            "/pool/rules",
            "pool",
            "Reclaim rules",
            {200: _json(_page("ReclaimRule"))},
            query=_list_params("ReclaimRule", _query("active", BOOL, "Only active (or inactive) rules")),
            errors=(403,),
            description="Readable by admins, managers, sales reps and viewers.",
        ),
        _operation(
            "post",
            "/pool/rules",
            "pool",
            "Create a reclaim rule (admin)",
            {201: _json(_ref("ReclaimRule"), "Created", ("ETag", "Location"))},
            body="ReclaimRuleInput",
            errors=admin_only,
            description="A reclaim run (every POOL_RECLAIM_INTERVAL_SECONDS, default hourly, or POST "
            "/pool/reclaim-runs) first warns the owner of each customer a rule matches (an in-app notification "
            "and a timeline entry); `notice_days` later, if the rule still matches the same owner's customer, "
            "the customer goes back to the pool with the rule as the reason. A notice is withdrawn when the rule "
            "stops matching (an interaction, a deal) or the customer changes hands.",
        ),
        _operation(
            "get",
            "/pool/rules/{id}",
            "pool",
            "Get a reclaim rule",
            {200: _json(_ref("ReclaimRule"), headers=("ETag",))},
            errors=(403,),
        ),
        _operation(
            "patch",
            "/pool/rules/{id}",
            "pool",
            "Change a reclaim rule (admin)",
            {200: _json(_ref("ReclaimRule"), headers=("ETag",))},
            body="ReclaimRuleUpdate",
            errors=admin_only,
            description="Notices already given keep their reclaim date.",
        ),
        _operation(
            "delete",
            "/pool/rules/{id}",
            "pool",
            "Delete a reclaim rule (admin)",
            {204: _empty("Deleted")},
            errors=admin_only,
            description="Its outstanding notices are withdrawn by the next run.",
        ),
        _operation(
            "post",
            "/pool/reclaim-runs",
            "pool",
            "Run the reclaim rules now (admin)",
            {200: _json(_ref("ReclaimRun"))},
            errors=admin_only,
            description="The same run as the scheduled one; stops after 500 actions with `complete` false (the "
            "next run goes on). Concurrent runs never warn or reclaim a customer twice. No body.",
        ),
        *_collection(
            "segments",
            "/segments",
            "Segment",
            "SegmentInput",
            _equals("owner_id", entity={"enum": list(SEGMENT_ENTITIES)}, shared=BOOL),
            descriptions={
                "get": "Your own segments and the shared ones (admins: all). Newest first unless sorted.",
                "post": "Admins, managers and sales reps. The answer carries `member_count`.",
            },
        ),
        *_item(
            "segments",
            "/segments/{id}",
            "Segment",
            "SegmentUpdate",
            deletable=True,
            descriptions={
                "get": "With `member_count`: how many of its members you may see, now.",
                "patch": "Its owner or an admin (403 for others who see it). `entity` cannot change.",
                "delete": "Its owner or an admin.",
            },
        ),
        _operation(
            "get",
            "/segments/{id}/members",
            "segments",
            "The segment's current members that you may see",
            {200: _json(_page("SegmentMember"))},
            query=_list_params("SegmentMember"),
            description="Contacts or companies (the segment's entity) matching its filter now, cut down to the "
            "caller's reach; filter, sort and page further like GET /contacts or GET /companies (400 for a field "
            "the entity does not have).",
        ),
    ]


def _pool_schemas() -> dict:
    job_counts = {name: INT for name in ("total_contacts", "total_companies", "moved_contacts", "moved_companies")}
    return {
        "PoolSettings": _obj(
            ["max_owned_per_rep", "max_claims_per_day", "reclaim_cooldown_days", "version"],
            **POOL_SETTINGS_FIELDS,
            version=INT,
            updated_at=NTS,
            updated_by=NS,
        ),
        "PoolSettingsUpdate": _closed([], **POOL_SETTINGS_FIELDS),
        "ReclaimRuleInput": _closed(["name", "conditions"], **RECLAIM_RULE_FIELDS),
        "ReclaimRuleUpdate": _closed([], **RECLAIM_RULE_FIELDS),
        "ReclaimRule": _record(RECLAIM_RULE_FIELDS, created_by=S),
        "ReclaimRun": _obj(
            ["warned", "reclaimed", "cleared", "complete"],
            warned={**INT, "description": "owners given notice"},
            reclaimed={**INT, "description": "customers returned to the pool"},
            cleared={**INT, "description": "notices withdrawn"},
            complete={**BOOL, "description": "false: stopped after its action budget"},
        ),
        "ReleaseRequest": _closed([], reason=_text(500)),
        "AssignRequest": _closed(["owner_id"], owner_id=_text(64, nullable=False), reason=_text(500)),
        "HandOverRequest": _closed(
            ["from_owner_id", "to_owner_ids"],
            from_owner_id={**_text(64, nullable=False), "description": "whose customers move (may be deactivated)"},
            to_owner_ids={
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 64},
                "minItems": 1,
                "maxItems": 50,
                "uniqueItems": True,
                "description": "active users who may own customers, who get them in turn",
            },
            reason=_text(500),
            include_companies={**BOOL, "description": "default true"},
        ),
        "HandOver": _obj(
            ["id", "version", "status", "from_owner_id", "to_owner_ids", "requested_by", "created_at"],
            id=S,
            version=INT,
            status={"enum": ["running", "done", "failed"]},
            from_owner_id=S,
            to_owner_ids=STRINGS,
            reason=NS,
            include_companies=BOOL,
            requested_by=S,
            created_at=TS,
            updated_at=TS,
            finished_at=NTS,
            phase={"enum": ["contact", "company"]},
            **job_counts,
            moved_by_owner={"type": "object", "additionalProperties": INT, "description": "records moved per owner"},
            failures=INT,
            last_error=NS,
        ),
        "SegmentInput": _closed(["name", "entity", "filter"], **SEGMENT_FIELDS),
        "SegmentUpdate": _closed([], **SEGMENT_FIELDS),
        "Segment": {
            **_record(SEGMENT_FIELDS, owner_id=S, created_by=S),
            "properties": {
                **_record(SEGMENT_FIELDS, owner_id=S, created_by=S)["properties"],
                "member_count": {**INT, "description": "on single answers: members the caller may see now"},
            },
        },
        "SegmentMember": {"anyOf": [_ref("Contact"), _ref("Company")]},
    }


# Duplicate checks and merge

# The fields a duplicate check reads (contacts.merging.MATCH_FIELDS); the body may carry any other
# field of the record, accepted and ignored.
MATCH_FIELDS = {
    "Contact": tuple("first_name last_name local_name email other_emails phone other_phones company_id".split()),
    "Company": tuple("name local_name tax_id email phone".split()),
}
MATCH_REASONS = ("email", "phone", "tax_id", "name_and_company", "company_name", "name")
LOOSE_TEXT = {"type": ["string", "null"], "maxLength": 500}
ALLOW_DUPLICATE = _query(
    "allow_duplicate",
    {"type": "boolean", "default": False},
    "true: create it although it is a likely duplicate of an existing record (the 409 this create would "
    "otherwise answer lists them in `matches`). Anything but true or false is a 400.",
)
DUPLICATE_NOTE = (
    "A likely duplicate of an existing record is refused with 409 and the records it matches in `matches` "
    "(see DuplicateCandidate; a match the caller may not see has a null id and record), unless "
    "`allow_duplicate=true`. Likely: the same email, phone (any format: +86 138-0013-8000, 0086..., "
    "13800138000, full-width digits) or tax id; a similar name (Western or Chinese, spacing, case, width, "
    "traditional characters, name order) at the same company; a company's same name once its legal form "
    "(Ltd, 有限公司...) is dropped."
)


def _deduplicated(operations: list) -> list:
    """The create operation of a customer collection, with its duplicate check and override."""
    for _, method, operation in operations:
        if method == "post":
            operation["parameters"].insert(0, ALLOW_DUPLICATE)
            operation["description"] = DUPLICATE_NOTE
    return operations


def _duplicate_paths() -> list:
    """Helper A: the check before entry, and merging duplicates into a survivor."""
    operations = []
    for tag, item in (("contacts", "Contact"), ("companies", "Company")):
        noun = _noun(item)
        found = _obj(["data"], data={"type": "array", "items": _ref("DuplicateCandidate"), "maxItems": 10})
        operations.append(
            _operation(
                "post",
                f"/{tag}/duplicates",
                tag,
                f"The existing {tag} a new {noun} would duplicate",
                {200: _json(found)},
                body=f"{item}DuplicateCheck",
                errors=(403,),
                idempotent=False,
                description="Send the body you are about to create (any of its fields; the matching ones are read: "
                f"{', '.join(MATCH_FIELDS[item])}). Up to 10 candidates, likely duplicates (`strong`) first, then "
                "by score: those the caller sees with their record; likely duplicates the caller may not see "
                "with a null id and record (a create would be refused by them too); weaker ones only when "
                "visible. 403 for roles that do not create customers.",
            )
        )
        merge = _operation(
            "post",
            f"/{tag}/{{id}}/merge",
            tag,
            f"Merge duplicates into this {noun}",
            {200: _json(_ref(item), f"The surviving {noun}", ("ETag",))},
            body="MergeRequest",
            errors=(403, 412),
            description=f"In one transaction: this {noun} (the survivor) keeps its values and fills its empty "
            "fields from the duplicates (in the order given); tags, interests, addresses and shares are unioned, "
            "custom fields and preferences merged (the survivor wins), a contact's other emails and phones take "
            "the duplicates' different ones, and the duplicates' owners are added to `shared_with`. Every "
            "branch moves: interactions, timeline entries (the survivor's timeline shows the whole history), "
            "service-desk links, deal counts, and for companies their contacts. The duplicates are deleted "
            "(their history stays, ending with 'Merged into <id>'). Sales, the service desk, notifications and "
            f"search re-point their references on `{noun}_merged`. The caller must be able to change the "
            "survivor and every duplicate: 404 for one out of reach, 403 for one they may not change (the pool "
            "is merged by managers and admins). If-Match applies to the survivor.",
        )
        merge[2]["parameters"].insert(0, _param("ifMatch"))
        operations.append(merge)
    return operations


def _duplicate_schemas() -> dict:
    def check(item: str, fields: dict) -> dict:
        loose = {name: LOOSE_TEXT for name in MATCH_FIELDS[item]}
        for name in ("other_emails", "other_phones"):
            if name in loose:
                loose[name] = {"type": ["array", "null"], "items": {"type": "string"}, "maxItems": 50}
        props = {name: {"description": "accepted and ignored"} for name in fields} | loose
        return {
            **_closed([], **props),
            "anyOf": _any_given(*(n for n in MATCH_FIELDS[item] if not n.startswith("other_"))),
            "description": "Matching fields are read loosely (full-width characters, spaces and any phone "
            "format are normalised); an unknown field or a matching field of the wrong type is a 422.",
        }

    return {
        "ContactDuplicateCheck": check("Contact", CONTACT_FIELDS),
        "CompanyDuplicateCheck": check("Company", COMPANY_FIELDS),
        "DuplicateCandidate": _obj(
            ["id", "score", "reasons", "strong", "record"],
            id={**NS, "description": "null: a likely duplicate the caller may not see"},
            score={"type": "number", "minimum": 0, "maximum": 1},
            reasons={"type": "array", "items": {"enum": list(MATCH_REASONS)}},
            strong={**BOOL, "description": "a likely duplicate: it makes a create answer 409"},
            record={
                "anyOf": [_ref("Contact"), _ref("Company"), {"type": "null"}],
                "description": "the matching record as the caller may read it; null when they may not",
            },
        ),
        "MergeRequest": _closed(
            ["duplicate_ids"],
            duplicate_ids={
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 64},
                "minItems": 1,
                "maxItems": 20,
                "uniqueItems": True,
                "description": "the records merged into this one (not this one itself)",
            },
        ),
    }


def _resource_paths() -> list:
    from .openapi_notifications import notifications_paths  # deferred: openapi_notifications builds on this module
    from .openapi_sales import sales_paths  # deferred: likewise
    from .openapi_search import search_paths  # deferred: likewise
    from .openapi_service_desk import service_desk_paths  # deferred: likewise

    html_page = {"description": "HTML", "headers": (), "content": {"text/html": {"schema": S}}}
    return [
        *_deduplicated(
            _collection("companies", "/companies", "Company", "CompanyInput", _equals("owner_id", "industry", "name"))
        ),
        *_item(
            "companies",
            "/companies/{id}",
            "Company",
            "CompanyUpdate",
            deletable=True,
            as_of=True,
            descriptions=CUSTOMER_NOTES,
        ),
        _timeline("companies", "/companies/{id}/timeline", "company"),
        *_deduplicated(
            _collection(
                "contacts",
                "/contacts",
                "Contact",
                "ContactInput",
                _equals("owner_id", "company_id", "email", lifecycle_stage={"enum": list(LIFECYCLE_STAGES)}),
            )
        ),
        *_item(
            "contacts",
            "/contacts/{id}",
            "Contact",
            "ContactUpdate",
            deletable=True,
            as_of=True,
            descriptions=CUSTOMER_NOTES,
        ),
        _timeline("contacts", "/contacts/{id}/timeline", "contact"),
        *_duplicate_paths(),
        *_personal_data_paths(),
        *_pool_paths(),
        *_transfer_paths(),
        *_collection(
            "interactions",
            "/interactions",
            "Interaction",
            "InteractionInput",
            _equals(
                "contact_id",
                "company_id",
                "owner_id",
                "logged_by",
                kind={"enum": list(INTERACTION_KINDS)},
                direction={"enum": list(DIRECTIONS)},
            ),
            descriptions={
                "get": "Newest first (by occurred_at) unless sorted; cursor-paged; those of the customers the caller "
                "sees. The other query parameters documented here are equality filters on their field.",
                "post": "Log a call, email, meeting, chat, visit, web visit or note with a contact or a company the "
                "caller sees (422 otherwise). It is seen by who sees its customer: it takes the customer's owner_id "
                "and shared_with, and follows them when the customer changes hands. It goes onto the contact's and "
                "the company's timelines and moves their last_activity_at. Viewers and support agents get a 403.",
            },
        ),
        *_item(
            "interactions",
            "/interactions/{id}",
            "Interaction",
            "InteractionUpdate",
            deletable=True,
            descriptions={
                "patch": "contact_id and company_id cannot change (422): an interaction stays with its customer. "
                "403 unless the caller logged it or is a manager or an admin.",
                "delete": "403 unless the caller logged it or is a manager or an admin. The timelines keep its entry "
                "and add who deleted it.",
            },
        ),
        *_collection(
            "custom fields",
            "/custom-fields",
            "CustomField",
            "CustomFieldInput",
            [],
            create_errors=(403, 409),
            query=_equals(entity={"enum": list(CUSTOM_FIELD_ENTITIES)}, active=BOOL),
            descriptions={
                "get": "Every definition, retired ones too unless `active` says otherwise, by entity then key, in "
                "one page: next_cursor is always null. No sort or filter parameters.",
                "post": "Admins only (403). 409 when the entity already has a field with this key, a retired one "
                "included (make that one active again instead). Records carry the values in custom_fields.<key>, "
                "and lists filter on them the same way.",
            },
        ),
        *_item(
            "custom fields",
            "/custom-fields/{id}",
            "CustomField",
            "CustomFieldUpdate",
            deletable=True,
            removal="Retire",
            descriptions={
                "patch": "Admins only (403). entity, key and type are fixed (422). `active: true` brings a retired "
                "field back.",
                "delete": "Admins only (403). Sets active to false: records keep their values, new writes may no "
                "longer set it. PATCH `active: true` brings it back.",
            },
        ),
        *sales_paths(),
        *service_desk_paths(),
        *notifications_paths(),
        *search_paths(),
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
    from .openapi_notifications import notifications_schemas  # deferred: openapi_notifications builds on this module
    from .openapi_sales import sales_schemas  # deferred: likewise
    from .openapi_search import search_schemas  # deferred: likewise
    from .openapi_service_desk import service_desk_schemas  # deferred: likewise

    problem = _obj(
        ["type", "title", "status", "detail"],
        type=S,
        title=S,
        status=INT,
        detail=S,
        instance=S,
        errors={"type": "array", "items": _obj(["field", "message"], field=S, message=S)},
        matches={
            "type": "array",
            "items": {"anyOf": [_ref("DuplicateCandidate"), {"type": "object"}]},
            "description": "on a 409 for a likely duplicate: the records it matches (DuplicateCandidate); on "
            "another conflict (a name or period taken, a rating given already): the records it collides with",
        },
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
        "CompanyInput": _closed(["name"], **_customer_body(COMPANY_FIELDS, "company")),
        "CompanyUpdate": _closed([], **_customer_body(COMPANY_FIELDS, "company", merged=True)),
        "Company": _record(COMPANY_FIELDS, **CUSTOMER_SERVER),
        "ContactInput": {
            **_closed([], **_customer_body(CONTACT_FIELDS, "contact")),
            "anyOf": NAMED,
            "description": "A name or an email is required",
        },
        "ContactUpdate": _closed([], **_customer_body(CONTACT_FIELDS, "contact", merged=True)),
        "Contact": _record(
            CONTACT_FIELDS,
            **CUSTOMER_SERVER,
            display_name=S,
            lead_score={
                "type": ["integer", "null"],
                "description": "from sales' lead scoring (GET /contacts/{id}/lead-score explains it), else null",
            },
            lifecycle_history={
                "type": "array",
                "description": "every stage the contact went through, oldest first",
                "items": _obj(
                    ["stage", "from_stage", "at", "by"],
                    stage={"enum": list(LIFECYCLE_STAGES)},
                    from_stage={"enum": [*LIFECYCLE_STAGES, None]},
                    at=TS,
                    by=S,
                ),
            },
        ),
        "InteractionInput": {
            **_closed(["kind"], **INTERACTION_FIELDS),
            "anyOf": LINKED,
            "description": "A contact_id or a company_id is required",
        },
        "InteractionUpdate": _closed([], **_subset(INTERACTION_FIELDS, INTERACTION_UPDATABLE)),
        "Interaction": _record(
            {**INTERACTION_FIELDS, "occurred_at": TS},
            owner_id={**NS, "description": "its customer's owner: who sees the customer sees the interaction"},
            shared_with={**STRINGS, "description": "its customer's shares"},
            logged_by={**S, "description": "who logged it: they, managers and admins may change it"},
        ),
        "CustomFieldInput": _closed(["entity", "key", "label", "type"], **CUSTOM_FIELD_FIELDS),
        "CustomFieldUpdate": _closed(
            [],
            **_subset(CUSTOM_FIELD_FIELDS, CUSTOM_FIELD_UPDATABLE),
            active={**BOOL, "description": "false retires the field (as DELETE does), true brings it back"},
        ),
        "CustomField": _record(
            CUSTOM_FIELD_FIELDS,
            active={**BOOL, "description": "false: retired; records keep their values, writes may not set it"},
            created_by=S,
        ),
        **sales_schemas(),
        **service_desk_schemas(),
        "TimelineEntry": _obj(
            ["id", "kind", "occurred_at", "source", "summary", "ref"],
            id=S,
            kind=S,
            occurred_at=TS,
            source=S,
            summary=S,
            ref=REF,
        ),
        **notifications_schemas(),
        **search_schemas(),
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
    schemas.update(_duplicate_schemas())
    schemas.update(_personal_data_schemas())
    schemas.update(_pool_schemas())
    schemas.update(_transfer_schemas())
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
