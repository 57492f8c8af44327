"""The Idempotency-Key of a keyed POST travels to the services in the RPC context (issue 9, fault 5):
a service, not only the gateway, can then tell a retry from a new request."""

import hashlib

from flask import Flask, g

from crm_common.errors import ServiceUnavailable
from gateway.rpc import request_context_data

from .conftest import ScriptedRpc


class ContextRecordingRpc(ScriptedRpc):
    """Also records the context data the real pool would send with each call."""

    def __init__(self):
        super().__init__()
        self.contexts: list[dict] = []

    def call(self, service, method, caller, timeout=None, **kwargs):
        self.contexts.append(request_context_data())
        return super().call(service, method, caller, timeout, **kwargs)


def _app(gateway_store):
    from gateway.app import create_app

    from .conftest import SECURITY

    rpc = ContextRecordingRpc()
    return create_app(rpc, store=gateway_store, security=SECURITY), rpc


def _client(app):
    from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, sign_in

    client = app.test_client()
    tokens = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {tokens['access_token']}"
    return client


def test_a_keyed_post_sends_its_scoped_key_in_the_rpc_context(gateway_store):
    app, rpc = _app(gateway_store)
    client = _client(app)
    rpc.answers[("contacts", "create_contact")] = {"id": "c1", "version": 1}
    rpc.answers[("contacts", "create_company")] = {"id": "co1", "version": 1}
    assert (
        client.post("/api/v1/contacts", json={"last_name": "A"}, headers={"Idempotency-Key": "k-1"}).status_code == 201
    )
    sent = rpc.contexts[-1]["idempotency_key"]
    admin_id = rpc.calls[-1][2].user_id
    assert sent == hashlib.sha256(f"user:{admin_id}\nk-1\nPOST\n/api/v1/contacts".encode()).hexdigest()

    # the same key on another path is another scope at the service (reachable once the gateway's
    # own reservation is gone after a 5xx)
    rpc.answers[("contacts", "create_contact")] = ServiceUnavailable("down")
    client.post("/api/v1/contacts", json={"last_name": "B"}, headers={"Idempotency-Key": "k-2"})
    on_contacts = rpc.contexts[-1]["idempotency_key"]
    assert client.post("/api/v1/companies", json={"name": "B"}, headers={"Idempotency-Key": "k-2"}).status_code == 201
    assert rpc.contexts[-1]["idempotency_key"] not in (on_contacts, sent)
    # without a key, and on a GET, no key travels
    client.post("/api/v1/contacts", json={"last_name": "C"})
    assert rpc.contexts[-1] == {}
    rpc.answers[("contacts", "get_contact")] = {"id": "c1", "version": 1}
    client.get("/api/v1/contacts/c1", headers={"Idempotency-Key": "k-1"})
    assert rpc.contexts[-1] == {}


def test_after_a_5xx_the_retry_carries_the_same_key_to_the_service(gateway_store):
    app, rpc = _app(gateway_store)
    client = _client(app)
    rpc.answers[("contacts", "create_contact")] = ServiceUnavailable("the contacts service did not answer within 3s")
    headers = {"Idempotency-Key": "lost-reply"}
    assert client.post("/api/v1/contacts", json={"last_name": "L"}, headers=headers).status_code == 503
    rpc.answers[("contacts", "create_contact")] = {"id": "c2", "version": 1}
    assert client.post("/api/v1/contacts", json={"last_name": "L"}, headers=headers).status_code == 201
    first, retry = rpc.contexts
    assert first == retry and first["idempotency_key"]  # the service answers the retry from its record


def test_the_scope_is_the_credential_the_key_the_method_and_the_path():
    app = Flask(__name__)
    with app.test_request_context("/api/v1/deals", method="POST"):
        assert request_context_data() == {}
        g.idempotency_rpc_key = hashlib.sha256(b"usr:1\nk\nPOST\n/api/v1/deals").hexdigest()
        assert request_context_data() == {"idempotency_key": g.idempotency_rpc_key}
    assert request_context_data() == {}  # outside a request (background threads): nothing
