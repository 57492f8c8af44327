"""The naive gateway the benchmark compares against: one nameko ClusterRpcProxy per request thread."""
import os
import threading
import uuid

from crm_common.caller import Caller
from crm_common.config import DEFAULT_AMQP_URI
from flask import Flask, Response, jsonify
from gateway.auth import DEVELOPMENT_ADMIN
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterProxy, ClusterRpcProxy

RPC_TIMEOUT_SECONDS = 10.0

_local = threading.local()


def _thread_proxy() -> tuple[ClusterProxy, dict]:
    """This thread's proxy, started on first use and kept: its own AMQP connection and reply queue."""
    if getattr(_local, "proxy", None) is None:
        # nameko fixes context_data when the proxy is built and keeps this very dict, so updating it
        # before each call sends that request's caller and request id.
        context: dict = {}
        config = {"AMQP_URI": os.environ.get("AMQP_URI", DEFAULT_AMQP_URI), "serializer": "json"}
        _local.proxy = ClusterRpcProxy(config, context_data=context, timeout=RPC_TIMEOUT_SECONDS).start()
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
        request_id = uuid.uuid4().hex
        context["caller"] = Caller(DEVELOPMENT_ADMIN, ("admin",), (), request_id).to_header()
        context["request_id"] = request_id
        try:
            contact = proxy.contacts.get_contact(contact_id=contact_id)
        except RemoteError as exc:
            return jsonify(error=exc.exc_type, detail=str(exc.value)), 404 if exc.exc_type == "NotFound" else 502
        return jsonify(contact)

    return app
