"""Idempotency-Key on POST: the same key with the same request gets the first response again.

Keys are scoped to the credential that sent them and kept for IDEMPOTENCY_TTL_SECONDS (24 h).
A response of 5xx is not kept, so a retry after an outage reaches the service again. The scoped key
(credential, key, method, path) also travels to the services in the RPC context as
`idempotency_key` (see rpc.request_context_data), and a service runs a keyed call that wrote at
most once, answering a retry with the first result (crm_common/runtime/idempotency.py): a retry
after a reply lost AFTER the write gets the first result instead of writing again. Endpoints that
hand out secrets (tokens, API keys) never store their responses and ignore the header.
"""

import hashlib
import json
import logging
import random
import re
import time

from flask import Flask, Response, current_app, g, request

from crm_common.config import int_setting
from crm_common.errors import BadRequest, Conflict, CrmError, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore

from .identity.store import IDEMPOTENCY

log = logging.getLogger("gateway.idempotency")
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
SECRET_ENDPOINTS = frozenset({"identity.issue_token", "identity.refresh_token", "identity.create_api_key"})
KEPT_HEADERS = ("Location", "ETag", "Content-Type")
PRUNE_CHANCE = 0.01  # about one keyed POST in a hundred also removes up to 200 expired keys


class Idempotency:
    def __init__(self, store: DocumentStore):
        self.store = store
        self.ttl = int_setting("IDEMPOTENCY_TTL_SECONDS", 24 * 3600)
        # A reservation older than this belongs to a request that died; a retry may take it over.
        self.stale_after = int_setting("IDEMPOTENCY_PENDING_SECONDS", 60)

    def begin(self, record_id: str, fingerprint: str) -> Response | None:
        """Reserve the key, or return the response to replay. Raises on a reused or busy key."""
        if random.random() < PRUNE_CHANCE:
            self.prune()
        now = time.time()
        reservation = {"id": record_id, "fingerprint": fingerprint, "state": "pending", "created_epoch": now}
        with self.store.transaction() as tx:
            existing = tx[IDEMPOTENCY].get(record_id)
            if existing is None:
                tx[IDEMPOTENCY].insert(reservation)
                return None
            expired = now - existing["created_epoch"] > self.ttl
            abandoned = existing["state"] == "pending" and now - existing["created_epoch"] > self.stale_after
            if expired or abandoned:
                tx[IDEMPOTENCY].replace(reservation, existing["version"])
                return None
        if existing["fingerprint"] != fingerprint:
            raise ValidationFailed(
                "this Idempotency-Key was used with a different request",
                [{"field": "Idempotency-Key", "message": "reused with a different method, path or body"}],
            )
        if existing["state"] == "pending":
            raise Conflict("a request with this Idempotency-Key is still in progress; retry later")
        replay = Response(existing["body"], status=existing["status"])
        for name, value in existing["headers"].items():
            replay.headers[name] = value
        replay.headers["Idempotent-Replayed"] = "true"
        return replay

    def finish(self, record_id: str, response: Response) -> None:
        if response.status_code >= 500:
            self.store[IDEMPOTENCY].delete(record_id)
            return
        current = self.store[IDEMPOTENCY].get(record_id)
        if current is None:
            return
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        done = {**current, "state": "done", "status": response.status_code, "headers": kept}
        done["body"] = response.get_data(as_text=True)
        try:
            self.store[IDEMPOTENCY].replace(done, current["version"])
        except (PreconditionFailed, NotFound):
            pass  # taken over as abandoned meanwhile: the newer request owns the key now

    def prune(self) -> None:
        cutoff = time.time() - self.ttl
        for record in self.store[IDEMPOTENCY].find({"created_epoch": {"$lt": cutoff}}, limit=200).items:
            try:
                self.store[IDEMPOTENCY].delete(record["id"], record["version"])
            except PreconditionFailed:
                pass  # reused meanwhile: it is fresh again


def _begin():
    key = request.headers.get("Idempotency-Key")
    if key is None or request.method != "POST" or "principal" not in g or request.endpoint in SECRET_ENDPOINTS:
        return None
    if not KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters")
    scope = f"{g.principal.rate_key}\n{key}".encode()
    record_id = hashlib.sha256(scope).hexdigest()
    fingerprint = hashlib.sha256(
        json.dumps([request.method, request.full_path, request.get_data(as_text=True)]).encode()
    ).hexdigest()
    replay = current_app.extensions["idempotency"].begin(record_id, fingerprint)
    if replay is None:
        g.idempotency_record = record_id
        # The services see the key too (rpc.request_context_data), scoped to this credential,
        # method and path: they are the source of truth once this reservation is gone (a 5xx).
        service_scope = f"{g.principal.rate_key}\n{key}\n{request.method}\n{request.path}".encode()
        g.idempotency_rpc_key = hashlib.sha256(service_scope).hexdigest()
    return replay


def _finish(response: Response) -> Response:
    record_id = g.pop("idempotency_record", None)
    if record_id is not None:
        try:
            current_app.extensions["idempotency"].finish(record_id, response)
        except CrmError:
            # The write already happened: answer it. A retry meets the pending key (409) until
            # IDEMPOTENCY_PENDING_SECONDS pass, then runs again.
            log.error("idempotency record %s not finished", record_id, exc_info=True)
    return response


def register(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_finish)
