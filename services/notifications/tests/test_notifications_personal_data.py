"""Personal data in notifications: the export of what people were told about a contact, its
scrubbing on erasure, and late events that must not bring the name back (SQLite, no broker)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Forbidden
from crm_common.store import OUTBOX, DocumentStore, open_store
from notifications import domain, notice_rules
from notifications.service import NotificationsService
from notifications.store import (
    CONTACT_OWNERS,
    DELIVERIES,
    NOTICE_DIGEST_ENTRIES,
    NOTIFICATION_PREFERENCES,
    NOTIFICATION_RULES,
    NOTIFICATIONS,
    OPT_OUTS,
    SPECS,
)

ADMIN = Caller("a1", ("admin",))
SYSTEM = Caller("system", ("system",))
MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1"))
CONTACT = {"id": "c1", "version": 1, "display_name": "张伟明", "owner_id": "u1", "email": "zwm@example.cn"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def notifications(store: DocumentStore, caller: Caller = SYSTEM) -> NotificationsService:
    return worker_factory(NotificationsService, store=store, caller=caller)


def handle(store: DocumentStore, handler: str, source: str, event_type: str, payload: dict) -> None:
    body = new_event(event_type, source, payload, actor="u9").as_dict()
    getattr(notifications(store), handler)(body)


@pytest.fixture
def told(store: DocumentStore) -> DocumentStore:
    """The owner was told of the new customer, of a deal and of a ticket; someone else's customer too."""
    handle(store, "on_contact_created", "contacts", "contact_created", CONTACT)
    handle(store, "on_contact_created", "contacts", "contact_created", {**CONTACT, "id": "c2", "display_name": "Li"})
    deal = {"id": "d1", "title": "ERP rollout", "contact_id": "c1"}
    handle(store, "on_deal_created", "sales", "deal_created", deal)
    ticket = {"id": "tk1", "subject": "Cannot log in", "priority": "high", "contact_id": "c1"}
    handle(store, "on_ticket_created", "service_desk", "ticket_created", ticket)  # the owner, the acknowledgement
    return store


def about(store: DocumentStore, contact_id: str) -> list[dict]:
    return notifications(store, ADMIN).export_personal_data(contact_id)["notifications"]


def test_the_export_lists_every_notification_about_the_contact(told: DocumentStore) -> None:
    export = notifications(told, ADMIN).export_personal_data("c1")
    assert [n["ref"]["type"] for n in export["notifications"]] == ["contact", "deal", "ticket"]
    assert all("张伟明" in n["body"] for n in export["notifications"])
    assert export["contact_owner"]["name"] == "张伟明"
    [message] = export["deliveries"]
    assert (message["to"], message["kind"]) == ("zwm@example.cn", "ticket_acknowledgement")
    assert "张伟明" in message["body"]


def test_only_admins_and_the_platform_may_export(told: DocumentStore) -> None:
    with pytest.raises(Forbidden):
        notifications(told, MANAGER).export_personal_data("c1")


def test_erasure_scrubs_what_named_the_person_and_forgets_its_owner(told: DocumentStore) -> None:
    handle(told, "on_contact_erased", "contacts", "contact_erased", {"id": "c1", "version": 3, "erasure_id": "e1"})

    scrubbed = about(told, "c1")
    assert [n["body"] for n in scrubbed] == [domain.ERASED_TEXT] * 3
    assert [n["title"] for n in scrubbed][0] == "New customer assigned to you"  # what the owner was told, and when
    assert told[CONTACT_OWNERS].get("c1") is None
    [message] = told[DELIVERIES].iterate({"contact_id": "c1"})
    assert (message["to"], message["subject"], message["body"]) == ("", domain.ERASED_TEXT, domain.ERASED_TEXT)
    assert (message["status"], message["next_attempt_at"]) == ("cancelled", None)  # never sent now
    assert "Li" in about(told, "c2")[0]["body"]
    (report,) = [
        r["event"]["payload"]
        for r in told[OUTBOX].find(None, [("id", 1)], 50).items
        if r["event"]["event_type"] == "personal_data_erased"
    ]
    assert report["detail"] == {
        "notifications_scrubbed": 3,
        "deliveries_scrubbed": 1,
        "owner_projection_removed": True,
    }
    assert (report["service"], report["erasure_id"]) == ("notifications", "e1")


def test_late_events_about_an_erased_contact_bring_nothing_back(told: DocumentStore) -> None:
    handle(told, "on_contact_erased", "contacts", "contact_erased", {"id": "c1", "version": 3, "erasure_id": "e1"})
    count = told[NOTIFICATIONS].count()

    handle(told, "on_contact_created", "contacts", "contact_created", CONTACT)
    handle(told, "on_contact_updated", "contacts", "contact_updated", {**CONTACT, "version": 2})
    handle(told, "on_contact_assigned", "contacts", "contact_assigned", {**CONTACT, "version": 2})
    handle(told, "on_deal_created", "sales", "deal_created", {"id": "d2", "title": "Late", "contact_id": "c1"})
    ticket = {"id": "tk2", "subject": "Late", "priority": "low", "contact_id": "c1"}
    handle(told, "on_ticket_created", "service_desk", "ticket_created", {**ticket, "assignee_id": "s1"})

    assert told[NOTIFICATIONS].count() == count
    assert told[DELIVERIES].count() == 1  # the one scrubbed
    assert told[CONTACT_OWNERS].get("c1") is None


def test_erasure_also_scrubs_what_named_the_contacts_merged_into_the_person(told: DocumentStore) -> None:
    # c3 (the same person, entered twice) was merged into c1: what its owner was told stays under c3.
    handle(told, "on_contact_created", "contacts", "contact_created", {**CONTACT, "id": "c3", "display_name": "Wei"})
    handle(told, "on_contact_merged", "contacts", "contact_merged", {**CONTACT, "version": 2, "merged_ids": ["c3"]})
    erased = {"id": "c1", "version": 3, "erasure_id": "e1", "merged_ids": ["c3"]}
    handle(told, "on_contact_erased", "contacts", "contact_erased", erased)

    assert [n["body"] for n in about(told, "c3")] == [domain.ERASED_TEXT]
    assert told[CONTACT_OWNERS].get("c3") is None
    count = told[NOTIFICATIONS].count()
    handle(told, "on_contact_created", "contacts", "contact_created", {**CONTACT, "id": "c3", "display_name": "Wei"})
    assert told[NOTIFICATIONS].count() == count  # a late event of the merged id brings nothing back


def test_the_admin_who_asked_for_an_erasure_is_told_when_it_completed(store: DocumentStore) -> None:
    erasure = {"id": "e1", "version": 5, "contact_id": "c1", "requested_by": "a1", "status": "completed"}
    body = new_event("erasure_completed", "contacts", erasure, actor="system").as_dict()
    notifications(store).on_erasure_completed(body)
    notifications(store).on_erasure_completed(body)  # a redelivery tells them once

    (told,) = notifications(store, ADMIN).list_notifications({})["data"]
    assert (told["title"], told["body"]) == ("Erasure completed", "Erasure of contact c1 completed")
    assert told["ref"] == {"type": "erasure", "id": "e1"} and told["recipient_id"] == "a1"
    assert "contact_id" not in told  # it names no person: nothing for a later export or erasure to find


# staff notices by email and digest, and opt-outs


@pytest.fixture
def emailed(store: DocumentStore) -> DocumentStore:
    """New deals are told by email too: the owner (u1) gets one at once, a director (u2) in a
    daily digest; the customer unsubscribed from greeting emails."""
    rule = notice_rules.default_rule("deal_created")
    store[NOTIFICATION_RULES].put({**rule, "channels": ["in_app", "email"], "user_ids": ["u2"], "customized": True})
    store[NOTIFICATION_PREFERENCES].put(notice_rules.default_preferences("u1", "u1@crm.local"))
    store[NOTIFICATION_PREFERENCES].put({**notice_rules.default_preferences("u2", "u2@crm.local"), "digest": "daily"})
    store[OPT_OUTS].put(
        {"id": "c1:email", "contact_id": "c1", "channel": "email", "created_at": "2030-01-01T00:00:00Z"}
    )
    handle(store, "on_contact_created", "contacts", "contact_created", CONTACT)
    handle(store, "on_deal_created", "sales", "deal_created", {"id": "d1", "title": "ERP rollout", "contact_id": "c1"})
    return store


def test_the_export_lists_staff_notices_digest_entries_and_opt_outs(emailed: DocumentStore) -> None:
    export = notifications(emailed, ADMIN).export_personal_data("c1")
    [notice] = export["staff_notices"]
    assert (notice["to"], notice["kind"], notice["recipient_user_id"]) == ("u1@crm.local", "staff_notice", "u1")
    assert notice["about_contact_id"] == "c1" and notice["contact_id"] is None  # no message to the customer
    assert "ERP rollout for 张伟明" in notice["body"]
    [entry] = export["digest_entries"]
    assert (entry["user_id"], entry["body"]) == ("u2", "ERP rollout for 张伟明")
    assert [o["id"] for o in export["opt_outs"]] == ["c1:email"]
    assert export["deliveries"] == []  # nothing was sent to the customer
    other = notifications(emailed, ADMIN).export_personal_data("c2")
    assert (other["staff_notices"], other["digest_entries"], other["opt_outs"]) == ([], [], [])


def test_erasure_scrubs_staff_notices_and_digest_entries_naming_the_person(emailed: DocumentStore) -> None:
    handle(emailed, "on_contact_erased", "contacts", "contact_erased", {"id": "c1", "version": 3, "erasure_id": "e1"})

    [notice] = emailed[DELIVERIES].iterate({"about_contact_id": "c1"})
    assert (notice["to"], notice["subject"], notice["body"]) == ("", domain.ERASED_TEXT, domain.ERASED_TEXT)
    assert notice["status"] == "cancelled"  # not sent yet: it never goes out now
    [entry] = emailed[NOTICE_DIGEST_ENTRIES].iterate({"about_contact_id": "c1"})
    assert (entry["title"], entry["body"]) == ("New deal for your customer", domain.ERASED_TEXT)
    (report,) = [
        r["event"]["payload"]
        for r in emailed[OUTBOX].find(None, [("id", 1)], 50).items
        if r["event"]["event_type"] == "personal_data_erased"
    ]
    assert report["detail"]["deliveries_scrubbed"] == 2  # the staff email and the digest entry
    handle(emailed, "on_contact_erased", "contacts", "contact_erased", {"id": "c1", "version": 3, "erasure_id": "e1"})
    assert emailed[DELIVERIES].get(notice["id"])["version"] == notice["version"]  # scrubbed once


def test_a_sent_digest_stays_findable_and_an_erasure_scrubs_it(emailed: DocumentStore) -> None:
    """The digest email names the customer though it is about many: the entries it told keep its
    delivery id, so the export shows it and an erasure scrubs (a queued one: cancels) it."""
    assert notifications(emailed).send_digests_at(datetime(2100, 1, 1, tzinfo=UTC)) == 1
    [digest] = emailed[DELIVERIES].iterate({"kind": "notice_digest"})
    assert "ERP rollout for 张伟明" in digest["body"] and digest["about_contact_id"] is None
    [entry] = notifications(emailed, ADMIN).export_personal_data("c1")["digest_entries"]
    assert (entry["state"], entry["digest_delivery_id"]) == ("sent", digest["id"])

    handle(emailed, "on_contact_erased", "contacts", "contact_erased", {"id": "c1", "version": 3, "erasure_id": "e1"})
    scrubbed = emailed[DELIVERIES].get(digest["id"])
    assert (scrubbed["to"], scrubbed["body"], scrubbed["status"]) == ("", domain.ERASED_TEXT, "cancelled")
    assert emailed[NOTICE_DIGEST_ENTRIES].get(entry["id"])["body"] == domain.ERASED_TEXT
    (report,) = [
        r["event"]["payload"]
        for r in emailed[OUTBOX].find(None, [("id", 1)], 50).items
        if r["event"]["event_type"] == "personal_data_erased"
    ]
    assert report["detail"]["deliveries_scrubbed"] == 3  # the staff email, the digest entry and its email
