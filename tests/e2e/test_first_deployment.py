"""A first deployment in any order loses nothing: events for consumers that have never started wait
in the producer's outbox, then flow once the consumers declare their queues."""

import json
import os
import sqlite3

import pytest

from crm_common.config import DEFAULT_AMQP_URI
from crm_common.devstack import GATEWAY, SERVICES, Stack, free_port_offset
from crm_common.testing import eventually, private_vhost

from ..conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_PORT_OFFSET, TEST_SETTINGS, Api

CONTACTS = next(s for s in SERVICES if s.name == "contacts")
SEARCH = next(s for s in SERVICES if s.name == "search")
CONSUMERS = [s for s in SERVICES if s.name != "contacts"]


@pytest.fixture
def empty_platform(tmp_path):
    """A platform on a vhost that has never seen a consumer, with nothing started yet."""
    with private_vhost(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)) as uri:
        platform = Stack(
            str(tmp_path), uri, port_offset=free_port_offset(TEST_PORT_OFFSET + 500), extra_env=TEST_SETTINGS
        )
        try:
            yield platform
        finally:
            platform.down()


def _statuses(stack: Stack) -> list[str]:
    db = sqlite3.connect(os.path.join(stack.data_dir, "contacts.db"))
    try:
        return [json.loads(doc)["status"] for (doc,) in db.execute("SELECT doc FROM c__outbox")]
    finally:
        db.close()


def _owner_known(stack: Stack, contact_id: str) -> bool:
    db = sqlite3.connect(os.path.join(stack.data_dir, "notifications.db"))
    try:
        return db.execute("SELECT 1 FROM c_contact_owners WHERE id = ?", (contact_id,)).fetchone() is not None
    finally:
        db.close()


def _searchable(api: Api, contact_id: str) -> bool:
    response = api.get("/search", params={"q": "first.example"})
    assert response.status_code == 200, response.text
    return any(hit["id"] == contact_id for hit in response.json()["data"])


def _start(stack: Stack, components) -> None:
    for component in components:
        stack.start(component)
    stack.wait_ready(components)


def test_without_any_consumer_queue_an_event_waits_in_the_outbox(empty_platform):
    stack = empty_platform
    _start(stack, [CONTACTS, GATEWAY])
    api = Api(stack.gateway_url, ADMIN_EMAIL, ADMIN_PASSWORD)
    contact = api.create("/contacts", {"first_name": "Early", "last_name": "Bird", "email": "early@first.example"})
    eventually(lambda: _statuses(stack) == ["unroutable"])

    _start(stack, [SEARCH])  # the first consumer to appear declares its queue; the event follows
    eventually(lambda: _searchable(api, contact["id"]), timeout=30)
    assert _statuses(stack) == ["sent"]


def test_with_the_topology_declared_every_consumer_gets_events_published_before_it_started(empty_platform):
    stack = empty_platform
    stack.declare_topology()
    _start(stack, [CONTACTS, GATEWAY])
    api = Api(stack.gateway_url, ADMIN_EMAIL, ADMIN_PASSWORD)
    contact = api.create("/contacts", {"first_name": "Queued", "last_name": "Ahead", "email": "q@first.example"})
    eventually(lambda: _statuses(stack) == ["sent"])  # routable at once: the queues already exist

    _start(stack, CONSUMERS)
    eventually(lambda: _searchable(api, contact["id"]), timeout=30)
    eventually(lambda: _owner_known(stack, contact["id"]), timeout=30)
