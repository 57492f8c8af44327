"""Operations endpoints of the gateway: liveness, readiness and Prometheus metrics."""

import os

from flask import Blueprint, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from crm_common.errors import CrmError

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="ok", service="gateway")


def draining() -> bool:
    """True once the gunicorn master got SIGTERM (see gateway.gunicorn_conf): out of rotation."""
    flag = os.environ.get("GATEWAY_DRAIN_FLAG")
    return bool(flag) and os.path.exists(flag)


@blueprint.get("/readyz")
def readyz():
    if draining():
        return jsonify(ready=False, checks={"draining": "shutting down (SIGTERM received)"}), 503
    checks = {"broker": "ok" if current_app.extensions["rpc"].connected else "not connected"}
    try:
        current_app.extensions["gateway_store"].ping()
        checks["store"] = "ok"
    except CrmError as exc:
        checks["store"] = exc.detail
    ready = all(v == "ok" for v in checks.values())
    return jsonify(ready=ready, checks=checks), (200 if ready else 503)


@blueprint.get("/metrics")
def metrics():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Under several gunicorn workers: aggregate every worker's samples, not just this one's.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}
    return generate_latest(), 200, {"Content-Type": CONTENT_TYPE_LATEST}
