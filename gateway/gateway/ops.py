"""Operations endpoints of the gateway: liveness, readiness and Prometheus metrics."""
from flask import Blueprint, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify(status="ok", service="gateway")


@blueprint.get("/readyz")
def readyz():
    broker = "ok" if current_app.extensions["rpc"].connected else "not connected"
    ready = broker == "ok"
    return jsonify(ready=ready, checks={"broker": broker}), (200 if ready else 503)


@blueprint.get("/metrics")
def metrics():
    return generate_latest(), 200, {"Content-Type": CONTENT_TYPE_LATEST}
