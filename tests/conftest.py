"""Cross-service fixtures: the whole platform on a real RabbitMQ, in a vhost of its own, sending its
email to a real SMTP server on loopback."""

import os
import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
import requests
from aiosmtpd.controller import Controller

from crm_common.config import DEFAULT_AMQP_URI
from crm_common.devstack import Stack, free_port_offset
from crm_common.testing import private_vhost

# Ports away from `make run` (8000, 8101-8105), so the suite runs beside a running platform.
TEST_PORT_OFFSET = 1100
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@e2e.test", "e2e-admin-password"
# Short retry and timeout settings keep reliability tests quick without changing any behaviour.
# The gateway runs in production mode, so the suite proves it starts with real secrets.
TEST_SETTINGS = {
    "CRM_ENV": "production",
    "GATEWAY_SIGNING_KEY": "e2e-signing-key-that-is-long-enough-0123456789",
    "CRM_ADMIN_EMAIL": ADMIN_EMAIL,
    "CRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
    # The session-wide admin token must outlive the suite; token expiry is tested in gateway/tests.
    "ACCESS_TOKEN_TTL_SECONDS": "3600",
    "GATEWAY_RATE_LIMITS": "admin=1000/5000,manager=1000/5000,sales_rep=1000/5000,support_agent=1000/5000,"
    "viewer=1000/5000,anonymous=100/1000",
    "EVENT_RETRY_BASE_SECONDS": "0.2",
    "EVENT_RETRY_MAX_SECONDS": "1",
    "EVENT_MAX_ATTEMPTS": "3",
    "GATEWAY_RPC_TIMEOUT_SECONDS": "3",
    "RPC_CALL_TIMEOUT_SECONDS": "2",
    "OUTBOX_UNROUTABLE_RETRY_SECONDS": "1",
    # Reminders and overdue notices of tasks go out within a second of their time.
    "TASK_TIMER_SECONDS": "1",
    # Deals past their stage's rotting days are flagged within a second, not a minute.
    "ROTTING_POLL_SECONDS": "1",
    # SLA breaches and escalation steps of tickets are acted on within a second, not half a minute.
    "SLA_TIMER_SECONDS": "1",
    # Notifications: queued messages go out within a second; a failing receiver is retried after 1 s, 2 s.
    "DELIVERY_TIMER_SECONDS": "1",
    "DELIVERY_RETRY_BASE_SECONDS": "1",
    "DELIVERY_RETRY_MAX_SECONDS": "2",
    "DELIVERY_SEND_TIMEOUT_SECONDS": "3",
    "CAMPAIGN_TIMER_SECONDS": "1",
    "SMTP_FROM": "crm@e2e.test",
    "NOTIFICATIONS_UNSUBSCRIBE_SECRET": "e2e-unsubscribe-secret-that-is-long-enough-0123",
}


@dataclass
class Mailbox:
    """What the suite's SMTP server accepted: (envelope recipients, parsed message) each."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK: queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [message for recipients, message in list(self.received) if address in recipients]


@pytest.fixture(scope="session")
def mailbox():
    """A real SMTP server on a free loopback port (aiosmtpd): the platform's SMTP_URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", box
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def amqp_uri():
    with private_vhost(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)) as uri:
        yield uri


@pytest.fixture(scope="session")
def stack(amqp_uri, tmp_path_factory, mailbox):
    platform = Stack(
        str(tmp_path_factory.mktemp("platform")),
        amqp_uri,
        port_offset=free_port_offset(TEST_PORT_OFFSET),
        extra_env={**TEST_SETTINGS, "SMTP_URL": mailbox[0]},
    )
    # Unsubscribe links in the messages point at this gateway.
    platform.extra_env["CRM_PUBLIC_URL"] = platform.gateway_url
    try:
        platform.up()
        yield platform
    finally:
        platform.down()


class Api:
    """A thin client of the gateway for tests, signed in as one user: JSON in, the raw response out."""

    def __init__(self, base: str, email: str | None = None, password: str | None = None):
        self.base = base + "/api/v1"
        self.session = requests.Session()
        if email:
            response = self.session.post(
                self.base + "/auth/token", json={"email": email, "password": password}, timeout=15
            )
            assert response.status_code == 200, response.text
            self.tokens = response.json()
            self.session.headers["Authorization"] = f"Bearer {self.tokens['access_token']}"
            self.user = self.get("/me").json()

    def sign_in_as(self, email: str, password: str) -> "Api":
        return Api(self.base.removesuffix("/api/v1"), email, password)

    def new_user(self, email: str, roles: list[str], password: str = "a-long-enough-password") -> "Api":
        """Create a user (the caller must be an admin) and return a client signed in as them."""
        self.create("/users", {"email": email, "name": email.split("@")[0], "password": password, "roles": roles})
        return self.sign_in_as(email, password)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.request("PATCH", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, path: str, body: dict) -> dict:
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="session")
def api(stack) -> Api:
    """A client signed in as the first admin."""
    return Api(stack.gateway_url, ADMIN_EMAIL, ADMIN_PASSWORD)
