"""The in-app inbox: unread counts, marking one or all read (one's own only), and each new
notification announced once with `notification_created` for the gateway's live stream."""

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pika
import pytest
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.config import DEFAULT_AMQP_URI
from crm_common.envelope import new_event
from crm_common.errors import BadRequest, NotFound
from crm_common.store import OUTBOX, DocumentStore, open_store
from crm_common.testing import private_vhost
from notifications import domain
from notifications.live_sink import SINK_QUEUE, LiveEventSink
from notifications.service import NotificationsService
from notifications.store import NOTIFICATIONS, SPECS

NOW = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def as_user(store: DocumentStore, user_id: str) -> NotificationsService:
    service = worker_factory(NotificationsService, store=store, caller=Caller(user_id, ("sales_rep",)))
    service._now = lambda: NOW
    return service


def new_customer(store: DocumentStore, contact_id: str, owner_id: str = "u1") -> dict:
    """A customer created by someone else for `owner_id`: one notification for the owner."""
    contact = {"id": contact_id, "owner_id": owner_id, "display_name": f"Customer {contact_id}", "version": 1}
    body = new_event("contact_created", "contacts", contact, actor="creator").as_dict()
    # No caller given: the worker's caller is a mock, as in the other handler tests.
    worker_factory(NotificationsService, store=store).on_contact_created(body)
    return body


def announced(store: DocumentStore) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"] for r in rows if r["event"]["event_type"] == "notification_created"]


@pytest.fixture
def inbox(store: DocumentStore) -> DocumentStore:
    for contact_id in ("c1", "c2", "c3"):
        new_customer(store, contact_id)
    new_customer(store, "c9", owner_id="u2")
    return store


def test_a_new_notification_is_announced_once_with_what_the_ui_shows(store: DocumentStore) -> None:
    body = new_customer(store, "c1")
    worker_factory(NotificationsService, store=store).on_contact_created(body)  # redelivered: nothing new
    [event] = announced(store)
    notification = store[NOTIFICATIONS].get(f"{body['event_id']}:u1")
    assert (event["source"], event["actor"]) == ("notifications", "system")
    assert event["payload"] == {
        "id": notification["id"],
        "recipient_id": "u1",
        "title": "New customer assigned to you",
        "body": "Customer c1 is now yours",
        "ref": {"type": "contact", "id": "c1"},
        "created_at": body["occurred_at"],
    }


def test_writing_a_stored_notification_again_announces_nothing_and_keeps_it_read(store: DocumentStore) -> None:
    body = new_customer(store, "c1")
    notification_id = f"{body['event_id']}:u1"
    as_user(store, "u1").mark_notification_read(notification_id)
    with store.transaction() as tx:  # what an erasure's scrub does
        stored = worker_factory(NotificationsService, store=store)._put_in_app(
            tx, domain.scrubbed_notification(store[NOTIFICATIONS].get(notification_id))
        )
    with store.transaction() as tx:  # the same notification made again for the same event
        again = domain.in_app("u1", body["event_id"], "New customer assigned to you", "again", "contact", "c1", "t")
        worker_factory(NotificationsService, store=store)._put_in_app(tx, again)
    assert stored["body"] == domain.ERASED_TEXT
    assert store[NOTIFICATIONS].get(notification_id)["read"] is True
    assert len(announced(store)) == 1


def test_the_inbox_answers_with_the_callers_unread_count(inbox: DocumentStore) -> None:
    answer = as_user(inbox, "u1").list_notifications({"limit": "2"})
    assert (len(answer["data"]), answer["unread_count"]) == (2, 3)  # the count is of the whole inbox
    assert as_user(inbox, "u2").list_notifications({})["unread_count"] == 1
    assert as_user(inbox, "nobody").list_notifications({}) == {"data": [], "next_cursor": None, "unread_count": 0}


def test_marking_one_read_counts_it_out_and_again_changes_nothing(inbox: DocumentStore) -> None:
    u1 = as_user(inbox, "u1")
    first = u1.list_notifications({})["data"][0]
    marked = u1.mark_notification_read(first["id"])
    assert (marked["id"], marked["read"], marked["read_at"]) == (first["id"], True, "2030-05-06T07:08:09.123456Z")
    assert marked["unread_count"] == 2
    assert marked["version"] == first["version"] + 1
    assert u1.mark_notification_read(first["id"])["version"] == marked["version"]  # already read: untouched
    answer = u1.list_notifications({"unread": "true"})
    assert first["id"] not in [n["id"] for n in answer["data"]]
    assert (len(answer["data"]), answer["unread_count"]) == (2, 2)
    assert len(announced(inbox)) == 4  # reading announces nothing


def test_someone_elses_notification_is_not_found_and_stays_unread(inbox: DocumentStore) -> None:
    [theirs] = as_user(inbox, "u2").list_notifications({})["data"]
    with pytest.raises(NotFound):
        as_user(inbox, "u1").mark_notification_read(theirs["id"])
    with pytest.raises(NotFound):
        as_user(inbox, "u1").mark_notification_read("no-such-notification")
    with pytest.raises(BadRequest):
        as_user(inbox, "u1").mark_notification_read("")
    assert inbox[NOTIFICATIONS].get(theirs["id"])["read"] is False


def test_marking_all_read_marks_only_the_callers_own(inbox: DocumentStore) -> None:
    u1 = as_user(inbox, "u1")
    u1.mark_notification_read(u1.list_notifications({})["data"][0]["id"])
    assert u1.mark_all_notifications_read() == {"marked": 2, "unread_count": 0}
    assert u1.list_notifications({})["unread_count"] == 0
    assert all(n["read"] and n["read_at"] for n in u1.list_notifications({})["data"])
    assert u1.mark_all_notifications_read() == {"marked": 0, "unread_count": 0}
    assert as_user(inbox, "u2").list_notifications({})["unread_count"] == 1


@pytest.mark.timeout(60)
def test_the_live_sink_makes_the_event_routable_and_keeps_nothing() -> None:
    """Without a gateway's stream queue, the relay's mandatory publish of notification_created
    still finds a queue (so the outbox never holds it back), and that queue stays empty."""
    with private_vhost(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)) as uri:
        sink = LiveEventSink()
        sink.container = SimpleNamespace(service_name="notifications", config={AMQP_URI_CONFIG_KEY: uri})
        sink._declare()
        sink._declare()  # declaring it again (another instance starting) is harmless
        connection = pika.BlockingConnection(pika.URLParameters(uri))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            event = new_event("notification_created", "notifications", {"id": "n1"}).as_dict()
            channel.basic_publish("notifications.events", "notification_created", json.dumps(event), mandatory=True)
            with pytest.raises(pika.exceptions.UnroutableError):  # what the sink saves the relay from
                channel.basic_publish("notifications.events", "notification_read", b"{}", mandatory=True)
            assert channel.queue_declare(SINK_QUEUE, passive=True).method.message_count == 0
        finally:
            connection.close()
