"""Permission-aware search: each caller finds, counts and facets only what they may read."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.search_index import SearchIndex, open_search_index
from crm_common.store import DocumentStore, open_store
from search import domain
from search.service import SearchService

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller(
    "m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2", "v1")
)
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
NOW = "2026-11-23T09:00:00Z"


def contact(contact_id: str, owner: str | None, shared: list[str] = (), version: int = 1) -> dict:
    return {
        "id": contact_id,
        "version": version,
        "first_name": "Findme",
        "last_name": contact_id,
        "display_name": f"Findme {contact_id}",
        "owner_id": owner,
        "shared_with": list(shared),
        "updated_at": NOW,
    }


def deal(deal_id: str, owner: str, shared: list[str] = (), version: int = 1) -> dict:
    return {
        "id": deal_id,
        "version": version,
        "title": f"Findme {deal_id}",
        "amount": "1.00",
        "currency": "CNY",
        "owner_id": owner,
        "shared_with": list(shared),
        "updated_at": NOW,
    }


def ticket(ticket_id: str, team: str | None, assignee: str | None, owner: str | None, version: int = 1) -> dict:
    return {
        "id": ticket_id,
        "version": version,
        "subject": f"Findme {ticket_id}",
        "team_id": team,
        "assignee_id": assignee,
        "contact_owner_id": owner,
        "updated_at": NOW,
    }


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[DocumentStore, SearchIndex]]:
    store = open_store(f"sqlite:///{tmp_path}/search.db", ())
    index = open_search_index(f"sqlite:///{tmp_path}/index.db")
    yield store, index
    index.close()
    store.close()


def service(parts: tuple[DocumentStore, SearchIndex], caller: Caller) -> SearchService:
    store, index = parts
    return worker_factory(SearchService, store=store, index=index, caller=caller)


def deliver(parts, source: str, event_type: str, payload: dict) -> None:
    handler = getattr(service(parts, Caller("system", ("system",))), f"on_{event_type}")
    handler(new_event(event_type, source, payload).as_dict())


@pytest.fixture
def indexed(parts):
    deliver(parts, "contacts", "contact_created", contact("own", "u1"))
    deliver(parts, "contacts", "contact_created", contact("teammate", "u2"))
    deliver(parts, "contacts", "contact_created", contact("other", "u3"))
    deliver(parts, "contacts", "contact_created", contact("pool", None))
    deliver(parts, "contacts", "contact_created", contact("shared", "u3", ["u1"]))
    deliver(parts, "sales", "deal_created", deal("own-deal", "u1"))
    deliver(parts, "sales", "deal_created", deal("teammate-deal", "u2"))
    deliver(parts, "sales", "deal_created", deal("other-deal", "u3", ["v1"]))
    deliver(parts, "service_desk", "ticket_created", ticket("help-ticket", "t-help", None, "u3"))
    deliver(parts, "service_desk", "ticket_created", ticket("rep-ticket", None, None, "u1"))
    deliver(parts, "service_desk", "ticket_created", ticket("pool-ticket", None, None, None))
    return parts


def found(parts, caller: Caller, **query) -> dict:
    return service(parts, caller).search({"q": "findme", "limit": 200, **query})


def ids(result: dict) -> set[str]:
    return {hit["id"] for hit in result["data"]}


EVERYTHING = {
    "own",
    "teammate",
    "other",
    "pool",
    "shared",
    "own-deal",
    "teammate-deal",
    "other-deal",
    "help-ticket",
    "rep-ticket",
    "pool-ticket",
}
VISIBLE = {
    "admin": (ADMIN, EVERYTHING),
    "manager": (MANAGER, {"own", "teammate", "pool", "own-deal", "teammate-deal", "rep-ticket"}),
    "sales_rep": (REP, {"own", "pool", "shared", "own-deal", "rep-ticket"}),
    "support_agent": (AGENT, {"help-ticket"}),
    "viewer": (VIEWER, {"own", "teammate", "pool", "own-deal", "teammate-deal", "other-deal", "rep-ticket"}),
}


@pytest.mark.parametrize("role", VISIBLE)
def test_each_role_finds_counts_and_facets_only_what_it_may_read(indexed, role: str) -> None:
    caller, expected = VISIBLE[role]
    result = found(indexed, caller)
    assert ids(result) == expected
    assert result["total"] == len(expected)
    assert sum(result["facets"]["type"].values()) == len(expected)


def test_facets_count_the_visible_set_by_type(indexed) -> None:
    assert found(indexed, REP)["facets"]["type"] == {"contact": 3, "deal": 1, "ticket": 1}
    nothing = found(indexed, AGENT, types="contact", facets="type")
    assert nothing == {"data": [], "facets": {"type": {}}, "total": 0, "total_relation": "eq", "next_cursor": None}


def test_a_change_of_hands_is_followed_and_a_deleted_company_disappears(indexed) -> None:
    deliver(indexed, "sales", "deal_updated", {**deal("own-deal", "u3", version=2), "changes": ["owner_id"]})
    assert "own-deal" not in ids(found(indexed, REP))
    deliver(indexed, "service_desk", "ticket_updated", ticket("help-ticket", "t-sales", "u1", "u3", version=2))
    assert "help-ticket" in ids(found(indexed, REP)) and "help-ticket" not in ids(found(indexed, AGENT))
    company = {"id": "k1", "version": 1, "name": "Findme Corp", "owner_id": "u1", "shared_with": [], "updated_at": NOW}
    deliver(indexed, "contacts", "company_created", company)
    assert "k1" in ids(found(indexed, REP))
    deliver(
        indexed, "contacts", "company_updated", {**company, "version": 2, "owner_id": "u3", "changes": ["owner_id"]}
    )
    assert "k1" not in ids(found(indexed, REP)) and "k1" in ids(found(indexed, ADMIN))
    deliver(indexed, "contacts", "company_deleted", {"id": "k1", "version": 3, "deleted_by": "a1"})
    assert "k1" not in ids(found(indexed, ADMIN))


def test_documents_carry_the_tokens_of_the_owning_services_rules() -> None:
    assert domain.contact_doc(contact("c", "u1", ["u2"])).access == ["owner:u1", "user:u2"]
    assert domain.contact_doc(contact("c", None)).access == ["pool"]
    assert domain.company_doc({**contact("k", None), "name": "K"}).access == ["pool"]
    assert domain.deal_doc(deal("d", "u1", ["u2"])).access == ["owner:u1", "user:u2"]
    assert domain.ticket_doc(ticket("t", "t-help", "s1", "u1")).access == ["owner:u1", "team:t-help", "user:s1"]
    assert domain.ticket_doc(ticket("t", None, None, None)).access == []  # a pool customer's: admins only
