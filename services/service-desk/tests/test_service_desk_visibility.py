"""Who sees and changes which ticket: the visibility table, on a real SQLite store, no broker."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.access import reach_of
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from service_desk import domain
from service_desk.service import ServiceDeskService
from service_desk.store import SPECS, TICKETS

# Sales team t-sales: manager m1, reps u1 and u2, viewer v1; rep u3 elsewhere.
# Service teams t-help (manager m2, agents s1 and s2) and t-vip (agent s3).
ADMIN = Caller("a1", ("admin",))
MANAGER = Caller(
    "m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2", "v1")
)
HELP_MANAGER = Caller("m2", ("manager",), ("t-help",), managed_team_ids=("t-help",), managed_user_ids=("s1", "s2"))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1", "s2", "m2"))
VIP_AGENT = Caller("s3", ("support_agent",), ("t-vip",), teammate_ids=("s3",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))

# id -> (team, assignee, customer's owner)
TICKETS_SEEDED = {
    "help": ("t-help", None, "u3"),
    "vip": ("t-vip", None, "u3"),
    "assigned-to-s1": ("t-vip", "s1", "u3"),
    "rep-customer": (None, None, "u1"),
    "teammate-customer": ("t-vip", None, "u2"),
    "pool-customer": (None, None, None),
    "pool-customer-help": ("t-help", None, None),
}

# The contacts as the contacts service holds them: id -> owner.
CONTACTS = {"c-rep": "u1", "c-other": "u3", "c-pool": None}


class FakeContacts:
    """The contacts service: a caller meets only the contacts in their reach; the system meets all."""

    def __init__(self, visible: set[str], identities: list[str]):
        self.visible, self.identities = visible, identities

    def as_system(self) -> "FakeContacts":
        return FakeContacts(set(CONTACTS), self.identities)

    def get_contact(self, contact_id: str) -> dict:
        self.identities.append("system" if self.visible == set(CONTACTS) else "caller")
        if contact_id not in self.visible:
            raise NotFound(f"contact {contact_id} not found")
        return {"id": contact_id, "owner_id": CONTACTS[contact_id], "company_id": None, "version": 3}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    for ticket_id, (team, assignee, owner) in TICKETS_SEEDED.items():
        fields = {"subject": ticket_id, "contact_id": "c", "team_id": team, "assignee_id": assignee}
        ticket = domain.new_ticket({**fields, "contact_owner_id": owner}, "a1", now)
        opened[TICKETS].insert({**ticket, "id": ticket_id})
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller, visible: set[str] = frozenset(), calls: list | None = None):
    contacts = FakeContacts(set(visible), calls if calls is not None else [])
    return worker_factory(ServiceDeskService, store=store, caller=caller, contacts=contacts)


VISIBLE = {
    "admin": (ADMIN, set(TICKETS_SEEDED)),
    "manager": (MANAGER, {"rep-customer", "teammate-customer"}),
    "service manager": (HELP_MANAGER, {"help", "pool-customer-help"}),
    "sales_rep": (REP, {"rep-customer"}),
    "support_agent": (AGENT, {"help", "assigned-to-s1", "pool-customer-help"}),
    "viewer": (VIEWER, {"rep-customer", "teammate-customer"}),
}


@pytest.mark.parametrize("role", VISIBLE)
def test_each_role_lists_and_reads_exactly_the_tickets_in_its_reach(store: DocumentStore, role: str) -> None:
    caller, expected = VISIBLE[role]
    desk = service(store, caller)
    assert {t["id"] for t in desk.list_tickets({"limit": 200})["data"]} == expected
    for ticket_id, ticket in ((t, store[TICKETS].get(t)) for t in TICKETS_SEEDED):
        assert domain.ticket_in_reach(reach_of(caller), ticket) == (ticket_id in expected)
        if ticket_id in expected:
            assert desk.get_ticket(ticket_id)["id"] == ticket_id
        else:
            with pytest.raises(NotFound):
                desk.get_ticket(ticket_id)


def test_a_user_filter_is_anded_with_the_reach(store: DocumentStore) -> None:
    listed = service(store, AGENT).list_tickets({"where": {"team_id": "t-vip"}})["data"]
    assert [t["id"] for t in listed] == ["assigned-to-s1"]


# creating


def test_viewers_may_not_create_tickets(store: DocumentStore) -> None:
    with pytest.raises(Forbidden):
        service(store, VIEWER, {"c-rep"}).create_ticket({"subject": "S", "contact_id": "c-rep"})


def test_a_support_agent_files_a_ticket_for_a_customer_they_cannot_see_yet(store: DocumentStore) -> None:
    calls: list[str] = []
    ticket = service(store, AGENT, set(), calls).create_ticket({"subject": "Calling in", "contact_id": "c-other"})
    assert calls == ["system"]
    assert (ticket["team_id"], ticket["contact_owner_id"]) == ("t-help", "u3")
    assert service(store, AGENT).get_ticket(ticket["id"])["id"] == ticket["id"]
    with pytest.raises(ValidationFailed):
        service(store, AGENT).create_ticket({"subject": "S", "contact_id": "c-missing"})


def test_a_support_agent_files_tickets_for_their_own_teams_only(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service(store, AGENT).create_ticket({"subject": "S", "contact_id": "c-other", "team_id": "t-vip"})
    assert caught.value.errors[0]["field"] == "team_id"
    with pytest.raises(ValidationFailed):
        service(store, Caller("s9", ("support_agent",))).create_ticket({"subject": "S", "contact_id": "c-other"})


def test_other_roles_check_the_contact_as_themselves(store: DocumentStore) -> None:
    calls: list[str] = []
    with pytest.raises(ValidationFailed) as caught:
        service(store, REP, {"c-rep", "c-pool"}, calls).create_ticket({"subject": "S", "contact_id": "c-other"})
    assert caught.value.errors == [{"field": "contact_id", "message": "no such contact"}]
    ticket = service(store, REP, {"c-rep"}, calls).create_ticket({"subject": "S", "contact_id": "c-rep"})
    assert calls == ["caller", "caller"]
    assert (ticket["team_id"], ticket["contact_owner_id"]) == (None, "u1")
    assert service(store, REP).get_ticket(ticket["id"])["id"] == ticket["id"]


def test_the_customers_owner_cannot_be_sent(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed):
        service(store, ADMIN, {"c-rep"}).create_ticket({"subject": "S", "contact_id": "c-rep", "contact_owner_id": "x"})


# updating


def test_admins_team_managers_and_agents_in_reach_update_tickets(store: DocumentStore) -> None:
    assert service(store, AGENT).update_ticket("help", {"status": "open"})["status"] == "open"
    assert service(store, AGENT).update_ticket("assigned-to-s1", {"assignee_id": "s3"})["assignee_id"] == "s3"
    assert service(store, HELP_MANAGER).update_ticket("help", {"assignee_id": "s2"})["assignee_id"] == "s2"
    assert service(store, ADMIN).update_ticket("vip", {"team_id": "t-help"})["team_id"] == "t-help"


@pytest.mark.parametrize("ticket_id", [["vip"], {"id": "vip"}, 5, None])
def test_an_id_that_is_not_a_string_is_not_found_everywhere(store: DocumentStore, ticket_id) -> None:
    desk = service(store, ADMIN)
    for call in (
        lambda: desk.get_ticket(ticket_id),
        lambda: desk.update_ticket(ticket_id, {"subject": "x"}),
        lambda: desk.merge_tickets(ticket_id, ["vip"]),
        lambda: desk.add_ticket_comment(ticket_id, {"body": "x"}),
        lambda: desk.list_ticket_comments(ticket_id, {}),
        lambda: desk.get_satisfaction(ticket_id),
        lambda: desk.record_satisfaction(ticket_id, {"score": 3}),
    ):
        with pytest.raises(NotFound):
            call()


def test_ticket_updates_out_of_reach_are_not_found_and_other_roles_are_forbidden(store: DocumentStore) -> None:
    with pytest.raises(NotFound):
        service(store, AGENT).update_ticket("vip", {"status": "open"})
    with pytest.raises(Forbidden):
        service(store, REP).update_ticket("rep-customer", {"status": "open"})  # sees it, may not change it
    with pytest.raises(Forbidden):
        service(store, MANAGER).update_ticket("teammate-customer", {"status": "open"})  # not their team's
    with pytest.raises(Forbidden):
        service(store, VIEWER).update_ticket("rep-customer", {"status": "open"})


def test_a_ticket_update_is_versioned_moves_its_targets_and_is_announced(store: DocumentStore) -> None:
    desk = service(store, AGENT)
    current = desk.get_ticket("help")
    with pytest.raises(PreconditionFailed):
        desk.update_ticket("help", {"priority": "urgent"}, current["version"] + 1)
    updated = desk.update_ticket("help", {"priority": "urgent", "subject": "Down"}, current["version"])
    assert updated["first_response_due_at"] == "2026-11-23T10:00:00.000000Z"
    assert updated["resolution_due_at"] == "2026-11-23T17:00:00.000000Z"
    assert desk.update_ticket("help", {"subject": "Down"}) == updated
    with pytest.raises(ValidationFailed):
        desk.update_ticket("help", {"contact_id": "c-rep"})
    with pytest.raises(ValidationFailed):
        desk.update_ticket("help", {"status": "lost"})
    (event,) = [r["event"] for r in store[OUTBOX].find(None, [("id", 1)], 10).items]
    assert event["event_type"] == "ticket_updated"
    assert sorted(event["payload"]["changes"]) == ["priority", "subject"]


# the customer's owner follows the contacts events


def contact_event(event_type: str, payload: dict) -> dict:
    return new_event(event_type, "contacts", payload, actor="u9").as_dict()


def test_tickets_follow_their_customers_owner_and_ignore_older_news(store: DocumentStore) -> None:
    calls: list[str] = []
    ticket = service(store, REP, {"c-rep"}, calls).create_ticket({"subject": "S", "contact_id": "c-rep"})
    system = service(store, Caller("system", ("system",)))
    system.on_contact_updated(contact_event("contact_updated", {"id": "c-rep", "version": 2, "owner_id": "u9"}))
    assert store[TICKETS].get(ticket["id"])["contact_owner_id"] == "u1"  # older than what creation saw
    system.on_contact_updated(contact_event("contact_updated", {"id": "c-rep", "version": 4, "owner_id": "u2"}))
    assert store[TICKETS].get(ticket["id"])["contact_owner_id"] == "u2"
    with pytest.raises(NotFound):
        service(store, REP).get_ticket(ticket["id"])
    system.on_contact_deleted(contact_event("contact_deleted", {"id": "c-rep", "version": 5, "deleted_by": "u9"}))
    assert store[TICKETS].get(ticket["id"])["contact_owner_id"] is None
    emitted = [r["event"] for r in store[OUTBOX].find(None, [("id", 1)], 10).items]
    assert [(e["event_type"], e["payload"].get("changes")) for e in emitted] == [
        ("ticket_created", None),
        ("ticket_updated", ["contact_owner_id"]),
        ("ticket_updated", ["contact_owner_id"]),
    ]
