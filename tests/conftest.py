"""Cross-service fixtures: the whole platform on a real RabbitMQ, in a vhost of its own."""

import os

import pytest
import requests

from crm_common.config import DEFAULT_AMQP_URI
from crm_common.devstack import Stack, free_port_offset
from crm_common.testing import private_vhost

# Ports away from `make run` (8000, 8101-8105), so the suite runs beside a running platform.
TEST_PORT_OFFSET = 1100
# Short retry and timeout settings keep reliability tests quick without changing any behaviour.
TEST_SETTINGS = {
    "EVENT_RETRY_BASE_SECONDS": "0.2",
    "EVENT_RETRY_MAX_SECONDS": "1",
    "EVENT_MAX_ATTEMPTS": "3",
    "GATEWAY_RPC_TIMEOUT_SECONDS": "3",
    "RPC_CALL_TIMEOUT_SECONDS": "2",
    "OUTBOX_UNROUTABLE_RETRY_SECONDS": "1",
}


@pytest.fixture(scope="session")
def amqp_uri():
    with private_vhost(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)) as uri:
        yield uri


@pytest.fixture(scope="session")
def stack(amqp_uri, tmp_path_factory):
    platform = Stack(
        str(tmp_path_factory.mktemp("platform")),
        amqp_uri,
        port_offset=free_port_offset(TEST_PORT_OFFSET),
        extra_env=TEST_SETTINGS,
    )
    try:
        platform.up()
        yield platform
    finally:
        platform.down()


class Api:
    """A thin client of the gateway for tests: JSON in, the raw response out."""

    def __init__(self, base: str):
        self.base = base + "/api/v1"
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.request("PATCH", path, json=body, **kwargs)

    def create(self, path: str, body: dict) -> dict:
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="session")
def api(stack) -> Api:
    return Api(stack.gateway_url)
