"""`_notify` through the real service and SQLite store: default rules tell in-app as before, a
rule's extra users and channels, staff emails carry no contact_id (no message_queued)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import OUTBOX, DocumentStore, open_store
from notifications.service import NotificationsService
from notifications.store import DELIVERIES, NOTIFICATION_PREFERENCES, NOTIFICATION_RULES, NOTIFICATIONS, SPECS

NOW = datetime(2030, 1, 2, 3, 0, tzinfo=UTC)
DEAL = {"id": "d1", "contact_id": "c1"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def notify(store: DocumentStore, kind: str, audiences: dict, actor: str = "m1", **extra) -> object:
    event = new_event("deal_updated", "sales", DEAL, actor=actor)
    worker = worker_factory(NotificationsService, store=store, caller=Caller("system", ("system",)))
    worker._now = lambda: NOW
    with store.transaction() as tx:
        worker._notify(tx, event, kind, audiences, "Deal won", "Printers (1200 CNY)", "deal", DEAL, **extra)
    return event


def test_the_default_rule_tells_the_audience_in_app_once(store) -> None:
    event = notify(store, "deal_won", {"owner": ["u1", None, "system", "u1"]})
    [notification] = store[NOTIFICATIONS].find().items
    assert notification["id"] == f"{event.event_id}:u1"
    assert (notification["ref"], notification["contact_id"]) == ({"type": "deal", "id": "d1"}, "c1")
    assert store[DELIVERIES].count() == 0


def test_key_and_suffix_make_the_id(store) -> None:
    notify(store, "mention", {"mentioned": ["u2"]}, key="mention:interaction:i1", suffix=":x")
    assert [n["id"] for n in store[NOTIFICATIONS].find().items] == ["mention:interaction:i1:u2:x"]


def test_a_rule_adds_users_but_never_the_actor_and_a_disabled_rule_tells_nobody(store) -> None:
    rule = {"id": "deal_won", "kind": "deal_won", "audiences": [], "user_ids": ["dir", "m1"], "channels": ["in_app"]}
    store[NOTIFICATION_RULES].put({**rule, "enabled": True, "urgent": False, "mandatory": False})
    notify(store, "deal_won", {"owner": ["u1"]})
    assert [n["recipient_id"] for n in store[NOTIFICATIONS].find().items] == ["dir"]
    store[NOTIFICATION_RULES].put({**rule, "enabled": False, "urgent": False, "mandatory": False})
    notify(store, "deal_won", {"owner": ["u1"]})
    assert store[NOTIFICATIONS].count() == 1


def test_an_email_notice_is_a_staff_delivery_naming_the_customer_not_a_message_to_them(store) -> None:
    store[NOTIFICATION_RULES].put(
        {
            "id": "deal_won",
            "kind": "deal_won",
            "audiences": ["owner"],
            "user_ids": [],
            "channels": ["in_app", "email"],
            "enabled": True,
            "urgent": False,
            "mandatory": False,
        }
    )
    store[NOTIFICATION_PREFERENCES].put(
        {
            "id": "u1",
            "user_id": "u1",
            "email": "u1@example.com",
            "phone": None,
            "language": "zh-CN",
            "time_zone": "UTC",
            "quiet_hours": None,
            "digest": "off",
            "digest_at": "08:00",
            "channels": {"email": True, "sms": False},
            "muted": {},
        }
    )
    event = notify(store, "deal_won", {"owner": ["u1"]})
    notify(store, "deal_won", {"owner": ["u1"]})  # another event: another email
    deliveries = store[DELIVERIES].find({"event_id": event.event_id}).items
    [delivery] = deliveries
    assert delivery["dedupe_key"] == f"{event.event_id}:u1:email"
    assert (delivery["to"], delivery["kind"], delivery["subject"]) == (
        "u1@example.com",
        "staff_notice",
        "CRM 通知：Deal won",
    )
    assert (delivery["contact_id"], delivery["about_contact_id"], delivery["recipient_user_id"]) == (None, "c1", "u1")
    queued = [r for r in store[OUTBOX].iterate() if r["event"]["event_type"] == "message_queued"]
    assert queued == []
