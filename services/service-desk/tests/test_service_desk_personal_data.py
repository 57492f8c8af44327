"""Personal data in the service desk: the export of a contact's tickets, their scrubbing on erasure,
and no new ticket for an erased contact (SQLite, no broker)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Forbidden, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from service_desk import domain
from service_desk.service import ServiceDeskService
from service_desk.store import CONTACT_OWNERS, SPECS, TICKETS

ADMIN = Caller("a1", ("admin",))
SYSTEM = Caller("system", ("system",))
AGENT = Caller("s1", ("support_agent",), ("t-help",))
MANAGER = Caller("m2", ("manager",), ("t-help",), managed_team_ids=("t-help",), managed_user_ids=("s1",))


class FakeContacts:
    """The contacts service as it answered just before the erasure committed."""

    def as_system(self) -> "FakeContacts":
        return self

    def get_contact(self, contact_id: str) -> dict:
        return {"id": contact_id, "owner_id": "u1", "company_id": None, "version": 3}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    for ticket_id, contact_id in (("tk1", "c1"), ("tk2", "c1"), ("tk3", "c2")):
        fields = {
            "subject": f"张伟明 cannot log in ({ticket_id})",
            "description": "My phone is +86 138 0000 4321",
            "contact_id": contact_id,
            "team_id": "t-help",
            "priority": "high",
        }
        opened[TICKETS].insert({**domain.new_ticket(fields, "s1", now), "id": ticket_id})
    opened[CONTACT_OWNERS].put({"id": "c1", "owner_id": "u1", "source_version": 3})
    yield opened
    opened.close()


def desk(store: DocumentStore, caller: Caller) -> ServiceDeskService:
    return worker_factory(ServiceDeskService, store=store, caller=caller, contacts=FakeContacts())


def erased(contact_id: str = "c1") -> dict:
    return new_event("contact_erased", "contacts", {"id": contact_id, "version": 4, "erasure_id": "e1"}).as_dict()


def test_the_export_lists_the_contacts_tickets_in_every_team(store: DocumentStore) -> None:
    export = desk(store, ADMIN).export_personal_data("c1")
    assert [t["id"] for t in export["tickets"]] == ["tk1", "tk2"]
    assert export["contact_owner"]["owner_id"] == "u1"


@pytest.mark.parametrize("caller", [AGENT, MANAGER], ids=lambda c: c.roles[0])
def test_only_admins_and_the_platform_may_export(store: DocumentStore, caller: Caller) -> None:
    with pytest.raises(Forbidden):
        desk(store, caller).export_personal_data("c1")


def test_erasure_scrubs_the_persons_words_and_keeps_the_ticket_skeleton(store: DocumentStore) -> None:
    before = store[TICKETS].get("tk1")
    desk(store, SYSTEM).on_contact_erased(erased())

    for ticket_id in ("tk1", "tk2"):
        ticket = store[TICKETS].get(ticket_id)
        assert ticket["subject"] == domain.ERASED_TEXT and ticket["description"] == ""
        skeleton = ("kind", "priority", "status", "team_id", "channel", "contact_id", "first_response_due_at")
        assert {k: ticket[k] for k in skeleton} == {k: before[k] for k in skeleton}
    assert store[TICKETS].get("tk3")["subject"].startswith("张伟明")  # another contact's ticket

    events = [r["event"] for r in store[OUTBOX].find(None, [("id", 1)], 50).items]
    updates = [e["payload"] for e in events if e["event_type"] == "ticket_updated"]
    assert [(u["id"], u["subject"], u["changes"]) for u in updates] == [
        ("tk1", domain.ERASED_TEXT, ["subject", "description"]),
        ("tk2", domain.ERASED_TEXT, ["subject", "description"]),
    ]
    (report,) = [e["payload"] for e in events if e["event_type"] == "personal_data_erased"]
    assert report == {
        "contact_id": "c1",
        "erasure_id": "e1",
        "service": "service_desk",
        "detail": {"tickets_scrubbed": 2, "comments_scrubbed": 0},
    }


def test_a_second_erasure_event_scrubs_nothing_more_but_still_reports(store: DocumentStore) -> None:
    desk(store, SYSTEM).on_contact_erased(erased())
    desk(store, SYSTEM).on_contact_erased(erased())  # a new event id: e.g. replayed from the dead letters
    events = [r["event"] for r in store[OUTBOX].find(None, [("id", 1)], 50).items]
    reports = [e["payload"]["detail"] for e in events if e["event_type"] == "personal_data_erased"]
    assert reports == [
        {"tickets_scrubbed": 2, "comments_scrubbed": 0},
        {"tickets_scrubbed": 0, "comments_scrubbed": 0},
    ]


def test_no_ticket_is_opened_for_a_contact_erased_while_it_was_being_read(store: DocumentStore) -> None:
    desk(store, SYSTEM).on_contact_erased(erased())
    with pytest.raises(ValidationFailed):
        desk(store, AGENT).create_ticket({"subject": "Again", "contact_id": "c1"})
    assert desk(store, AGENT).create_ticket({"subject": "Other", "contact_id": "c2"})["contact_id"] == "c2"
