"""Who sees and changes which customer: the visibility table, on a real SQLite store, no broker."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts import domain
from contacts.service import ContactsService
from contacts.store import SPECS, TIMELINE
from crm_common.access import reach_of
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store

# Sales team t-sales: manager m1, reps u1 and u2, viewer v1. Sales team t-east: rep u3.
# Service team t-help: support agent s1.
ADMIN = Caller("a1", ("admin",))
MANAGER = Caller(
    "m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2", "v1")
)
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
OTHER_REP = Caller("u3", ("sales_rep",), ("t-east",), teammate_ids=("u3",))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
SYSTEM = Caller("system", ("system",))

# id -> (owner, shared_with)
CONTACTS = {
    "own": ("u1", []),
    "teammate": ("u2", []),
    "other": ("u3", []),
    "pool": (None, []),
    "shared": ("u3", ["u1"]),
    "linked": ("u3", []),  # a ticket of t-help is about this customer
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller) -> ContactsService:
    return worker_factory(ContactsService, store=store, caller=caller)


def event(source: str, event_type: str, payload: dict) -> dict:
    return new_event(event_type, source, payload, actor="someone").as_dict()


@pytest.fixture
def seeded(store: DocumentStore) -> DocumentStore:
    admin = service(store, ADMIN)
    for name, (owner, shared) in CONTACTS.items():
        contact = domain.new_contact({"first_name": name, "owner_id": owner, "shared_with": shared}, "a1", "t0")
        store["contacts"].insert({**contact, "id": name})
        store["companies"].insert({**domain.new_company({"name": name, "owner_id": owner}, "a1", "t0"), "id": name})
        # The entry the service writes about a customer's own creation (no tokens: whoever sees it).
        store[TIMELINE].put(
            domain.timeline_entry(
                "contact", name, "contact", "contacts", "c", "contact", name, "2000-01-01T00:00:00Z", "v1"
            )
        )
    ticket = {
        "id": "tk1",
        "version": 1,
        "subject": "Broken",
        "priority": "high",
        "contact_id": "linked",
        "company_id": "linked",
        "team_id": "t-help",
        "assignee_id": None,
        "contact_owner_id": "u3",
    }
    admin.on_ticket_created(event("service_desk", "ticket_created", ticket))
    return store


def listed(store: DocumentStore, caller: Caller, method: str = "list_contacts", **query) -> set[str]:
    return {record["id"] for record in getattr(service(store, caller), method)({"limit": 200, **query})["data"]}


VISIBLE = {
    "admin": (ADMIN, set(CONTACTS)),
    "manager": (MANAGER, {"own", "teammate", "pool"}),
    "sales_rep": (REP, {"own", "pool", "shared"}),
    "other sales_rep": (OTHER_REP, {"other", "pool", "shared", "linked"}),
    "support_agent": (AGENT, {"linked"}),
    "viewer": (VIEWER, {"own", "teammate", "pool"}),
    "system": (SYSTEM, set(CONTACTS)),
}


@pytest.mark.parametrize("role", VISIBLE)
def test_each_role_lists_exactly_the_contacts_in_its_reach(seeded: DocumentStore, role: str) -> None:
    caller, expected = VISIBLE[role]
    assert listed(seeded, caller) == expected


@pytest.mark.parametrize("role", VISIBLE)
def test_a_contact_out_of_reach_is_not_found_like_a_missing_one(seeded: DocumentStore, role: str) -> None:
    caller, expected = VISIBLE[role]
    contacts = service(seeded, caller)
    for contact_id in CONTACTS:
        if contact_id in expected:
            assert contacts.get_contact(contact_id)["id"] == contact_id
            contacts.get_timeline("contact", contact_id, {})
        else:
            with pytest.raises(NotFound) as out_of_reach:
                contacts.get_contact(contact_id)
            with pytest.raises(NotFound) as missing:
                contacts.get_contact("no-such-id")
            assert out_of_reach.value.detail.replace(contact_id, "X") == missing.value.detail.replace("no-such-id", "X")
            with pytest.raises(NotFound):
                contacts.get_timeline("contact", contact_id, {})


def test_companies_follow_the_same_reach(seeded: DocumentStore) -> None:
    assert listed(seeded, REP, "list_companies") == {"own", "pool"}  # the shared one is a contact only
    assert listed(seeded, AGENT, "list_companies") == {"linked"}
    assert listed(seeded, MANAGER, "list_companies") == {"own", "teammate", "pool"}
    with pytest.raises(NotFound):
        service(seeded, REP).get_company("other")


def test_the_reach_filter_keeps_pages_full_and_cursors_valid(store: DocumentStore) -> None:
    for n in range(30):
        owner = "u1" if n % 3 else "u3"
        contact = domain.new_contact({"first_name": f"c{n:02d}", "owner_id": owner}, "a1", f"t{n:02d}")
        store["contacts"].insert({**contact, "id": f"c{n:02d}"})
    rep = service(store, REP)
    seen, cursor = [], None
    while True:
        page = rep.list_contacts({"limit": 7, "cursor": cursor, "sort": "created_at"})
        assert len(page["data"]) == 7 or page["next_cursor"] is None
        seen.extend(c["id"] for c in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c{n:02d}" for n in range(30) if n % 3]


def test_a_user_filter_is_anded_with_the_reach(seeded: DocumentStore) -> None:
    assert listed(seeded, REP, where={"owner_id": "u3"}) == {"shared"}
    assert listed(seeded, REP, filter={"shared_with": {"contains": "u1"}}) == {"shared"}


def test_a_support_agent_sees_customers_only_once_a_ticket_of_their_team_links_them(store: DocumentStore) -> None:
    contact = domain.new_contact({"first_name": "New", "owner_id": "u3"}, "u3", "t0")
    store["contacts"].insert(contact)
    agent = service(store, AGENT)
    with pytest.raises(NotFound):
        agent.get_contact(contact["id"])
    other_team = {"id": "tk9", "version": 1, "subject": "S", "priority": "low", "contact_id": contact["id"]}
    service(store, SYSTEM).on_ticket_created(event("service_desk", "ticket_created", {**other_team, "team_id": "t-x"}))
    with pytest.raises(NotFound):
        agent.get_contact(contact["id"])
    moved = {**other_team, "version": 2, "team_id": "t-help"}
    service(store, SYSTEM).on_ticket_updated(event("service_desk", "ticket_updated", moved))
    assert agent.get_contact(contact["id"])["id"] == contact["id"]
    assert listed(store, AGENT) == {contact["id"]}


# writes


def test_viewers_and_support_agents_may_not_create_customers(store: DocumentStore) -> None:
    for caller in (VIEWER, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).create_contact({"first_name": "X"})
        with pytest.raises(Forbidden):
            service(store, caller).create_company({"name": "X"})


def test_a_new_customer_belongs_to_its_creator_unless_they_may_give_it_away(store: DocumentStore) -> None:
    assert service(store, REP).create_contact({"first_name": "Mine"})["owner_id"] == "u1"
    assert service(store, REP).create_contact({"first_name": "Pool", "owner_id": None})["owner_id"] is None
    with pytest.raises(Forbidden):
        service(store, REP).create_contact({"first_name": "Theirs", "owner_id": "u2"})
    assert service(store, MANAGER).create_company({"name": "Given", "owner_id": "u2"})["owner_id"] == "u2"
    with pytest.raises(Forbidden):
        service(store, MANAGER).create_company({"name": "Elsewhere", "owner_id": "u3"})
    assert service(store, ADMIN).create_contact({"first_name": "Any", "owner_id": "u3"})["owner_id"] == "u3"


def test_a_contact_cannot_point_at_a_company_out_of_reach(seeded: DocumentStore) -> None:
    with pytest.raises(ValidationFailed):
        service(seeded, REP).create_contact({"first_name": "X", "company_id": "other"})
    assert service(seeded, REP).create_contact({"first_name": "X", "company_id": "own"})["company_id"] == "own"


def test_updates_and_deletes_out_of_reach_are_not_found(seeded: DocumentStore) -> None:
    rep = service(seeded, REP)
    for write in (
        lambda: rep.update_contact("other", {"first_name": "Y"}),
        lambda: rep.delete_contact("other"),
        lambda: rep.update_company("other", {"name": "Y"}),
        lambda: rep.delete_company("other"),
    ):
        with pytest.raises(NotFound):
            write()


def test_roles_that_only_read_are_forbidden_to_change_what_they_see(seeded: DocumentStore) -> None:
    with pytest.raises(Forbidden):
        service(seeded, VIEWER).update_contact("own", {"first_name": "Y"})
    with pytest.raises(Forbidden):
        service(seeded, AGENT).update_contact("linked", {"first_name": "Y"})
    with pytest.raises(Forbidden):
        service(seeded, VIEWER).delete_company("own")


def test_the_pool_is_changed_by_admins_and_managers_only(seeded: DocumentStore) -> None:
    with pytest.raises(Forbidden):
        service(seeded, REP).update_contact("pool", {"first_name": "Y"})
    with pytest.raises(Forbidden):
        service(seeded, REP).delete_company("pool")
    assert service(seeded, MANAGER).update_contact("pool", {"owner_id": "u2"})["owner_id"] == "u2"


def test_a_rep_changes_what_they_own_or_what_is_shared_with_them_but_gives_nothing_away(
    seeded: DocumentStore,
) -> None:
    rep = service(seeded, REP)
    assert rep.update_contact("own", {"tags": ["vip"], "shared_with": ["u2", "u2"]})["shared_with"] == ["u2"]
    assert rep.update_contact("shared", {"first_name": "Renamed"})["first_name"] == "Renamed"
    with pytest.raises(Forbidden):
        rep.update_contact("shared", {"owner_id": "u1"})  # shared is not theirs to take
    with pytest.raises(Forbidden):
        rep.update_contact("own", {"owner_id": "u2"})
    with pytest.raises(Forbidden):
        rep.update_contact("own", {"owner_id": None})  # release to the pool is its own action


def test_a_customer_seen_only_through_a_teams_tickets_is_read_only(seeded: DocumentStore) -> None:
    help_manager = Caller("m2", ("manager",), ("t-help",), managed_team_ids=("t-help",), managed_user_ids=("s1",))
    desk_lead = service(seeded, help_manager)
    assert desk_lead.get_contact("linked")["id"] == "linked"
    with pytest.raises(Forbidden):
        desk_lead.update_contact("linked", {"first_name": "Y"})


def test_a_manager_reassigns_within_their_teams_only(seeded: DocumentStore) -> None:
    manager = service(seeded, MANAGER)
    assert manager.update_company("own", {"owner_id": "u2"})["owner_id"] == "u2"
    with pytest.raises(Forbidden):
        manager.update_company("teammate", {"owner_id": "u3"})


def test_company_updates_are_versioned_and_announced(seeded: DocumentStore) -> None:
    manager = service(seeded, MANAGER)
    current = manager.get_company("own")
    with pytest.raises(PreconditionFailed):
        manager.update_company("own", {"industry": "Retail"}, expected_version=current["version"] + 1)
    updated = manager.update_company("own", {"industry": "Retail"}, expected_version=current["version"])
    assert updated["version"] == current["version"] + 1
    assert manager.update_company("own", {"industry": "Retail"}) == updated  # nothing really changed
    manager.delete_company("own", expected_version=updated["version"])
    with pytest.raises(NotFound):
        manager.get_company("own")
    emitted = [row["event"] for row in seeded[OUTBOX].find(None, [("id", 1)], 100).items]
    kinds = [(e["event_type"], e["payload"]["id"]) for e in emitted]
    assert ("company_updated", "own") in kinds and ("company_deleted", "own") in kinds
    (change,) = [e for e in emitted if e["event_type"] == "company_updated"]
    assert change["payload"]["changes"] == ["industry"]
    (deleted,) = [e for e in emitted if e["event_type"] == "company_deleted"]
    assert deleted["payload"] == {"id": "own", "version": updated["version"] + 1, "deleted_by": "m1"}


# the timeline


def _deal(version: int, owner: str, shared: list[str]) -> dict:
    return {
        "id": "d1",
        "version": version,
        "title": "ERP",
        "amount": "10.00",
        "currency": "CNY",
        "contact_id": "own",
        "company_id": None,
        "owner_id": owner,
        "shared_with": shared,
    }


def kinds(store: DocumentStore, caller: Caller, contact_id: str) -> list[str]:
    return [e["kind"] for e in service(store, caller).get_timeline("contact", contact_id, {})["data"]]


def test_timeline_entries_of_deals_show_only_to_who_sees_the_deal(seeded: DocumentStore) -> None:
    service(seeded, SYSTEM).on_deal_created(event("sales", "deal_created", _deal(1, "u3", ["v1"])))
    assert kinds(seeded, ADMIN, "own") == ["deal", "contact"]
    assert kinds(seeded, REP, "own") == ["contact"]  # owns the customer, not the deal
    assert kinds(seeded, VIEWER, "own") == ["deal", "contact"]  # the deal is shared with them
    assert kinds(seeded, MANAGER, "own") == ["contact"]


def test_a_deal_handed_over_moves_its_timeline_entries_and_older_events_do_not_undo_it(
    seeded: DocumentStore,
) -> None:
    system = service(seeded, SYSTEM)
    system.on_deal_updated(event("sales", "deal_updated", _deal(2, "u1", [])))  # arrives first
    system.on_deal_created(event("sales", "deal_created", _deal(1, "u3", [])))
    assert kinds(seeded, REP, "own") == ["deal", "contact"]
    system.on_deal_updated(event("sales", "deal_updated", _deal(3, "u3", [])))
    assert kinds(seeded, REP, "own") == ["contact"]
    assert kinds(seeded, MANAGER, "own") == ["contact"]


def test_timeline_entries_of_tickets_show_to_the_team_the_assignee_and_the_customers_owner(
    seeded: DocumentStore,
) -> None:
    assert kinds(seeded, AGENT, "linked") == ["ticket", "contact"]
    assert kinds(seeded, OTHER_REP, "linked") == ["ticket", "contact"]  # owns the customer
    assert kinds(seeded, ADMIN, "linked") == ["ticket", "contact"]
    stored = seeded[TIMELINE].find({"subject_id": "linked", "kind": "ticket"}).items[0]
    assert stored["access"] == ["owner:u3", "team:t-help"]


def test_a_pool_customers_ticket_is_not_shown_to_the_pool(seeded: DocumentStore) -> None:
    ticket = {"id": "tk2", "version": 1, "subject": "S", "priority": "low", "contact_id": "pool"}
    service(seeded, SYSTEM).on_ticket_created(event("service_desk", "ticket_created", ticket))
    assert kinds(seeded, REP, "pool") == ["contact"]
    assert kinds(seeded, ADMIN, "pool") == ["ticket", "contact"]


# the rules themselves


def test_customer_reach_per_role_without_a_store() -> None:
    own, pool, shared = {"owner_id": "u1"}, {"owner_id": None}, {"owner_id": "u3", "shared_with": ["u1"]}
    assert domain.customer_in_reach(reach_of(REP), own)
    assert domain.customer_in_reach(reach_of(REP), pool)
    assert domain.customer_in_reach(reach_of(REP), shared)
    assert not domain.customer_in_reach(reach_of(REP), {"owner_id": "u2"})
    assert not domain.customer_in_reach(reach_of(AGENT), pool)
    assert domain.customer_in_reach(reach_of(AGENT), {"owner_id": "u3"}, ["t-help"])
    assert not domain.customer_in_reach(reach_of(AGENT), {"owner_id": "u3"}, ["t-other"])
    assert domain.customer_in_reach(reach_of(VIEWER), {"owner_id": "u2"})
    assert not domain.customer_in_reach(reach_of(VIEWER), {"owner_id": "u3"})
    assert domain.customer_filter(reach_of(ADMIN), ["x"]) is None


def test_ticket_links_name_the_contact_and_the_company_for_the_team() -> None:
    links = domain.service_links({"contact_id": "c", "company_id": "k", "team_id": "t"}, "now")
    assert [(link["id"], link["subject_type"]) for link in links] == [
        ("contact:c:t", "contact"),
        ("company:k:t", "company"),
    ]
    assert domain.service_links({"contact_id": "c", "team_id": None}, "now") == []
