"""What the service desk tells people (SQLite, no broker): the assignee of a ticket, the recipients of
SLA warnings and escalations, the assignee of a breached ticket; and the emails queued for the
customer (acknowledgement, staff replies, the satisfaction survey), each announced once."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import OUTBOX, DocumentStore, open_store
from notifications import domain, notice_rules
from notifications.service import NotificationsService
from notifications.store import DELIVERIES, NOTIFICATION_RULES, NOTIFICATIONS, SPECS

SYSTEM = Caller("system", ("system",))
CONTACT = {
    "id": "c1",
    "version": 1,
    "display_name": "Wang Fang",
    "owner_id": "u1",
    "email": "wang.fang@example.cn",
    "preferred_language": "en",
}
TICKET = {
    "id": "tk1",
    "version": 1,
    "subject": "Printer jams",
    "priority": "high",
    "status": "new",
    "contact_id": "c1",
    "company_id": "k1",
    "team_id": "t-help",
    "assignee_id": "s1",
    "contact_owner_id": "u1",
    "resolution_due_at": "2026-11-24T09:00:00.000000Z",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def deliver(store: DocumentStore, handler: str, event_type: str, payload: dict, actor: str = "system") -> dict:
    source = "contacts" if event_type.startswith("contact") else "service_desk"
    body = new_event(event_type, source, payload, actor=actor).as_dict()
    getattr(worker_factory(NotificationsService, store=store, caller=SYSTEM), handler)(body)
    return body


@pytest.fixture
def known(store: DocumentStore) -> DocumentStore:
    deliver(store, "on_contact_created", "contact_created", CONTACT, actor="u1")
    return store


def inbox(store: DocumentStore, user_id: str) -> list[tuple[str, str]]:
    return [(n["title"], n["body"]) for n in store[NOTIFICATIONS].iterate({"recipient_id": user_id}, [("id", 1)])]


def messages(store: DocumentStore) -> list[dict]:
    return list(store[DELIVERIES].iterate(None, [("created_at", 1)]))


def queued_events(store: DocumentStore) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == "message_queued"]


# the assignee


def test_a_new_ticket_is_told_to_its_assignee_and_acknowledged_to_the_customer(known: DocumentStore) -> None:
    body = deliver(known, "on_ticket_created", "ticket_created", TICKET, actor="a1")
    worker_factory(NotificationsService, store=known, caller=SYSTEM).on_ticket_created(body)  # redelivered
    assert inbox(known, "s1") == [
        ("Ticket assigned to you", "Printer jams (high, resolution due 2026-11-24 09:00 UTC)")
    ]
    [message] = messages(known)
    assert message["dedupe_key"] == f"{body['event_id']}:ticket_acknowledgement:email"
    assert (message["to"], message["channel"], message["status"], message["language"]) == (
        "wang.fang@example.cn",
        "email",
        "queued",
        "en",
    )
    assert message["subject"] == "We received your request: Printer jams [#tk1]"
    assert message["body"].startswith("Hello Wang Fang,")
    assert (message["contact_id"], message["ref"], message["event_id"]) == (
        "c1",
        {"type": "ticket", "id": "tk1"},
        body["event_id"],
    )
    [event] = queued_events(known)
    assert event["id"] == message["id"]
    assert event["ticket"] == {
        "id": "tk1",
        "version": 1,
        "contact_id": "c1",
        "company_id": "k1",
        "team_id": "t-help",
        "assignee_id": "s1",
        "contact_owner_id": "u1",
    }


def test_the_owner_who_is_also_the_assignee_gets_both_notices(known: DocumentStore) -> None:
    ticket = {**TICKET, "assignee_id": "u1"}
    deliver(known, "on_ticket_created", "ticket_created", ticket, actor="a1")
    titles = sorted(title for title, _ in inbox(known, "u1"))
    assert titles == ["New ticket from your customer", "Ticket assigned to you"]


def test_a_ticket_one_takes_oneself_is_told_to_nobody(known: DocumentStore) -> None:
    deliver(known, "on_ticket_created", "ticket_created", TICKET, actor="s1")
    deliver(known, "on_ticket_updated", "ticket_updated", {**TICKET, "changes": ["assignee_id"]}, actor="s1")
    assert inbox(known, "s1") == []


def test_the_rules_extra_users_hear_of_a_ticket_one_takes_oneself(known: DocumentStore) -> None:
    rule = {**notice_rules.default_rule("ticket_assigned"), "user_ids": ["lead"], "customized": True}
    known[NOTIFICATION_RULES].put(rule)
    deliver(known, "on_ticket_updated", "ticket_updated", {**TICKET, "changes": ["assignee_id"]}, actor="s1")
    assert [title for title, _ in inbox(known, "lead")] == ["Ticket assigned to you"]
    assert inbox(known, "s1") == []


def test_a_reassigned_ticket_is_told_to_the_new_assignee_other_changes_to_nobody(known: DocumentStore) -> None:
    deliver(known, "on_ticket_updated", "ticket_updated", {**TICKET, "changes": ["priority"]}, actor="m2")
    assert inbox(known, "s1") == []
    deliver(known, "on_ticket_updated", "ticket_updated", {**TICKET, "assignee_id": "s2", "changes": ["assignee_id"]})
    assert [title for title, _ in inbox(known, "s2")] == ["Ticket assigned to you"]
    [notice] = known[NOTIFICATIONS].iterate({"recipient_id": "s2"})
    assert (notice["ref"], notice["contact_id"]) == ({"type": "ticket", "id": "tk1"}, "c1")  # an erasure finds it


# SLA


def test_an_sla_warning_is_told_to_its_recipients(known: DocumentStore) -> None:
    warning = {
        **TICKET,
        "metric": "resolution",
        "due_at": "2026-11-24T09:00:00Z",
        "step_id": "s1",
        "recipient_ids": ["s1", "m2", "s1"],
    }
    deliver(known, "on_ticket_sla_warning", "ticket_sla_warning", warning)
    expected = [("Ticket SLA due soon", "Printer jams: the resolution target is due 2026-11-24 09:00 UTC")]
    assert inbox(known, "s1") == expected and inbox(known, "m2") == expected


def test_a_breach_alone_tells_nobody_the_ladder_does(known: DocumentStore) -> None:
    # The assignee hears of a breach once: through the ladder's ticket_escalated, not the breach too
    # (the breach's own handler only feeds webhook subscriptions).
    before = known[NOTIFICATIONS].count()
    breach = {**TICKET, "target": "resolution", "due_at": "2026-11-24T09:00:00Z", "breached_at": "2026-11-24T09:00:00Z"}
    deliver(known, "on_ticket_sla_breached", "ticket_sla_breached", breach)
    assert known[NOTIFICATIONS].count() == before


def test_an_escalation_at_breach_is_told_to_its_recipients_with_what_was_done(known: DocumentStore) -> None:
    actions = [
        {"type": "notify", "recipient_ids": ["m2"]},
        {"type": "reassign", "from": "s1", "to": "s2"},
        {"type": "raise_priority", "from": "high", "to": "urgent"},
    ]
    escalated = {
        **TICKET,
        "priority": "urgent",
        "step_id": "s2",
        "reason": "breach",
        "actions": actions,
        "recipient_ids": ["m2"],
    }
    deliver(known, "on_ticket_escalated", "ticket_escalated", escalated)
    assert inbox(known, "m2") == [
        ("Ticket escalated", "Printer jams (urgent) is past its SLA; reassigned to s2, priority raised to urgent")
    ]


def test_an_escalation_before_the_due_time_is_told_once_by_its_warning(known: DocumentStore) -> None:
    deliver(
        known,
        "on_ticket_escalated",
        "ticket_escalated",
        {**TICKET, "reason": "warning", "actions": [], "recipient_ids": ["m2"]},
    )
    assert inbox(known, "m2") == []


# replies


def test_a_public_staff_reply_is_emailed_to_the_customer(known: DocumentStore) -> None:
    reply = {"id": "cm1", "body": "Please restart it.", "public": True, "author_type": "staff", "author_id": "s1"}
    deliver(known, "on_ticket_commented", "ticket_commented", {"comment": reply, "ticket": TICKET}, actor="s1")
    [message] = messages(known)
    assert (message["kind"], message["subject"], message["body"]) == (
        "ticket_reply",
        "Re: Printer jams [#tk1]",
        "Please restart it.",
    )
    assert len(queued_events(known)) == 1


def test_internal_notes_email_nobody_and_a_customers_reply_is_told_to_the_assignee(known: DocumentStore) -> None:
    note = {"id": "cm1", "body": "Toner again", "public": False, "author_type": "staff", "author_id": "s2"}
    deliver(known, "on_ticket_commented", "ticket_commented", {"comment": note, "ticket": TICKET}, actor="s2")
    assert messages(known) == [] and queued_events(known) == []
    said = {"id": "cm2", "body": "Still jams", "public": True, "author_type": "customer", "author_id": "s2"}
    deliver(known, "on_ticket_commented", "ticket_commented", {"comment": said, "ticket": TICKET}, actor="s2")
    assert messages(known) == []
    assert inbox(known, "s1") == [("Customer replied on a ticket", "Printer jams: Still jams")]


# the survey, languages, and customers without an address


def test_the_survey_is_emailed_in_the_customers_language(store: DocumentStore) -> None:
    deliver(
        store,
        "on_contact_created",
        "contact_created",
        {**CONTACT, "preferred_language": "zh-CN", "display_name": "王芳"},
    )
    resolved = {**TICKET, "status": "resolved", "satisfaction": {"status": "requested"}}
    deliver(store, "on_ticket_satisfaction_requested", "ticket_satisfaction_requested", resolved)
    [message] = messages(store)
    assert (message["kind"], message["language"]) == ("satisfaction_survey", "zh-CN")
    assert message["subject"] == "请评价我们的服务：Printer jams [#tk1]"
    assert message["body"].startswith("王芳，您好")


def test_the_address_follows_the_contacts_updates(known: DocumentStore) -> None:
    deliver(known, "on_contact_updated", "contact_updated", {**CONTACT, "version": 2, "email": "fang@new.cn"})
    deliver(known, "on_ticket_satisfaction_requested", "ticket_satisfaction_requested", TICKET)
    assert messages(known)[0]["to"] == "fang@new.cn"


def test_a_customer_without_an_email_address_gets_no_message(store: DocumentStore) -> None:
    deliver(store, "on_contact_created", "contact_created", {**CONTACT, "email": None})
    deliver(store, "on_ticket_created", "ticket_created", TICKET, actor="a1")
    assert messages(store) == [] and queued_events(store) == []
    assert [title for title, _ in inbox(store, "s1")] == ["Ticket assigned to you"]


def test_a_customer_not_known_yet_is_retried(store: DocumentStore) -> None:
    with pytest.raises(domain.OwnerUnknown):
        deliver(store, "on_ticket_created", "ticket_created", TICKET, actor="a1")
    assert messages(store) == [] and store[NOTIFICATIONS].count() == 0  # nothing half-written


def test_an_erased_customer_gets_no_message_and_nobody_is_told(known: DocumentStore) -> None:
    deliver(known, "on_contact_erased", "contact_erased", {"id": "c1", "version": 3, "erasure_id": "e1"})
    count = known[NOTIFICATIONS].count()
    deliver(known, "on_ticket_created", "ticket_created", TICKET, actor="a1")
    escalated = {**TICKET, "reason": "breach", "actions": [], "recipient_ids": ["s1"]}
    deliver(known, "on_ticket_escalated", "ticket_escalated", escalated)
    assert messages(known) == [] and known[NOTIFICATIONS].count() == count


def test_a_merged_customers_email_goes_to_the_survivors_address(store: DocumentStore) -> None:
    deliver(store, "on_contact_created", "contact_created", {**CONTACT, "id": "dup", "email": "old@example.cn"})
    deliver(store, "on_contact_created", "contact_created", {**CONTACT, "id": "c9", "email": "main@example.cn"})
    deliver(
        store,
        "on_contact_merged",
        "contact_merged",
        {**CONTACT, "id": "c9", "version": 2, "email": "main@example.cn", "merged_ids": ["dup"]},
    )
    deliver(store, "on_ticket_satisfaction_requested", "ticket_satisfaction_requested", {**TICKET, "contact_id": "dup"})
    [message] = messages(store)
    assert (message["contact_id"], message["to"]) == ("c9", "main@example.cn")
    assert queued_events(store)[0]["ticket"]["contact_id"] == "c9"
