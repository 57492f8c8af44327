"""The gateway's Flask app factory: request ids, size limits, metrics, errors and the API routes."""

import logging
import os
import re
import time
import uuid

from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider
from prometheus_client import Counter, Histogram

from crm_common.config import DEFAULT_AMQP_URI, float_setting, int_setting
from crm_common.logs import configure_logging, set_request_id
from crm_common.metrics import LATENCY_BUCKETS
from crm_common.store import DocumentStore

from . import (  # noqa: F401 (routes)
    api,
    audit,
    auth,
    event_stream,
    idempotency,
    identity_api,
    notifications_api,
    ops,
    problems,
    sales_api,
    search_api,
    service_desk_api,
    web_ui,
)
from .identity.directory import Directory
from .identity.sessions import Authenticator
from .identity.settings import SecuritySettings, load_security_settings
from .identity.store import open_gateway_store
from .ratelimit import RateLimiter, load_limits
from .rpc import RpcPool

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HTTP_LATENCY = Histogram(
    "crm_http_request_duration_seconds",
    "Gateway request latency",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter("crm_http_requests_total", "Gateway requests", ["method", "route", "status"])

log = logging.getLogger("gateway.access")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class StrictJsonProvider(DefaultJSONProvider):
    """Python's json module reads the non-standard NaN, Infinity and -Infinity; no store keeps them,
    so a body holding one is malformed (400) like any other invalid JSON."""

    def loads(self, s, **kwargs):
        return super().loads(s, parse_constant=_refuse_constant, **kwargs)


def create_app(
    rpc: RpcPool | None = None,
    *,
    store: DocumentStore | None = None,
    security: SecuritySettings | None = None,
    max_body_bytes: int | None = None,
) -> Flask:
    """Refuses to build (ConfigError) with unsafe security settings outside development."""
    security = security or load_security_settings()
    store = store or open_gateway_store()
    app = Flask(__name__)
    app.json = StrictJsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes or int_setting("GATEWAY_MAX_BODY_BYTES", 1_048_576)
    # CSV uploads (POST /imports) alone may be larger: GATEWAY_MAX_UPLOAD_BYTES, default 50 MiB.
    app.config["MAX_UPLOAD_BYTES"] = int_setting("GATEWAY_MAX_UPLOAD_BYTES", 50 * 1_048_576)
    app.config["ACCESS_LOG"] = bool(os.environ.get("GATEWAY_ACCESS_LOG"))
    app.json.sort_keys = False
    app.extensions["rpc"] = rpc or RpcPool(
        os.environ.get("AMQP_URI", DEFAULT_AMQP_URI),
        size=int_setting("GATEWAY_RPC_CONNECTIONS", 2),
        timeout=float_setting("GATEWAY_RPC_TIMEOUT_SECONDS", 10.0),
    )

    directory = Directory(store)
    if security.admin_email and security.admin_password:
        directory.ensure_admin(security.admin_email, security.admin_password)
    app.extensions["directory"] = directory
    app.extensions["authenticator"] = Authenticator(store, directory, security)
    app.extensions["rate_limiter"] = RateLimiter(store, load_limits())
    app.extensions["idempotency"] = idempotency.Idempotency(store)
    app.extensions["gateway_store"] = store

    @app.before_request
    def start_request() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()
        set_request_id(g.request_id)
        if request.endpoint in api.UPLOAD_ENDPOINTS:
            request.max_content_length = app.config["MAX_UPLOAD_BYTES"]

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        HTTP_LATENCY.labels(request.method, route, response.status_code).observe(elapsed)
        HTTP_REQUESTS.labels(request.method, route, response.status_code).inc()
        if response.status_code >= 500 or app.config.get("ACCESS_LOG"):
            log.info(
                "%s %s",
                request.method,
                request.path,
                extra={"status": response.status_code, "duration_ms": round(elapsed * 1000, 2), "path": request.path},
            )
        return response

    @app.teardown_request
    def clear_request(exc) -> None:
        set_request_id(None)

    # Order matters: authenticate and rate-limit before an Idempotency-Key is looked at.
    auth.register(app)
    idempotency.register(app)
    audit.register(app, store)
    problems.register(app)
    app.register_blueprint(ops.blueprint)
    app.register_blueprint(identity_api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(web_ui.blueprint)
    return app


def main_app() -> Flask:
    """Entry point for the WSGI server (`gateway.app:main_app()`)."""
    configure_logging("gateway", os.environ.get("LOG_LEVEL", "INFO"))
    return create_app()
