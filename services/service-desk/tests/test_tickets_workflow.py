"""The ticket document and its status workflow: creation (received_at, auto-assignment, the SLA
match), allowed and refused moves, the customer's value grade, lists; SQLite store, no broker."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import BadRequest, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from service_desk import domain
from service_desk.service import ServiceDeskService
from service_desk.store import SERVICE_TEAMS, SPECS, TICKETS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ADMIN = Caller("a1", ("admin",))
SYSTEM = Caller("system", ("system",))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1", "s2"))
# contact id -> (owner, value grade)
CONTACTS = {"c1": ("u1", "A"), "c2": ("u1", None)}


class FakeContacts:
    def as_system(self) -> "FakeContacts":
        return self

    def get_contact(self, contact_id: str) -> dict:
        owner, grade = CONTACTS[contact_id]
        return {"id": contact_id, "owner_id": owner, "value_grade": grade, "company_id": None, "version": 3}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    yield opened
    opened.close()


def desk(store: DocumentStore, caller: Caller = AGENT, now: datetime = NOW) -> ServiceDeskService:
    service = worker_factory(ServiceDeskService, store=store, caller=caller, contacts=FakeContacts())
    service._now = lambda: now
    return service


def emitted(store: DocumentStore) -> list[dict]:
    return [r["event"] for r in store[OUTBOX].iterate(None, [("id", 1)])]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# creating


def test_a_new_ticket_has_the_whole_document(store: DocumentStore) -> None:
    ticket = desk(store).create_ticket({"subject": "Cannot log in", "contact_id": "c1", "category": " Login "})
    assert {k: ticket[k] for k in ticket if k not in ("id", "sla", "sla_next_check_at")} | {"version": 1} == {
        "subject": "Cannot log in",
        "description": "",
        "kind": "inquiry",
        "priority": "normal",
        "channel": "web",
        "category": "Login",
        "contact_id": "c1",
        "company_id": None,
        "assignee_id": None,
        "team_id": "t-help",
        "contact_owner_id": "u1",
        "customer_grade": "A",
        "attachments": [],
        "received_at": stamp(NOW),
        "status": "new",
        "first_responded_at": None,
        "resolved_at": None,
        "closed_at": None,
        "reopened_count": 0,
        "merged_into": None,
        "escalation_level": 0,
        "satisfaction": None,
        "breached": False,
        "first_response_due_at": ticket["first_response_due_at"],
        "resolution_due_at": ticket["resolution_due_at"],
        "created_by": "s1",
        "created_at": stamp(NOW),
        "updated_at": stamp(NOW),
        "version": 1,
    }
    assert [e["event_type"] for e in emitted(store)] == ["ticket_created"]


def test_received_at_may_be_up_to_30_days_back_and_is_stored_in_utc(store: DocumentStore) -> None:
    ticket = desk(store).create_ticket({"subject": "S", "contact_id": "c1", "received_at": "2026-11-22T18:30:00+08:00"})
    assert ticket["received_at"] == "2026-11-22T10:30:00.000000Z"
    assert ticket["created_at"] == stamp(NOW)
    ticket = desk(store).create_ticket(
        {"subject": "S", "contact_id": "c1", "received_at": stamp(NOW + timedelta(seconds=20))}
    )
    assert ticket["received_at"] == stamp(NOW)  # a client clock a little ahead reads as now


@pytest.mark.parametrize(
    "received_at",
    [
        stamp(NOW + timedelta(minutes=5)),
        stamp(NOW - timedelta(days=30, minutes=1)),
        "2026-11-22T10:00:00",  # no time zone
        "yesterday",
        12,
    ],
)
def test_a_future_too_old_or_unreadable_received_at_is_refused_and_nothing_is_written(
    store: DocumentStore, received_at
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        desk(store).create_ticket({"subject": "S", "contact_id": "c1", "received_at": received_at})
    assert refused.value.errors[0]["field"] == "received_at"
    assert store[TICKETS].count() == 0 and emitted(store) == []


def test_received_at_is_said_once_at_creation(store: DocumentStore) -> None:
    ticket = desk(store).create_ticket({"subject": "S", "contact_id": "c1"})
    with pytest.raises(ValidationFailed):
        desk(store).update_ticket(ticket["id"], {"received_at": stamp(NOW - timedelta(days=1))})


@pytest.mark.parametrize(
    "field, value",
    [
        ("status", "open"),
        ("customer_grade", "A"),
        ("merged_into", "x"),
        ("first_responded_at", stamp(NOW)),
        ("escalation_level", 2),
        ("satisfaction", None),
        ("sla", None),
    ],
)
def test_server_owned_fields_cannot_be_sent(store: DocumentStore, field: str, value) -> None:
    with pytest.raises(ValidationFailed) as refused:
        desk(store).create_ticket({"subject": "S", "contact_id": "c1", field: value})
    assert refused.value.errors == [{"field": field, "message": "is set by the server and cannot be written"}]


@pytest.mark.parametrize(
    "attachments",
    [
        [{"name": "a.png", "content_type": "image/png", "size_bytes": -1, "url": "https://files/a.png"}],
        [{"name": "a.png", "content_type": "image/png", "size_bytes": 1, "url": "javascript:alert(1)"}],
        [{"name": "a.png", "content_type": "image/png", "url": "https://files/a.png"}],
        [{"name": "x" * 256, "content_type": "image/png", "size_bytes": 1, "url": "https://files/a.png"}],
        ["a.png"],
        [{"name": "a", "content_type": "t", "size_bytes": 1, "url": "https://f/a"}] * 21,
    ],
)
def test_attachments_are_checked_metadata(store: DocumentStore, attachments) -> None:
    with pytest.raises(ValidationFailed):
        desk(store).create_ticket({"subject": "S", "contact_id": "c1", "attachments": attachments})
    assert store[TICKETS].count() == 0


def test_attachments_metadata_is_kept(store: DocumentStore) -> None:
    files = [
        {"name": "log.txt", "content_type": "text/plain", "size_bytes": 120, "url": "https://files.example/log.txt"}
    ]
    ticket = desk(store).create_ticket({"subject": "S", "contact_id": "c1", "attachments": files})
    assert ticket["attachments"] == files
    assert desk(store).update_ticket(ticket["id"], {"attachments": []})["attachments"] == []


def test_a_new_unassigned_ticket_goes_to_the_teams_roster(store: DocumentStore) -> None:
    store[SERVICE_TEAMS].put(
        {
            "id": "t-help",
            "assignment": "round_robin",
            "agents": [
                {"user_id": "s1", "available": True, "max_open": None},
                {"user_id": "s2", "available": True, "max_open": None},
            ],
            "manager_ids": ["m2"],
            "last_assigned_user_id": "s1",
        }
    )
    assert desk(store).create_ticket({"subject": "S", "contact_id": "c1"})["assignee_id"] == "s2"
    assert desk(store).create_ticket({"subject": "S", "contact_id": "c1", "assignee_id": "s9"})["assignee_id"] == "s9"


# the status workflow


def test_the_transition_table() -> None:
    allowed = {(a, b) for a, targets in domain.TRANSITIONS.items() for b in targets}
    working = ("new", "open", "pending", "on_hold", "reopened")
    assert allowed == {
        *((a, b) for a in working for b in ("open", "pending", "on_hold", "resolved", "closed")),
        ("resolved", "closed"),
        ("resolved", "reopened"),
    }
    for current in domain.STATUSES:
        for target in domain.STATUSES:
            if (current, target) in allowed or current == target:
                domain.check_transition(current, target)
            else:
                with pytest.raises(ValidationFailed):
                    domain.check_transition(current, target)


def ticket_at(store: DocumentStore, *path: str) -> dict:
    ticket = desk(store).create_ticket({"subject": "S", "contact_id": "c1"})
    for status in path:
        ticket = desk(store).update_ticket(ticket["id"], {"status": status})
    return ticket


def test_resolving_stamps_it_and_asks_the_customer_once(store: DocumentStore) -> None:
    later = NOW + timedelta(hours=2)
    ticket = ticket_at(store, "open")
    resolved = desk(store, now=later).update_ticket(ticket["id"], {"status": "resolved"})
    assert (resolved["status"], resolved["resolved_at"]) == ("resolved", stamp(later))
    assert resolved["satisfaction"]["status"] == "requested"
    updated = [e for e in emitted(store) if e["event_type"] == "ticket_updated"][-1]["payload"]
    assert updated["changes"] == ["status", "resolved_at", "satisfaction"]
    assert [e["event_type"] for e in emitted(store)].count("ticket_satisfaction_requested") == 1


def test_a_resolved_ticket_reopens_or_closes_and_closed_is_final(store: DocumentStore) -> None:
    ticket = ticket_at(store, "resolved")
    with pytest.raises(ValidationFailed) as refused:
        desk(store).update_ticket(ticket["id"], {"status": "open"})
    assert "resolved ticket cannot become open" in refused.value.errors[0]["message"]
    reopened = desk(store).update_ticket(ticket["id"], {"status": "reopened"})
    assert (reopened["reopened_count"], reopened["resolved_at"]) == (1, None)
    closed = desk(store).update_ticket(ticket["id"], {"status": "closed"})
    assert closed["closed_at"] == stamp(NOW)
    for status in ("reopened", "open", "new"):
        with pytest.raises(ValidationFailed) as refused:
            desk(store).update_ticket(ticket["id"], {"status": status})
        assert refused.value.errors == [{"field": "status", "message": "closed tickets cannot be reopened"}]
    assert desk(store).get_ticket(ticket["id"])["version"] == closed["version"]


def test_no_ticket_goes_back_to_new_and_pending_keeps_its_name(store: DocumentStore) -> None:
    ticket = ticket_at(store, "pending", "on_hold", "open")
    with pytest.raises(ValidationFailed):
        desk(store).update_ticket(ticket["id"], {"status": "new"})
    with pytest.raises(ValidationFailed):
        desk(store).update_ticket(ticket["id"], {"status": "waiting"})


def test_a_refused_update_writes_nothing_at_all(store: DocumentStore) -> None:
    ticket = ticket_at(store, "resolved")
    before = emitted(store)
    with pytest.raises(ValidationFailed):  # a valid subject beside a refused move: neither is kept
        desk(store).update_ticket(ticket["id"], {"subject": "New subject", "status": "new"})
    with pytest.raises(ValidationFailed):
        desk(store).update_ticket(ticket["id"], {"subject": "New subject", "attachments": [{"name": "x"}]})
    assert store[TICKETS].get(ticket["id"])["subject"] == "S"
    assert emitted(store) == before


def test_kind_and_category_may_change_and_a_blank_category_is_none(store: DocumentStore) -> None:
    ticket = desk(store).create_ticket({"subject": "S", "contact_id": "c1", "category": "Billing"})
    updated = desk(store).update_ticket(ticket["id"], {"kind": "complaint", "category": "  "})
    assert (updated["kind"], updated["category"]) == ("complaint", None)


# the customer's value grade


def contact_event(event_type: str, payload: dict) -> dict:
    return new_event(event_type, "contacts", payload, actor="u9").as_dict()


def test_the_customers_grade_follows_the_contact_on_tickets_still_worked_on(store: DocumentStore) -> None:
    open_ticket = ticket_at(store, "open")
    resolved = ticket_at(store, "resolved")
    system = desk(store, SYSTEM)
    system.on_contact_updated(
        contact_event("contact_updated", {"id": "c1", "version": 2, "owner_id": "u1", "value_grade": "D"})
    )
    assert store[TICKETS].get(open_ticket["id"])["customer_grade"] == "A"  # older than what creation saw
    count = len(emitted(store))
    system.on_contact_updated(
        contact_event("contact_updated", {"id": "c1", "version": 5, "owner_id": "u1", "value_grade": "B"})
    )
    assert store[TICKETS].get(open_ticket["id"])["customer_grade"] == "B"
    assert store[TICKETS].get(resolved["id"])["customer_grade"] == "A"  # served as an A customer
    (event,) = emitted(store)[count:]
    assert (event["payload"]["id"], event["payload"]["changes"]) == (open_ticket["id"], ["customer_grade"])
    # a deleted contact's event says nothing of the grade: it stays
    system.on_contact_deleted(contact_event("contact_deleted", {"id": "c1", "version": 6}))
    assert store[TICKETS].get(open_ticket["id"])["customer_grade"] == "B"
    assert store[TICKETS].get(open_ticket["id"])["contact_owner_id"] is None


def test_a_contact_created_event_newer_than_the_contacts_read_gives_the_grade(store: DocumentStore) -> None:
    created = {"id": "c9", "version": 4, "owner_id": "u1", "value_grade": "C"}
    desk(store, SYSTEM).on_contact_created(contact_event("contact_created", created))
    CONTACTS["c9"] = ("u1", None)  # contacts answers at version 3: older than the event
    try:
        ticket = desk(store).create_ticket({"subject": "S", "contact_id": "c9"})
    finally:
        del CONTACTS["c9"]
    assert ticket["customer_grade"] == "C"


# lists


def test_tickets_filter_by_category_grade_and_sort_by_due_times(store: DocumentStore) -> None:
    billing = desk(store).create_ticket({"subject": "S", "contact_id": "c1", "category": "Billing", "priority": "low"})
    urgent = desk(store).create_ticket({"subject": "S", "contact_id": "c2", "priority": "urgent"})
    listing = desk(store).list_tickets
    assert [t["id"] for t in listing({"where": {"category": "Billing"}})["data"]] == [billing["id"]]
    assert [t["id"] for t in listing({"where": {"customer_grade": "A"}})["data"]] == [billing["id"]]
    assert [t["id"] for t in listing({"sort": "resolution_due_at"})["data"]] == [urgent["id"], billing["id"]]
    assert [t["id"] for t in listing({"sort": "-first_response_due_at"})["data"]] == [billing["id"], urgent["id"]]
    with pytest.raises(BadRequest):
        listing({"sort": "priority"})


def test_breached_is_read_live_in_reads_and_lists(store: DocumentStore) -> None:
    urgent = desk(store).create_ticket({"subject": "S", "contact_id": "c1", "priority": "urgent"})
    calm = desk(store).create_ticket({"subject": "S", "contact_id": "c2", "priority": "low"})
    later = desk(store, now=NOW + timedelta(hours=2))  # past the urgent first response (1 h), before the timer ran
    assert store[TICKETS].get(urgent["id"])["breached"] is False
    assert later.get_ticket(urgent["id"])["breached"] is True
    assert [t["id"] for t in later.list_tickets({"where": {"breached": "true"}})["data"]] == [urgent["id"]]
    assert [t["id"] for t in later.list_tickets({"where": {"breached": "false"}})["data"]] == [calm["id"]]
    assert [t["id"] for t in later.list_tickets({"filter": {"breached": {"ne": True}}})["data"]] == [calm["id"]]
    assert desk(store).list_tickets({"where": {"breached": "true"}})["data"] == []
