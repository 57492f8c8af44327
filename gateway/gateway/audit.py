"""The audit log: every write through the gateway (who, when, what, from which request id).

An entry is written after the response is built, whatever its status, so refused and failed
attempts are on record too. Secrets in bodies are masked. If the gateway store cannot take the
entry, the write has already happened: the entry goes to the error log and
`crm_audit_write_failures_total` counts it.
"""

import logging

from flask import Flask, Response, current_app, g, request
from prometheus_client import Counter
from werkzeug.exceptions import HTTPException

from crm_common.errors import CrmError
from crm_common.ids import new_id, utc_now
from crm_common.store import DocumentStore

from .identity.store import AUDIT

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SECRET_FIELDS = frozenset({"password", "current_password", "new_password", "refresh_token", "access_token", "key"})
WRITE_FAILURES = Counter("crm_audit_write_failures", "Audit entries the gateway store did not take")

log = logging.getLogger("gateway.audit")


def _masked(value):
    if isinstance(value, dict):
        return {k: "***" if k in SECRET_FIELDS else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _record_id(response: Response) -> str | None:
    ids = [v for k, v in (request.view_args or {}).items() if k.endswith("_id")]
    if ids:
        return ids[0]
    if response.status_code == 201 and response.is_json:
        body = response.get_json(silent=True)
        return body.get("id") if isinstance(body, dict) else None
    return None


def _body() -> dict | None:
    try:
        body = request.get_json(silent=True)
    except HTTPException:  # a body over the size limit: the answer is already a 413
        return None
    return _masked(body) if isinstance(body, dict) else None


def entry_for(response: Response) -> dict:
    who = g.get("principal")
    return {
        "id": new_id(),
        "at": utc_now(),
        "actor_id": who.user["id"] if who else None,
        "api_key_id": who.credential_id if who and who.kind == "api_key" else None,
        "method": request.method,
        "path": request.path,
        "resource": request.path.removeprefix("/api/v1/").split("/")[0],
        "record_id": _record_id(response),
        "status": response.status_code,
        "request_id": g.get("request_id"),
        "changes": _body(),
    }


def _record(response: Response) -> Response:
    if request.method in SAFE_METHODS or request.blueprint not in ("api", "identity"):
        return response
    entry = entry_for(response)
    try:
        current_app.extensions["audit_store"][AUDIT].insert(entry)
    except CrmError:
        WRITE_FAILURES.inc()
        log.error("audit entry not stored", extra={"audit": entry})
    return response


def list_query_filter(args: dict) -> dict:
    """user_id, record_id, since and until from the query string, as a store filter."""
    clauses = []
    if args.get("user_id"):
        clauses.append({"actor_id": args["user_id"]})
    if args.get("record_id"):
        clauses.append({"record_id": args["record_id"]})
    if args.get("since"):
        clauses.append({"at": {"$gte": args["since"]}})
    if args.get("until"):
        clauses.append({"at": {"$lt": args["until"]}})
    return {"$and": clauses} if clauses else {}


def register(app: Flask, store: DocumentStore) -> None:
    app.extensions["audit_store"] = store
    app.after_request(_record)
