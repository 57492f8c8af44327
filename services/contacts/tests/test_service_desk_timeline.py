"""The service desk's story on a customer's timeline (SQLite, no broker): public replies (never
internal notes), escalations, emails queued for the customer, each seen by who sees the ticket."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts.service import ContactsService
from contacts.store import SPECS
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import DocumentStore, open_store

REP = Caller("u1", ("sales_rep",), ("t1",), teammate_ids=("u1",))
AGENT = Caller("s1", ("support_agent",), ("help",), teammate_ids=("s1",))
SYSTEM = Caller("system", ("system",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def as_(store: DocumentStore, caller: Caller) -> ContactsService:
    return worker_factory(ContactsService, store=store, caller=caller)


def deliver(store: DocumentStore, source: str, event_type: str, payload: dict) -> dict:
    body = new_event(event_type, source, payload, actor="s1").as_dict()
    getattr(as_(store, SYSTEM), f"on_{event_type}")(body)
    return body


def timeline(store: DocumentStore, caller: Caller, contact_id: str) -> list[tuple[str, str, dict]]:
    entries = as_(store, caller).get_timeline("contact", contact_id, {})["data"]
    return [(e["kind"], e["summary"], e["ref"]) for e in entries]


@pytest.fixture
def contact(store: DocumentStore) -> dict:
    """Rep u1's customer, with a ticket of the help team (which links the customer to the team)."""
    created = as_(store, REP).create_contact({"first_name": "Fang", "last_name": "Wang"})
    deliver(store, "service_desk", "ticket_created", {**ticket_of(created), "version": 1})
    return created


def ticket_of(contact: dict, **fields) -> dict:
    return {
        "id": "tk1",
        "version": 2,
        "subject": "Printer jams",
        "priority": "high",
        "status": "open",
        "contact_id": contact["id"],
        "company_id": None,
        "team_id": "help",
        "assignee_id": "s1",
        "contact_owner_id": "u1",
        **fields,
    }


def test_public_replies_are_on_the_timeline_internal_notes_are_not(store: DocumentStore, contact: dict) -> None:
    ticket = ticket_of(contact)
    reply = {"id": "cm1", "body": "Please restart it.", "public": True, "author_type": "staff"}
    note = {"id": "cm2", "body": "Toner again, sigh", "public": False, "author_type": "staff"}
    said = {"id": "cm3", "body": "Still jams", "public": True, "author_type": "customer"}
    for comment in (reply, note, said):
        deliver(store, "service_desk", "ticket_commented", {"comment": comment, "ticket": ticket})
    lines = [summary for _, summary, _ in timeline(store, REP, contact["id"])]
    assert "Reply to the customer on ticket Printer jams: Please restart it." in lines
    assert "The customer wrote on ticket Printer jams: Still jams" in lines
    assert not any("Toner" in line for line in lines)
    seen_by_agent = [summary for _, summary, ref in timeline(store, AGENT, contact["id"]) if ref["id"] == "tk1"]
    assert "Reply to the customer on ticket Printer jams: Please restart it." in seen_by_agent


def test_a_long_reply_is_cut_to_200_characters(store: DocumentStore, contact: dict) -> None:
    reply = {"id": "cm1", "body": "x" * 500, "public": True, "author_type": "staff"}
    deliver(store, "service_desk", "ticket_commented", {"comment": reply, "ticket": ticket_of(contact)})
    [summary] = [e[1] for e in timeline(store, REP, contact["id"]) if e[1].startswith("Reply")]
    assert summary.endswith(": " + "x" * 200) and "x" * 201 not in summary


def test_escalations_are_on_the_timeline(store: DocumentStore, contact: dict) -> None:
    extras = {"step_id": "s1", "actions": [], "recipient_ids": ["m2"]}
    deliver(store, "service_desk", "ticket_escalated", {**ticket_of(contact), **extras, "reason": "warning"})
    deliver(store, "service_desk", "ticket_escalated", {**ticket_of(contact), **extras, "reason": "breach"})
    lines = [summary for _, summary, _ in timeline(store, REP, contact["id"])]
    assert "Ticket Printer jams escalated before its SLA due time" in lines
    assert "Ticket Printer jams escalated after an SLA breach" in lines


def message(contact: dict, ticket: dict, **fields) -> dict:
    snapshot = {
        k: ticket[k]
        for k in ("id", "version", "contact_id", "company_id", "team_id", "assignee_id", "contact_owner_id")
    }
    return {
        "id": "e1:ticket_acknowledgement",
        "contact_id": contact["id"],
        "channel": "email",
        "to": "fang@example.cn",
        "subject": "We received your request: Printer jams [#tk1]",
        "body": "...",
        "status": "queued",
        "kind": "ticket_acknowledgement",
        "ref": {"type": "ticket", "id": "tk1"},
        "ticket": snapshot,
        **fields,
    }


def test_a_queued_email_is_on_the_timeline_with_the_tickets_access(store: DocumentStore, contact: dict) -> None:
    deliver(store, "notifications", "message_queued", message(contact, ticket_of(contact)))
    entry = (
        "message",
        "Email to the customer queued: We received your request: Printer jams [#tk1]",
        {"type": "ticket", "id": "tk1"},
    )
    assert entry in timeline(store, REP, contact["id"])
    assert entry in timeline(store, AGENT, contact["id"])


def test_a_queued_email_about_a_ticket_the_owner_does_not_see_is_hidden_from_them(
    store: DocumentStore, contact: dict
) -> None:
    hidden = ticket_of(contact, contact_owner_id=None)  # the service team's only
    deliver(store, "notifications", "message_queued", message(contact, hidden))
    assert not [e for e in timeline(store, REP, contact["id"]) if e[0] == "message"]
    assert [e for e in timeline(store, AGENT, contact["id"]) if e[0] == "message"]
    # the ticket is handed to the owner's view later: the entry follows the ticket's access
    deliver(
        store,
        "service_desk",
        "ticket_updated",
        {**hidden, "version": 3, "contact_owner_id": "u1", "changes": ["contact_owner_id"]},
    )
    assert [e for e in timeline(store, REP, contact["id"]) if e[0] == "message"]


def test_a_message_without_a_ticket_is_seen_by_who_sees_the_customer(store: DocumentStore, contact: dict) -> None:
    plain = {k: v for k, v in message(contact, ticket_of(contact)).items() if k not in ("ticket", "ref")}
    deliver(store, "notifications", "message_queued", {**plain, "subject": "Welcome"})
    assert ("message", "Email to the customer queued: Welcome", {"type": "message", "id": plain["id"]}) in timeline(
        store, REP, contact["id"]
    )


def test_a_sent_email_about_a_hidden_ticket_is_hidden_like_its_queued_line(store: DocumentStore, contact: dict) -> None:
    hidden = ticket_of(contact, contact_owner_id=None)  # the service team's only
    sent = {
        "id": "d1",
        "contact_id": contact["id"],
        "company_id": None,
        "channel": "email",
        "subject": "Re: Printer jams [#tk1]",
        "kind": "ticket_reply",
        "ref": {"type": "ticket", "id": "tk1"},
        "provider_id": "<d1.0@example.test>",
        "sent_at": "2030-01-02T09:00:00.000000Z",
        "ticket": {k: hidden[k] for k in ("id", "version", "contact_id", "company_id", "team_id", "assignee_id")}
        | {"contact_owner_id": None},
    }
    deliver(store, "notifications", "message_sent", sent)
    assert not [e for e in timeline(store, REP, contact["id"]) if e[0] == "message"]
    assert ("message", "Email sent: Re: Printer jams [#tk1]", {"type": "ticket", "id": "tk1"}) in timeline(
        store, AGENT, contact["id"]
    )


def test_a_sent_sms_greeting_is_seen_by_who_sees_the_customer(store: DocumentStore, contact: dict) -> None:
    sent = {"id": "d2", "contact_id": contact["id"], "channel": "sms", "subject": None, "ticket": None}
    deliver(store, "notifications", "message_sent", sent)
    assert ("message", "SMS sent", {"type": "message", "id": "d2"}) in timeline(store, REP, contact["id"])


def test_the_sla_and_satisfaction_lines_read_the_service_desks_payload_names(
    store: DocumentStore, contact: dict
) -> None:
    # the names service_desk publishes: target, due_at, breached_at; score, comment, low
    ticket = ticket_of(contact)
    breach = {
        "target": "resolution",
        "due_at": "2026-11-24T09:00:00.000000Z",
        "breached_at": "2026-11-24T09:00:00.000000Z",
    }
    deliver(store, "service_desk", "ticket_sla_breached", {**ticket, **breach})
    deliver(store, "service_desk", "ticket_satisfaction_rated", {**ticket, "score": 2, "comment": "slow", "low": True})
    lines = [summary for _, summary, _ in timeline(store, REP, contact["id"])]
    assert "Ticket Printer jams breached its resolution target (due 2026-11-24T09:00:00.000000Z)" in lines
    assert "Satisfaction 2/5 on ticket Printer jams: slow" in lines


def test_a_merge_is_on_the_survivors_timeline(store: DocumentStore, contact: dict) -> None:
    deliver(store, "service_desk", "ticket_merged", {**ticket_of(contact, version=3), "merged_ids": ["tk2", "tk3"]})
    assert "Ticket Printer jams: 2 duplicate ticket(s) merged into it" in [
        s for _, s, _ in timeline(store, REP, contact["id"])
    ]
