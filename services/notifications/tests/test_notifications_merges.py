"""A merged contact's deals and tickets notify its survivor's owner (SQLite, no broker)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import DocumentStore, open_store
from notifications.service import NotificationsService
from notifications.store import NOTIFICATIONS, SPECS

SYSTEM = Caller("system", ("system",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def deliver(store: DocumentStore, source: str, event_type: str, payload: dict) -> None:
    event = new_event(event_type, source, payload, actor="someone").as_dict()
    getattr(worker_factory(NotificationsService, store=store, caller=SYSTEM), f"on_{event_type}")(event)


def contact(contact_id: str, owner_id: str, version: int = 1) -> dict:
    return {"id": contact_id, "version": version, "owner_id": owner_id, "display_name": f"Name of {contact_id}"}


def inbox(store: DocumentStore, user_id: str) -> list[str]:
    return [n["body"] for n in store[NOTIFICATIONS].iterate({"recipient_id": user_id})]


def test_a_deal_on_a_merged_contact_notifies_the_survivors_owner(store) -> None:
    deliver(store, "contacts", "contact_created", contact("dup", "u-dup"))
    deliver(store, "contacts", "contact_created", contact("survivor", "u-survivor"))
    deliver(store, "contacts", "contact_merged", {**contact("survivor", "u-survivor", 2), "merged_ids": ["dup"]})
    deliver(store, "contacts", "contact_deleted", {"id": "dup", "version": 2, "merged_into": "survivor"})
    deal = {"id": "d1", "title": "ERP", "contact_id": "dup", "version": 1}
    deliver(store, "sales", "deal_created", deal)
    assert inbox(store, "u-survivor")[-1] == "ERP for Name of survivor"
    assert not any("ERP" in body for body in inbox(store, "u-dup"))


def test_a_late_event_of_the_merged_contact_does_not_undo_the_merge(store) -> None:
    deliver(store, "contacts", "contact_merged", {**contact("survivor", "u-survivor", 2), "merged_ids": ["dup"]})
    deliver(store, "contacts", "contact_updated", contact("dup", "u-dup", 7))
    ticket = {"id": "t1", "subject": "Broken", "priority": "high", "contact_id": "dup", "version": 1}
    deliver(store, "service_desk", "ticket_created", ticket)
    assert inbox(store, "u-survivor") == ["Broken (high) from Name of survivor"]
