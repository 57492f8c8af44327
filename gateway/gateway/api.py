"""The /api/v1 routes: each one authenticates, then calls the owning service over RPC."""

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from crm_common.errors import BadRequest, NotFound, PreconditionFailed

from .auth import current_caller, require_admin
from .openapi import docs_page, openapi_document

blueprint = Blueprint("api", __name__)

LIST_PARAMS = ("limit", "cursor", "sort")
SERVICES_WITH_DEAD_LETTERS = ("contacts", "sales", "service_desk", "notifications", "search")


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
        except ValueError:
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
    response = jsonify(resource)
    response.status_code = status
    response.set_etag(str(resource.get("version", "")))
    if location:
        response.headers["Location"] = location
    return response


def collection(page: dict) -> Response:
    return jsonify(page)


# Resources that follow the create / get / list / update (/ delete) pattern:
# path -> (service, noun, deletable).
RESOURCES = {
    "companies": ("contacts", "company", True),
    "contacts": ("contacts", "contact", True),
    "deals": ("sales", "deal", False),
    "tickets": ("service_desk", "ticket", False),
}


def _register(path: str, service: str, noun: str, deletable: bool) -> None:
    plural = path

    def create():
        resource = call(service, f"create_{noun}", data=json_body())
        return single(resource, 201, url_for(f"api.get_{noun}", resource_id=resource["id"]))

    def list_all():
        return collection(call(service, f"list_{plural}", query=list_query()))

    def get(resource_id: str):
        return single(call(service, f"get_{noun}", **{f"{noun}_id": resource_id}))

    def update(resource_id: str):
        changes = {f"{noun}_id": resource_id, "data": json_body(), "expected_version": expected_version()}
        return single(call(service, f"update_{noun}", **changes))

    def delete(resource_id: str):
        call(service, f"delete_{noun}", **{f"{noun}_id": resource_id, "expected_version": expected_version()})
        return Response(status=204)

    blueprint.add_url_rule(f"/{path}", f"create_{noun}", create, methods=["POST"])
    blueprint.add_url_rule(f"/{path}", f"list_{plural}", list_all, methods=["GET"])
    blueprint.add_url_rule(f"/{path}/<resource_id>", f"get_{noun}", get, methods=["GET"])
    blueprint.add_url_rule(f"/{path}/<resource_id>", f"update_{noun}", update, methods=["PATCH"])
    if deletable:
        blueprint.add_url_rule(f"/{path}/<resource_id>", f"delete_{noun}", delete, methods=["DELETE"])


for _path, (_service, _noun, _deletable) in RESOURCES.items():
    _register(_path, _service, _noun, _deletable)


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


# --- lead: interactions, custom fields, timeline ---


# --- helper A: duplicates and merge ---


# --- helper B: pool and segments ---


# --- helper C: imports and exports ---


# --- helper D: personal data ---


@blueprint.get("/pipelines")
def list_pipelines():
    return collection(call("sales", "list_pipelines"))


@blueprint.get("/pipelines/<pipeline_id>")
def get_pipeline(pipeline_id: str):
    return single(call("sales", "get_pipeline", pipeline_id=pipeline_id))


@blueprint.get("/notifications")
def list_notifications():
    return collection(call("notifications", "list_notifications", query=request.args.to_dict()))


@blueprint.get("/search")
def search():
    return jsonify(call("search", "search", query=request.args.to_dict()))


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
