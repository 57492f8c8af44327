"""The naive gateways the benchmark compares against: nameko's standalone ClusterRpcProxy kept per
request thread, and opened per request (what a thread-per-request server such as werkzeug's gives)."""

import os
import threading
import uuid

from flask import Flask, Response, jsonify
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterProxy, ClusterRpcProxy

from crm_common.caller import Caller
from crm_common.config import DEFAULT_AMQP_URI

RPC_TIMEOUT_SECONDS = 10.0

_local = threading.local()


def _thread_proxy() -> tuple[ClusterProxy, dict]:
    """This thread's proxy, started on first use and kept: its own AMQP connection and reply queue."""
    if getattr(_local, "proxy", None) is None:
        # nameko fixes context_data when the proxy is built and keeps this very dict, so updating it
        # before each call sends that request's caller and request id.
        context: dict = {}
        _local.proxy = ClusterRpcProxy(_config(), context_data=context, timeout=RPC_TIMEOUT_SECONDS).start()
        _local.context = context
    return _local.proxy, _local.context


def create_app() -> Flask:
    app = Flask("naive_gateway")

    @app.get("/readyz")
    def readyz() -> Response:
        return jsonify(ready=True)

    @app.get("/api/v1/contacts/<contact_id>")
    def get_contact(contact_id: str):
        proxy, context = _thread_proxy()
        context.update(_context())
        return _answer(lambda: proxy.contacts.get_contact(contact_id=contact_id))

    @app.get("/per-request/api/v1/contacts/<contact_id>")
    def get_contact_with_a_new_proxy(contact_id: str):
        with ClusterRpcProxy(_config(), context_data=_context(), timeout=RPC_TIMEOUT_SECONDS) as proxy:
            return _answer(lambda: proxy.contacts.get_contact(contact_id=contact_id))

    return app


def _config() -> dict:
    return {"AMQP_URI": os.environ.get("AMQP_URI", DEFAULT_AMQP_URI), "serializer": "json"}


# The naive gateway checks no credential: it stands for the cheapest possible hop, acting as an admin.
NAIVE_CALLER = "usr-naive-bench"


def _context() -> dict:
    request_id = uuid.uuid4().hex
    return {"caller": Caller(NAIVE_CALLER, ("admin",), (), request_id).to_header(), "request_id": request_id}


def _answer(call) -> Response:
    try:
        return jsonify(call())
    except RemoteError as exc:
        return jsonify(error=exc.exc_type, detail=str(exc.value)), 404 if exc.exc_type == "NotFound" else 502
