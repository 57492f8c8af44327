"""Gateway test fixtures: a private vhost on the local RabbitMQ node."""

import os

import pytest

from crm_common.config import DEFAULT_AMQP_URI
from crm_common.testing import private_vhost


@pytest.fixture(scope="session")
def amqp_uri():
    with private_vhost(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)) as uri:
        yield uri
