"""Gateway test fixtures: a private vhost on the local RabbitMQ node, and the app on its own
(a scripted RPC pool and a real SQLite gateway store) with a signed-in admin."""

import os

import pytest

from crm_common.config import DEFAULT_AMQP_URI
from crm_common.testing import private_vhost
from gateway.app import create_app
from gateway.identity.settings import SecuritySettings
from gateway.identity.store import open_gateway_store

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@test.local", "admin-password-for-tests"
SECURITY = SecuritySettings(
    development=False,
    signing_key=b"a-test-signing-key-that-is-long-enough-0123456789",
    admin_email=ADMIN_EMAIL,
    admin_password=ADMIN_PASSWORD,
)


@pytest.fixture(scope="session")
def amqp_uri():
    with private_vhost(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)) as uri:
        yield uri


class ScriptedRpc:
    """Answers RPC calls from a script of results or errors, and records what was asked."""

    connected = True

    def __init__(self):
        self.answers: dict[tuple[str, str], object] = {}
        self.calls: list[tuple] = []

    def call(self, service, method, caller, timeout=None, **kwargs):
        self.calls.append((service, method, caller, kwargs))
        answer = self.answers.get((service, method))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        pass


@pytest.fixture
def rpc():
    return ScriptedRpc()


@pytest.fixture
def gateway_store(tmp_path):
    store = open_gateway_store(f"sqlite:///{tmp_path}/gateway.db")
    yield store
    store.close()


@pytest.fixture
def app(rpc, gateway_store):
    return create_app(rpc, store=gateway_store, security=SECURITY)


def sign_in(client, email: str, password: str) -> dict:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def admin_tokens(app):
    return sign_in(app.test_client(), ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
def client(app, admin_tokens):
    """A test client that sends the admin's bearer token unless a test gives its own headers."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {admin_tokens['access_token']}"
    return client
