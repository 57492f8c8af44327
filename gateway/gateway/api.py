"""The /api/v1 routes: each one authenticates, then calls the owning service over RPC."""

import codecs
import contextlib
import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import UnsupportedMediaType

from crm_common.access import CUSTOMER_WRITERS
from crm_common.errors import BadRequest, NotFound, PreconditionFailed, ValidationFailed
from crm_common.listing import BOOLEAN_PARAMS

from . import uploads
from .auth import current_caller, require_admin
from .identity.store import USERS
from .openapi import docs_page, openapi_document

blueprint = Blueprint("api", __name__)

LIST_PARAMS = ("limit", "cursor", "sort")
SERVICES_WITH_DEAD_LETTERS = ("contacts", "sales", "service_desk", "notifications", "search")
SAFE_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def call(service: str, method: str, **kwargs: Any) -> Any:
    return current_app.extensions["rpc"].call(service, method, current_caller(), **kwargs)


def json_body() -> Any:
    if not request.data:
        raise BadRequest("a JSON body is required")
    return request.get_json()  # malformed JSON raises werkzeug's 400, rendered as a problem


def list_query() -> dict:
    query: dict = {name: request.args.get(name) for name in LIST_PARAMS if request.args.get(name) is not None}
    if "filter" in request.args:
        try:
            query["filter"] = json.loads(request.args["filter"])
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep
            raise BadRequest("filter must be a JSON object; see the OpenAPI document for its grammar") from None
    where = {}
    for name in request.args:
        if name in LIST_PARAMS or name == "filter":
            continue
        values = request.args.getlist(name)
        if len(values) != 1:
            raise BadRequest(f"give {name} once; use filter with 'in' for several values")
        where[name] = values[0]
    query["where"] = where
    return query


def expected_version() -> int | None:
    """The version named by If-Match, or None when the client did not ask for a check."""
    if "If-Match" not in request.headers:
        return None
    tags = request.if_match
    if tags.star_tag:
        return None
    values = list(tags)
    if len(values) != 1 or not values[0].isdigit():
        raise PreconditionFailed("If-Match must carry the single ETag of the resource")
    return int(values[0])


def single(resource: dict, status: int = 200, location: str | None = None) -> Response:
    """A JSON answer with the resource's ETag (when it has a version) and a Location if given."""
    response = jsonify(resource)
    response.status_code = status
    if resource.get("version") is not None:
        response.set_etag(str(resource["version"]))
    if location:
        response.headers["Location"] = location
    return response


def collection(page: dict) -> Response:
    return jsonify(page)


# Resources that follow the create / get / list / update (/ delete) pattern:
# path -> (service, noun, plural noun of the list method, deletable).
RESOURCES = {
    "companies": ("contacts", "company", "companies", True),
    "contacts": ("contacts", "contact", "contacts", True),
    "interactions": ("contacts", "interaction", "interactions", True),
    "custom-fields": ("contacts", "custom_field", "custom_fields", True),
    "pipelines": ("sales", "pipeline", "pipelines", True),
    "deals": ("sales", "deal", "deals", False),
    "orders": ("sales", "order", "orders", False),
    "tasks": ("sales", "task", "tasks", True),
    "quotas": ("sales", "quota", "quotas", True),
    "lead-scoring-rules": ("sales", "lead_scoring_rule", "lead_scoring_rules", True),
    "tickets": ("service_desk", "ticket", "tickets", False),
    "sla-policies": ("service_desk", "sla_policy", "sla_policies", True),
    "business-calendars": ("service_desk", "business_calendar", "business_calendars", True),
    "notification-templates": ("notifications", "notification_template", "notification_templates", True),
    "webhooks": ("notifications", "webhook", "webhooks", True),
    "campaigns": ("notifications", "campaign", "campaigns", True),
}
# Customers answer `GET /<path>/<id>?as_of=<time>` with the record as it was then.
HISTORIED = ("company", "contact")
# Customers refuse a likely duplicate (409 with `matches`) unless `POST /<path>?allow_duplicate=true`.
DEDUPLICATED = ("company", "contact")


def _register(path: str, service: str, noun: str, plural: str, deletable: bool) -> None:
    key = f"{noun}_id"

    def create():
        override = {"allow_duplicate": allow_duplicate()} if noun in DEDUPLICATED else {}
        resource = call(service, f"create_{noun}", data=json_body(), **override)
        return single(resource, 201, url_for(f"api.get_{noun}", resource_id=resource["id"]))

    def list_all():
        return collection(call(service, f"list_{plural}", query=list_query()))

    def get(resource_id: str):
        as_of = {"as_of": request.args["as_of"]} if noun in HISTORIED and "as_of" in request.args else {}
        return single(call(service, f"get_{noun}", **{key: resource_id}, **as_of))

    def update(resource_id: str):
        changes = {key: resource_id, "data": json_body(), "expected_version": expected_version()}
        return single(call(service, f"update_{noun}", **changes))

    def delete(resource_id: str):
        call(service, f"delete_{noun}", **{key: resource_id, "expected_version": expected_version()})
        return Response(status=204)

    blueprint.add_url_rule(f"/{path}", f"create_{noun}", create, methods=["POST"])
    blueprint.add_url_rule(f"/{path}", f"list_{plural}", list_all, methods=["GET"])
    blueprint.add_url_rule(f"/{path}/<resource_id>", f"get_{noun}", get, methods=["GET"])
    blueprint.add_url_rule(f"/{path}/<resource_id>", f"update_{noun}", update, methods=["PATCH"])
    if deletable:
        blueprint.add_url_rule(f"/{path}/<resource_id>", f"delete_{noun}", delete, methods=["DELETE"])


for _path, (_service, _noun, _plural, _deletable) in RESOURCES.items():
    _register(_path, _service, _noun, _plural, _deletable)


@blueprint.get("/contacts/<resource_id>/timeline")
def contact_timeline(resource_id: str):
    return collection(
        call("contacts", "get_timeline", subject_type="contact", subject_id=resource_id, query=request.args.to_dict())
    )


@blueprint.get("/companies/<resource_id>/timeline")
def company_timeline(resource_id: str):
    return collection(
        call("contacts", "get_timeline", subject_type="company", subject_id=resource_id, query=request.args.to_dict())
    )


# Duplicate checks and merge


def allow_duplicate() -> bool:
    """`?allow_duplicate=true`: create the customer although it is a likely duplicate."""
    raw = request.args.get("allow_duplicate", "false")
    if raw not in BOOLEAN_PARAMS or len(request.args.getlist("allow_duplicate")) > 1:
        raise BadRequest("allow_duplicate must be true or false, given once")
    return BOOLEAN_PARAMS[raw]


def _merge(subject_type: str, survivor_id: str) -> Response:
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
    unknown = [{"field": k, "message": "is not a known field"} for k in body if k != "duplicate_ids"]
    if unknown or "duplicate_ids" not in body:
        missing = [] if "duplicate_ids" in body else [{"field": "duplicate_ids", "message": "is required"}]
        raise ValidationFailed(f"{len(unknown + missing)} invalid field(s)", unknown + missing)
    survivor = call(
        "contacts",
        "merge_records",
        subject_type=subject_type,
        survivor_id=survivor_id,
        duplicate_ids=body["duplicate_ids"],
        expected_version=expected_version(),
    )
    return single(survivor)


@blueprint.post("/contacts/duplicates")
def contact_duplicates():
    return jsonify(call("contacts", "find_duplicates", subject_type="contact", data=json_body()))


@blueprint.post("/companies/duplicates")
def company_duplicates():
    return jsonify(call("contacts", "find_duplicates", subject_type="company", data=json_body()))


@blueprint.post("/contacts/<resource_id>/merge")
def merge_contacts(resource_id: str):
    return _merge("contact", resource_id)


@blueprint.post("/companies/<resource_id>/merge")
def merge_companies(resource_id: str):
    return _merge("company", resource_id)


# The customer pool, hand-over and segments


POOL_OWNER_ROLES = CUSTOMER_WRITERS  # who may own customers: a hand-over or assignment gives only to them


def _body_object(required: bool, allowed: tuple[str, ...]) -> dict:
    """A JSON object body with only `allowed` keys (an empty body reads as {} when not required)."""
    body = json_body() if required or request.data else {}
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
    unknown = [{"field": k, "message": "is not a known field"} for k in body if k not in allowed]
    if unknown:
        raise ValidationFailed(f"{len(unknown)} invalid field(s)", unknown)
    return body


def _check_new_owner(field: str, user_id) -> None:
    """The gateway owns the users: a customer goes only to an active user who may own customers."""
    if not isinstance(user_id, str) or not user_id:
        return  # the service reports the malformed value
    user = current_app.extensions["directory"].store[USERS].get(user_id)
    if user is None or not user.get("active", True) or not set(user.get("roles", ())) & set(POOL_OWNER_ROLES):
        raise ValidationFailed(
            "unknown owner", [{"field": field, "message": f"{user_id} is not an active user who may own customers"}]
        )


@blueprint.get("/pool")
def list_pool():
    return collection(call("contacts", "list_pool", query=list_query()))


@blueprint.post("/contacts/<resource_id>/claim")
def claim_contact(resource_id: str):
    _body_object(False, ())
    return single(call("contacts", "claim_contact", contact_id=resource_id))


@blueprint.post("/contacts/<resource_id>/release")
def release_contact(resource_id: str):
    body = _body_object(False, ("reason",))
    return single(call("contacts", "release_contact", contact_id=resource_id, reason=body.get("reason")))


@blueprint.post("/contacts/<resource_id>/assign")
def assign_contact(resource_id: str):
    body = _body_object(True, ("owner_id", "reason"))
    if "owner_id" not in body:
        raise ValidationFailed("1 invalid field(s)", [{"field": "owner_id", "message": "is required"}])
    _check_new_owner("owner_id", body["owner_id"])
    return single(
        call("contacts", "assign_contact", contact_id=resource_id, owner_id=body["owner_id"], reason=body.get("reason"))
    )


@blueprint.post("/contacts/assign")
def hand_over_contacts():
    """Bulk: every customer of one owner (a rep who leaves) spread over others, as a job."""
    body = _body_object(True, ("from_owner_id", "to_owner_ids", "reason", "include_companies"))
    missing = [{"field": k, "message": "is required"} for k in ("from_owner_id", "to_owner_ids") if k not in body]
    if missing:
        raise ValidationFailed(f"{len(missing)} invalid field(s)", missing)
    if isinstance(body["to_owner_ids"], list):
        for user_id in body["to_owner_ids"][:50]:
            _check_new_owner("to_owner_ids", user_id)
    job = call(
        "contacts",
        "hand_over",
        from_owner_id=body["from_owner_id"],
        to_owner_ids=body["to_owner_ids"],
        reason=body.get("reason"),
        include_companies=body.get("include_companies", True),
    )
    return single(job, 202, url_for("api.get_hand_over", hand_over_id=job["id"]))


@blueprint.get("/hand-overs/<hand_over_id>")
def get_hand_over(hand_over_id: str):
    return single(call("contacts", "get_hand_over", hand_over_id=hand_over_id))


@blueprint.get("/pool/settings")
def get_pool_settings():
    return single(call("contacts", "get_pool_settings"))


@blueprint.patch("/pool/settings")
def update_pool_settings():
    return single(call("contacts", "update_pool_settings", data=json_body(), expected_version=expected_version()))


@blueprint.get("/pool/rules")
def list_reclaim_rules():
    return collection(call("contacts", "list_reclaim_rules", query=list_query()))


@blueprint.post("/pool/rules")
def create_reclaim_rule():
    rule = call("contacts", "create_reclaim_rule", data=json_body())
    return single(rule, 201, url_for("api.get_reclaim_rule", rule_id=rule["id"]))


@blueprint.get("/pool/rules/<rule_id>")
def get_reclaim_rule(rule_id: str):
    return single(call("contacts", "get_reclaim_rule", rule_id=rule_id))


@blueprint.patch("/pool/rules/<rule_id>")
def update_reclaim_rule(rule_id: str):
    changes = {"rule_id": rule_id, "data": json_body(), "expected_version": expected_version()}
    return single(call("contacts", "update_reclaim_rule", **changes))


@blueprint.delete("/pool/rules/<rule_id>")
def delete_reclaim_rule(rule_id: str):
    call("contacts", "delete_reclaim_rule", rule_id=rule_id, expected_version=expected_version())
    return Response(status=204)


@blueprint.post("/pool/reclaim-runs")
def run_reclaim():
    _body_object(False, ())
    return jsonify(call("contacts", "run_reclaim"))


@blueprint.get("/segments")
def list_segments():
    return collection(call("contacts", "list_segments", query=list_query()))


@blueprint.post("/segments")
def create_segment():
    segment = call("contacts", "create_segment", data=json_body())
    return single(segment, 201, url_for("api.get_segment", segment_id=segment["id"]))


@blueprint.get("/segments/<segment_id>")
def get_segment(segment_id: str):
    return single(call("contacts", "get_segment", segment_id=segment_id))


@blueprint.patch("/segments/<segment_id>")
def update_segment(segment_id: str):
    changes = {"segment_id": segment_id, "data": json_body(), "expected_version": expected_version()}
    return single(call("contacts", "update_segment", **changes))


@blueprint.delete("/segments/<segment_id>")
def delete_segment(segment_id: str):
    call("contacts", "delete_segment", segment_id=segment_id, expected_version=expected_version())
    return Response(status=204)


@blueprint.get("/segments/<segment_id>/members")
def list_segment_members(segment_id: str):
    return collection(call("contacts", "list_segment_members", segment_id=segment_id, query=list_query()))


# CSV imports and exports

# Requests whose body may reach GATEWAY_MAX_UPLOAD_BYTES instead of GATEWAY_MAX_BODY_BYTES (app.py).
UPLOAD_ENDPOINTS = frozenset({"api.create_import"})
IMPORT_OPTIONS = ("entity", "mapping", "dedupe", "dry_run", "delimiter", "encoding")
CSV_TYPES = ("text/csv", "application/csv", "text/plain")
DELIMITER_NAMES = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def _import_options(given: dict[str, str]) -> tuple[dict, str | None]:
    """The import options from form fields or query parameters (all text), and the encoding."""
    unknown = [{"field": k, "message": "is not a known option"} for k in given if k not in IMPORT_OPTIONS]
    if unknown:
        raise ValidationFailed(f"{len(unknown)} invalid option(s)", unknown)
    options: dict[str, Any] = {k: v for k, v in given.items() if k in ("entity", "dedupe")}
    if "mapping" in given:
        try:
            options["mapping"] = json.loads(given["mapping"])
        except ValueError:
            raise ValidationFailed(
                "invalid mapping", [{"field": "mapping", "message": "must be a JSON object of column to field"}]
            ) from None
    if "dry_run" in given:
        flag = given["dry_run"].strip().lower()
        if flag not in ("true", "false", "1", "0"):
            raise ValidationFailed("invalid dry_run", [{"field": "dry_run", "message": "must be true or false"}])
        options["dry_run"] = flag in ("true", "1")
    if given.get("delimiter"):
        options["delimiter"] = DELIMITER_NAMES.get(given["delimiter"].lower(), given["delimiter"])
    return options, given.get("encoding") or None


def _uploaded_csv() -> tuple[str, dict]:
    """The CSV text and the import options of a multipart form (`file` plus option fields) or
    of a raw CSV body (options as query parameters)."""
    if request.mimetype == "multipart/form-data":
        if set(request.files) - {"file"} or "file" not in request.files:
            raise ValidationFailed("no file", [{"field": "file", "message": "send the CSV as the form part `file`"}])
        upload = request.files["file"]
        options, encoding = _import_options(request.form.to_dict())
        if upload.filename:
            options["file_name"] = upload.filename[-255:]
        return uploads.decode_csv(upload.read(), encoding), options
    if request.mimetype in CSV_TYPES:
        options, encoding = _import_options(request.args.to_dict())
        return uploads.decode_csv(request.get_data(), encoding), options
    raise UnsupportedMediaType("send the CSV as multipart/form-data (part `file`) or as a text/csv body")


@blueprint.post("/imports")
def create_import():
    """Upload a CSV: checked at once (mapping, options, header), then imported in the background."""
    text, options = _uploaded_csv()
    parts = uploads.split_records(text, uploads.PART_CHARS)
    job = call("contacts", "create_import", options=options, csv_text=parts[0], complete=len(parts) == 1)
    try:
        for number, part in enumerate(parts[1:], 1):
            job = call(
                "contacts",
                "append_import_rows",
                import_id=job["id"],
                part=number,
                csv_text=part,
                complete=number == len(parts) - 1,
            )
    except Exception:
        # A half-uploaded import must not linger; the service also fails it after a timeout.
        with contextlib.suppress(Exception):
            call("contacts", "cancel_import", import_id=job["id"])
        raise
    return single(job, 202, url_for("api.get_import", import_id=job["id"]))


@blueprint.get("/imports")
def list_imports():
    return collection(call("contacts", "list_imports", query=list_query()))


@blueprint.get("/imports/<import_id>")
def get_import(import_id: str):
    return single(call("contacts", "get_import", import_id=import_id))


@blueprint.get("/imports/<import_id>/errors")
def list_import_errors(import_id: str):
    query = {name: request.args[name] for name in ("limit", "cursor") if name in request.args}
    return collection(call("contacts", "list_import_errors", import_id=import_id, query=query))


@blueprint.post("/imports/<import_id>/cancel")
def cancel_import(import_id: str):
    return single(call("contacts", "cancel_import", import_id=import_id))


@blueprint.post("/exports")
def create_export():
    job = call("contacts", "create_export", options=json_body())
    return single(job, 202, url_for("api.get_export", export_id=job["id"]))


@blueprint.get("/exports")
def list_exports():
    return collection(call("contacts", "list_exports", query=list_query()))


@blueprint.get("/exports/<export_id>")
def get_export(export_id: str):
    return single(call("contacts", "get_export", export_id=export_id))


@blueprint.post("/exports/<export_id>/cancel")
def cancel_export(export_id: str):
    return single(call("contacts", "cancel_export", export_id=export_id))


@blueprint.get("/exports/<export_id>/download")
def download_export(export_id: str):
    """The export's CSV (UTF-8 with a byte-order mark so Excel reads Chinese right; `?bom=false`
    leaves it out), streamed chunk by chunk: 409 until the export has completed."""
    bom = request.args.get("bom", "true").lower() not in ("false", "0")
    job = call("contacts", "get_export", export_id=export_id)
    first = call("contacts", "read_export_chunk", export_id=export_id, n=0)
    rpc, caller = current_app.extensions["rpc"], current_caller()

    def chunks():
        chunk = first
        if bom:
            yield codecs.BOM_UTF8
        while True:
            yield chunk["csv"].encode("utf-8")
            if chunk["next"] is None:
                return
            chunk = rpc.call("contacts", "read_export_chunk", caller, export_id=export_id, n=chunk["next"])

    name = f"{job['entity']}s-{job['created_at'][:10]}.csv"
    response = Response(chunks(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# Personal data


@blueprint.get("/contacts/<resource_id>/personal-data")
def export_personal_data(resource_id: str):
    """Everything the platform holds about the person, from every service (admins only)."""
    response = jsonify(call("contacts", "export_personal_data", contact_id=resource_id))
    # Ids are opaque: only a plain one goes into the file name as it is.
    name = resource_id if SAFE_FILE_NAME.fullmatch(resource_id) else "contact"
    response.headers["Content-Disposition"] = f'attachment; filename="personal-data-{name}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/contacts/<resource_id>/erase")
def erase_contact(resource_id: str):
    # The body is optional: `{"reason": ...}` or nothing; the contacts service validates it.
    data = request.get_json() if request.data else None
    erasure = call("contacts", "erase_contact", contact_id=resource_id, data=data)
    return single(erasure, 202, url_for("api.get_erasure", erasure_id=erasure["id"]))


@blueprint.get("/erasures")
def list_erasures():
    return collection(call("contacts", "list_erasures", query=list_query()))


@blueprint.get("/erasures/<erasure_id>")
def get_erasure(erasure_id: str):
    return single(call("contacts", "get_erasure", erasure_id=erasure_id))


@blueprint.get("/notifications")
def list_notifications():
    return collection(call("notifications", "list_notifications", query=request.args.to_dict()))


@blueprint.get("/dead-letters/<service>")
def list_dead_letters(service: str):
    require_admin()
    if service not in SERVICES_WITH_DEAD_LETTERS:
        raise NotFound(f"no service named {service}")
    return collection(
        call(service, "list_dead_letters", limit=request.args.get("limit", 50), cursor=request.args.get("cursor"))
    )


@blueprint.post("/dead-letters/<service>/<failure_id>/replay")
def replay_dead_letter(service: str, failure_id: str):
    require_admin()
    if service not in SERVICES_WITH_DEAD_LETTERS:
        raise NotFound(f"no service named {service}")
    return jsonify(call(service, "replay_dead_letter", failure_id=failure_id)), 202


@blueprint.get("/ping")
def ping():
    """Answers without any RPC: a liveness check for clients and the benchmark's baseline."""
    return jsonify(status="ok", api="v1")


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@blueprint.get("/docs")
def docs():
    return Response(docs_page(url_for("api.openapi")), mimetype="text/html")
