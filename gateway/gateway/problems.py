"""RFC 9457 problem+json responses for every error the gateway returns."""

import logging

from flask import Response, json, request
from werkzeug.exceptions import HTTPException

from crm_common.errors import CrmError, ServiceUnavailable, TooManyRequests, Unauthorized

from .rpc import RemoteFailure

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://crm.example/problems/"


def problem_response(status: int, title: str, detail: str = "", headers: dict | None = None, **extra) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        **extra,
    }
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_crm_error(error: CrmError) -> Response:
    body = error.problem()
    headers = None
    if isinstance(error, ServiceUnavailable):
        headers = {"Retry-After": "5"}
    elif isinstance(error, TooManyRequests):
        headers = {"Retry-After": str(error.retry_after)}
    elif isinstance(error, Unauthorized):
        headers = {"WWW-Authenticate": 'Bearer realm="crm"'}
    return problem_response(body.pop("status"), body.pop("title"), body.pop("detail"), headers, **body)


def from_http_exception(error: HTTPException) -> Response:
    headers = {k: v for k, v in error.get_headers() if k.lower() == "allow"}
    detail = error.description or ""
    if error.code == 400 and "JSON" in detail:
        detail = "the request body is not valid JSON"
    return problem_response(error.code or 500, error.name, detail, headers)


def from_unexpected(error: Exception) -> Response:
    # A bug, not the client's doing: log it with the request id, say nothing internal.
    kind = "a service failed" if isinstance(error, RemoteFailure) else "the gateway failed"
    log.error("unhandled error: %s", error, exc_info=error)
    return problem_response(500, "Internal error", f"{kind}; the request id identifies it in the logs")


def register(app) -> None:
    app.register_error_handler(CrmError, from_crm_error)
    app.register_error_handler(HTTPException, from_http_exception)
    app.register_error_handler(Exception, from_unexpected)
