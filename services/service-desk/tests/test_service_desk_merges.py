"""Tickets follow merged customers to their survivor, and to its owner (SQLite, no broker)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import OUTBOX, DocumentStore, open_store
from service_desk import domain
from service_desk.service import ServiceDeskService
from service_desk.store import CONTACT_OWNERS, SPECS, TICKETS

SYSTEM = Caller("system", ("system",))
AGENT = Caller("s1", ("support_agent",), ("t-help",))


class FakeContacts:
    """The contacts service as it answered just before a merge committed."""

    def as_system(self) -> "FakeContacts":
        return self

    def get_contact(self, contact_id: str) -> dict:
        return {"id": contact_id, "owner_id": "u-dup", "company_id": "co-dup", "version": 2}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    now = datetime(2026, 1, 5, 9, tzinfo=UTC)
    for ticket_id, contact_id in (("tk1", "dup"), ("tk2", "other")):
        fields = {"subject": ticket_id, "contact_id": contact_id, "company_id": "co-dup", "team_id": "t-help"}
        opened[TICKETS].insert({**domain.new_ticket(fields, "s1", now), "id": ticket_id, "contact_owner_id": "u-dup"})
    yield opened
    opened.close()


def desk(store: DocumentStore, caller: Caller = SYSTEM) -> ServiceDeskService:
    return worker_factory(ServiceDeskService, store=store, caller=caller, contacts=FakeContacts())


def merged(event_type: str, survivor_id: str, *merged_ids: str, owner_id: str = "u-survivor") -> dict:
    payload = {"id": survivor_id, "version": 5, "merged_ids": list(merged_ids), "owner_id": owner_id}
    payload["merged"] = [{"id": m, "version": 3} for m in merged_ids]
    return new_event(event_type, "contacts", payload, actor="u1").as_dict()


def updates(store: DocumentStore) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == "ticket_updated"]


def test_a_contact_merge_moves_the_tickets_to_the_survivor_and_its_owner(store) -> None:
    desk(store).on_contact_merged(merged("contact_merged", "survivor", "dup"))
    moved = store[TICKETS].get("tk1")
    assert (moved["contact_id"], moved["contact_owner_id"]) == ("survivor", "u-survivor")
    assert store[TICKETS].get("tk2")["contact_id"] == "other"
    assert [(u["id"], sorted(u["changes"])) for u in updates(store)] == [("tk1", ["contact_id", "contact_owner_id"])]


def test_a_newer_owner_of_the_survivor_wins_over_the_merge_event(store) -> None:
    store[CONTACT_OWNERS].put({"id": "survivor", "owner_id": "u-newer", "source_version": 9})
    desk(store).on_contact_merged(merged("contact_merged", "survivor", "dup"))
    assert store[TICKETS].get("tk1")["contact_owner_id"] == "u-newer"


def test_a_company_merge_moves_the_tickets_of_the_duplicate_company(store) -> None:
    desk(store).on_company_merged(merged("company_merged", "co-survivor", "co-dup"))
    assert {store[TICKETS].get(t)["company_id"] for t in ("tk1", "tk2")} == {"co-survivor"}
    assert store[TICKETS].get("tk1")["contact_owner_id"] == "u-dup"  # a company has no owner here


def test_a_ticket_filed_during_the_merge_goes_to_the_survivor(store) -> None:
    store[CONTACT_OWNERS].put({"id": "survivor", "owner_id": "u-survivor", "source_version": 5})
    desk(store).on_contact_merged(merged("contact_merged", "survivor", "dup"))
    desk(store).on_company_merged(merged("company_merged", "co-survivor", "co-dup"))
    ticket = desk(store, AGENT).create_ticket({"subject": "Late", "contact_id": "dup"})
    assert (ticket["contact_id"], ticket["company_id"], ticket["contact_owner_id"]) == (
        "survivor",
        "co-survivor",
        "u-survivor",
    )
