"""What the customer pool tells people: the advance notice, the reclaim, assignments and hand-overs."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import DocumentStore, open_store
from notifications import notice_rules
from notifications.service import NotificationsService
from notifications.store import NOTIFICATION_RULES, NOTIFICATIONS, SPECS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def handle(store: DocumentStore, handler: str, event_type: str, payload: dict, actor: str = "system") -> dict:
    body = new_event(event_type, "contacts", payload, actor=actor).as_dict()
    getattr(worker_factory(NotificationsService, store=store), handler)(body)
    return body


def inbox(store: DocumentStore, user_id: str) -> list[dict]:
    service = worker_factory(NotificationsService, store=store, caller=Caller(user_id, ("sales_rep",)))
    return service.list_notifications({})["data"]


def contact(**fields) -> dict:
    return {"id": "c1", "version": 3, "display_name": "Wang Fang", "owner_id": None, **fields}


def test_the_owner_is_warned_before_a_customer_returns_to_the_pool(store):
    warned = {
        "id": "c1",
        "contact_id": "c1",
        "owner_id": "u1",
        "display_name": "Wang Fang",
        "rule_id": "r1",
        "rule_name": "Idle",
        "reclaim_at": "2024-07-03T12:00:00.000000Z",
        "reason": "reclaim rule 'Idle': no interaction for 30 days",
    }
    body = handle(store, "on_pool_reclaim_warned", "pool_reclaim_warned", warned)
    handle_again = worker_factory(NotificationsService, store=store)
    handle_again.on_pool_reclaim_warned(body)  # redelivered: still one notification
    [notification] = inbox(store, "u1")
    assert notification["title"] == "Customer returns to the pool soon"
    assert "Wang Fang" in notification["body"] and "2024-07-03" in notification["body"]
    assert "no interaction for 30 days" in notification["body"]
    assert notification["ref"] == {"type": "contact", "id": "c1"}


def test_the_former_owner_hears_when_the_customer_was_reclaimed(store):
    handle(
        store,
        "on_contact_reclaimed",
        "contact_reclaimed",
        contact(from_owner_id="u1", reason="reclaim rule 'Idle': no open deal"),
    )
    [notification] = inbox(store, "u1")
    assert notification["title"] == "Customer returned to the pool"
    assert "no open deal" in notification["body"]


def test_an_assignment_is_told_to_the_new_owner_but_not_each_customer_of_a_hand_over(store):
    handle(store, "on_contact_assigned", "contact_assigned", contact(owner_id="u2", from_owner_id="u1"), actor="m1")
    handle(
        store,
        "on_contact_assigned",
        "contact_assigned",
        contact(id="c2", owner_id="u2", from_owner_id="u1", hand_over_id="h1"),
        actor="m1",
    )
    handle(
        store,
        "on_customers_handed_over",
        "customers_handed_over",
        {"id": "h1", "from_owner_id": "u1", "moved_by_owner": {"u2": 7, "u3": 0, "m1": 2}},
        actor="m1",
    )
    titles = sorted(n["title"] for n in inbox(store, "u2"))
    assert titles == ["Customers handed over to you", "New customer assigned to you"]
    assert inbox(store, "u3") == [] and inbox(store, "m1") == []  # nothing moved, or moved by themselves
    assert store[NOTIFICATIONS].count({"recipient_id": "u2"}) == 2


def test_a_hand_overs_rule_users_get_one_summary_of_their_own(store):
    rule = notice_rules.default_rule("customers_handed_over")
    store[NOTIFICATION_RULES].put({**rule, "user_ids": ["dir", "u2"], "customized": True})
    job = {"id": "h1", "from_owner_id": "u1", "moved_by_owner": {"u2": 7, "u3": 5, "u4": 0}}
    handle(store, "on_customers_handed_over", "customers_handed_over", job, actor="m1")
    handle(store, "on_customers_handed_over", "customers_handed_over", job, actor="m1")  # another event, same job
    [summary, _] = inbox(store, "dir")  # one per event, never one per recipient
    assert (summary["title"], summary["body"]) == (
        "Customers handed over",
        "12 customer(s) of u1 were handed over: 7 to u2, 5 to u3",
    )
    assert [n["body"] for n in inbox(store, "u3")] == ["5 customer(s) of u1 are now yours"] * 2
    # a recipient who is one of the rule's users too keeps their own count, and gets the summary
    assert (
        sorted(n["title"] for n in inbox(store, "u2"))
        == ["Customers handed over"] * 2 + ["Customers handed over to you"] * 2
    )
