"""Customer records end to end inside the service: fields, custom fields, lifecycle and owner
history, versions read back with as_of, interactions, and other services' facts on the timeline."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts.service import ContactsService
from contacts.store import SPECS
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",), ("t1",), managed_team_ids=("t1",), managed_user_ids=("m1", "u1", "u2"))
REP = Caller("u1", ("sales_rep",), ("t1",), teammate_ids=("m1", "u1", "u2"))
OTHER_REP = Caller("u2", ("sales_rep",), ("t1",), teammate_ids=("m1", "u1", "u2"))
SYSTEM = Caller("system", ("system",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def as_(store: DocumentStore, caller: Caller) -> ContactsService:
    return worker_factory(ContactsService, store=store, caller=caller)


def deliver(store: DocumentStore, source: str, event_type: str, payload: dict) -> dict:
    event = new_event(event_type, source, payload, actor="someone").as_dict()
    getattr(as_(store, SYSTEM), f"on_{event_type}")(event)
    return event


def outbox_types(store: DocumentStore) -> list[str]:
    return [row["event"]["event_type"] for row in store[OUTBOX].iterate(None, [("id", 1)])]


def timeline(store: DocumentStore, caller: Caller, subject_id: str, **query) -> list[str]:
    return [e["summary"] for e in as_(store, caller).get_timeline("contact", subject_id, query)["data"]]


# fields and custom fields


def test_a_contact_keeps_the_full_profile_and_lower_cases_emails(store: DocumentStore) -> None:
    contact = as_(store, REP).create_contact(
        {
            "first_name": "伟",
            "last_name": "张",
            "local_name": "张伟",
            "email": "Zhang.Wei@Example.CN",
            "other_emails": ["WEI@home.cn"],
            "phone": "+86 138 0013 8000",
            "addresses": [{"kind": "work", "city": "上海", "country": "CN"}],
            "source_channel": "event",
            "source_campaign": "Expo 2026",
            "birthday": "1990-02-10",
            "interests": ["tea"],
            "preferences": {"contact_by": "wechat"},
        }
    )
    assert contact["display_name"] == "张伟"
    assert (contact["email"], contact["other_emails"]) == ("zhang.wei@example.cn", ["wei@home.cn"])
    assert contact["lifecycle_history"][0]["stage"] == "lead"
    assert contact["owner_id"] == "u1" and contact["owner_history"] == [] and contact["pool"] is None
    assert contact["open_deal_count"] == 0 and contact["last_activity_at"] is None


def test_bad_nested_fields_are_listed_with_their_item(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as refused:
        as_(store, REP).create_contact(
            {"first_name": "A", "addresses": [{"city": "x", "zip": "1"}], "other_emails": ["not-an-email"]}
        )
    fields = {e["field"]: e["message"] for e in refused.value.errors}
    assert "zip" in fields["addresses"] and "item 1" in fields["other_emails"]


def test_custom_fields_must_be_defined_typed_and_present_when_required(store: DocumentStore) -> None:
    admin = as_(store, ADMIN)
    admin.create_custom_field(
        {
            "entity": "contact",
            "key": "region",
            "label": "Region",
            "type": "choice",
            "choices": ["east", "west"],
            "required": True,
        }
    )
    admin.create_custom_field({"entity": "contact", "key": "budget", "label": "Budget", "type": "number"})
    admin.create_custom_field({"entity": "contact", "key": "vip", "label": "VIP", "type": "boolean"})
    rep = as_(store, REP)
    with pytest.raises(ValidationFailed) as refused:
        rep.create_contact({"first_name": "A", "custom_fields": {"budget": "lots", "colour": "red"}})
    assert {e["field"] for e in refused.value.errors} == {
        "custom_fields.budget",
        "custom_fields.colour",
        "custom_fields.region",
    }
    contact = rep.create_contact({"first_name": "A", "custom_fields": {"region": "east", "budget": 12.5}})
    updated = rep.update_contact(contact["id"], {"custom_fields": {"vip": True, "budget": None}})
    assert updated["custom_fields"] == {"region": "east", "vip": True}
    with pytest.raises(ValidationFailed):
        rep.update_contact(contact["id"], {"custom_fields": {"region": None}})
    east = rep.list_contacts({"filter": {"custom_fields.region": "east"}})["data"]
    assert [c["id"] for c in east] == [contact["id"]]


def test_only_admins_define_custom_fields_and_keys_are_unique_per_entity(store: DocumentStore) -> None:
    definition = {"entity": "company", "key": "tier", "label": "Tier", "type": "multi_choice", "choices": ["gold"]}
    with pytest.raises(Forbidden):
        as_(store, MANAGER).create_custom_field(definition)
    created = as_(store, ADMIN).create_custom_field(definition)
    with pytest.raises(Conflict):
        as_(store, ADMIN).create_custom_field(definition)
    with pytest.raises(ValidationFailed):
        as_(store, ADMIN).create_custom_field({**definition, "key": "x", "choices": []})
    with pytest.raises(ValidationFailed):
        as_(store, ADMIN).update_custom_field(created["id"], {"type": "text"})
    as_(store, ADMIN).delete_custom_field(created["id"])
    assert as_(store, REP).get_custom_field(created["id"])["active"] is False
    with pytest.raises(ValidationFailed):
        as_(store, ADMIN).create_company({"name": "Acme", "custom_fields": {"tier": ["gold"]}})


# history


def test_lifecycle_and_owner_changes_are_kept_with_who_and_when(store: DocumentStore) -> None:
    contact = as_(store, REP).create_contact({"first_name": "Ann"})
    as_(store, REP).update_contact(contact["id"], {"lifecycle_stage": "opportunity"})
    moved = as_(store, MANAGER).update_contact(contact["id"], {"owner_id": "u2", "lifecycle_stage": "customer"})
    assert [s["stage"] for s in moved["lifecycle_history"]] == ["lead", "opportunity", "customer"]
    assert moved["lifecycle_history"][-1]["from_stage"] == "opportunity"
    assert moved["owner_history"] == [
        {"owner_id": "u2", "from_owner_id": "u1", "at": moved["updated_at"], "by": "m1", "reason": "reassigned"}
    ]
    # The history stays with the customer: the new owner reads the whole story.
    story = timeline(store, OTHER_REP, contact["id"])
    assert any("lifecycle_stage lead -> opportunity" in line for line in story)


def test_as_of_reads_the_profile_and_the_timeline_as_they_were(store: DocumentStore) -> None:
    rep = as_(store, REP)
    contact = rep.create_contact({"first_name": "Ann", "lifecycle_stage": "lead"})
    time.sleep(0.01)
    middle = rep.update_contact(contact["id"], {"lifecycle_stage": "customer"})["updated_at"]
    time.sleep(0.01)
    rep.update_contact(contact["id"], {"lifecycle_stage": "loyal"})
    assert rep.get_contact(contact["id"], as_of=contact["created_at"])["lifecycle_stage"] == "lead"
    assert rep.get_contact(contact["id"], as_of=middle)["lifecycle_stage"] == "customer"
    assert rep.get_contact(contact["id"])["lifecycle_stage"] == "loyal"
    then = rep.get_timeline("contact", contact["id"], {"as_of": middle})
    assert then["profile"]["lifecycle_stage"] == "customer" and len(then["data"]) == 2
    with pytest.raises(NotFound):
        rep.get_contact(contact["id"], as_of="2000-01-01")
    with pytest.raises(ValidationFailed):
        rep.get_contact(contact["id"], as_of="last tuesday")


def test_a_deleted_contact_keeps_its_history_for_who_saw_it(store: DocumentStore) -> None:
    contact = as_(store, REP).create_contact({"first_name": "Ann"})
    as_(store, REP).delete_contact(contact["id"])
    with pytest.raises(NotFound):
        as_(store, REP).get_contact(contact["id"])
    assert timeline(store, MANAGER, contact["id"])[0] == "Contact deleted by u1"
    assert as_(store, REP).get_contact(contact["id"], as_of=contact["created_at"])["first_name"] == "Ann"
    with pytest.raises(NotFound):
        as_(store, Caller("u9", ("sales_rep",), ("t9",))).get_timeline("contact", contact["id"], {})


# interactions


def test_an_interaction_lands_on_both_timelines_and_moves_last_activity(store: DocumentStore) -> None:
    rep = as_(store, REP)
    company = rep.create_company({"name": "Acme"})
    contact = rep.create_contact({"first_name": "Ann", "company_id": company["id"]})
    call = rep.create_interaction(
        {
            "kind": "call",
            "contact_id": contact["id"],
            "occurred_at": "2026-11-20T09:30:00+08:00",
            "subject": "Pricing",
            "outcome": "demo booked",
            "participants": [{"name": "Ann"}],
        }
    )
    assert call["company_id"] == company["id"] and call["direction"] == "outbound"
    assert call["occurred_at"] == "2026-11-20T01:30:00.000000Z" and call["owner_id"] == "u1"
    assert rep.get_contact(contact["id"])["last_activity_at"] == call["occurred_at"]
    assert rep.get_company(company["id"])["last_activity_at"] == call["occurred_at"]
    kinds = rep.get_timeline("company", company["id"], {"kind": "interaction"})["data"]
    assert [e["summary"] for e in kinds] == ["Call (outbound): Pricing - demo booked"]
    assert "interaction_logged" in outbox_types(store)


def test_interactions_follow_their_customer_to_a_new_owner(store: DocumentStore) -> None:
    contact = as_(store, REP).create_contact({"first_name": "Ann"})
    note = as_(store, REP).create_interaction({"kind": "note", "contact_id": contact["id"], "summary": "likes tea"})
    assert as_(store, REP).list_interactions({})["data"][0]["id"] == note["id"]
    with pytest.raises(NotFound):
        as_(store, OTHER_REP).get_interaction(note["id"])
    as_(store, MANAGER).update_contact(contact["id"], {"owner_id": "u2"})
    assert as_(store, OTHER_REP).get_interaction(note["id"])["owner_id"] == "u2"
    assert as_(store, REP).list_interactions({})["data"] == []
    with pytest.raises(Forbidden):
        as_(store, OTHER_REP).update_interaction(note["id"], {"summary": "hates tea"})  # logged by u1
    assert as_(store, MANAGER).update_interaction(note["id"], {"summary": "loves tea"})["summary"] == "loves tea"


def test_an_interaction_needs_a_visible_customer(store: DocumentStore) -> None:
    theirs = as_(store, OTHER_REP).create_contact({"first_name": "Bob"})
    with pytest.raises(ValidationFailed):
        as_(store, REP).create_interaction({"kind": "call", "contact_id": theirs["id"]})
    with pytest.raises(ValidationFailed):
        as_(store, REP).create_interaction({"kind": "call"})
    with pytest.raises(ValidationFailed):
        as_(store, REP).create_interaction({"kind": "fax", "contact_id": theirs["id"]})


# other services' facts


def test_deals_orders_grades_tickets_and_messages_tell_the_story(store: DocumentStore) -> None:
    contact = as_(store, REP).create_contact({"first_name": "Ann"})
    deal = {
        "id": "d1",
        "version": 1,
        "title": "Big",
        "amount": "100.00",
        "currency": "CNY",
        "owner_id": "u1",
        "shared_with": [],
        "contact_id": contact["id"],
        "company_id": None,
        "status": "open",
        "stage_id": "s1",
    }
    deliver(store, "sales", "deal_created", deal)
    assert as_(store, REP).get_contact(contact["id"])["open_deal_count"] == 1
    deliver(
        store,
        "sales",
        "deal_updated",
        {**deal, "version": 2, "stage_id": "s2", "stage_name": "Proposal", "changes": ["stage_id"]},
    )
    deliver(store, "sales", "deal_updated", {**deal, "version": 3, "status": "won", "changes": ["status"]})
    assert as_(store, REP).get_contact(contact["id"])["open_deal_count"] == 0
    deliver(
        store,
        "sales",
        "order_created",
        {
            "id": "o1",
            "version": 1,
            "contact_id": contact["id"],
            "amount": "100.00",
            "currency": "CNY",
            "status": "paid",
            "owner_id": "u1",
        },
    )
    deliver(store, "sales", "customer_graded", {"subject_type": "contact", "id": contact["id"], "value_grade": "A"})
    deliver(
        store,
        "sales",
        "churn_risk_changed",
        {"subject_type": "contact", "id": contact["id"], "churn_risk": "high", "reason": "orders fell 60%"},
    )
    ticket = {
        "id": "t1",
        "version": 1,
        "subject": "Late",
        "priority": "high",
        "contact_id": contact["id"],
        "team_id": "help",
        "assignee_id": None,
        "contact_owner_id": "u1",
    }
    deliver(
        store,
        "service_desk",
        "ticket_sla_breached",
        {**ticket, "target": "first_response", "due_at": "2026-11-20T10:00:00Z"},
    )
    deliver(store, "service_desk", "ticket_satisfaction_rated", {**ticket, "score": 5, "comment": "great"})
    deliver(
        store,
        "notifications",
        "message_sent",
        {"id": "m1", "contact_id": contact["id"], "channel": "email", "subject": "Happy Spring Festival"},
    )
    current = as_(store, REP).get_contact(contact["id"])
    assert (current["value_grade"], current["churn_risk"]) == ("A", "high")
    story = timeline(store, REP, contact["id"])
    for line in (
        "Deal Big opened (100.00 CNY)",
        "Deal Big moved to Proposal",
        "Deal Big won (100.00 CNY)",
        "Order placed: 100.00 CNY (paid)",
        "Value grade is now A",
        "Churn risk is now high: orders fell 60%",
        "Ticket Late breached its first response target (due 2026-11-20T10:00:00Z)",
        "Satisfaction 5/5 on ticket Late: great",
        "Email sent: Happy Spring Festival",
    ):
        assert line in story


def test_an_older_grade_arriving_late_does_not_win(store: DocumentStore) -> None:
    contact = as_(store, REP).create_contact({"first_name": "Ann"})
    newer = new_event("customer_graded", "sales", {"subject_type": "contact", "id": contact["id"], "value_grade": "A"})
    older = new_event("customer_graded", "sales", {"subject_type": "contact", "id": contact["id"], "value_grade": "D"})
    older_dict = {**older.as_dict(), "occurred_at": "2000-01-01T00:00:00.000000Z"}
    as_(store, SYSTEM).on_customer_graded(newer.as_dict())
    as_(store, SYSTEM).on_customer_graded(older_dict)
    assert as_(store, REP).get_contact(contact["id"])["value_grade"] == "A"
