"""Merging duplicate tickets of one customer: the duplicates close into the survivor, their comments
move there, all or nothing (SQLite store, no broker)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from service_desk.service import ServiceDeskService
from service_desk.store import SPECS, TICKET_COMMENTS, TICKETS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1", "s2"))
VIP_AGENT = Caller("s3", ("support_agent",), ("t-vip",), teammate_ids=("s3",))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("u1",))
ADMIN = Caller("a1", ("admin",))


class FakeContacts:
    def as_system(self) -> "FakeContacts":
        return self

    def get_contact(self, contact_id: str) -> dict:
        return {"id": contact_id, "owner_id": "u1", "value_grade": "B", "company_id": None, "version": 3}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    yield opened
    opened.close()


def desk(store: DocumentStore, caller: Caller = AGENT, now: datetime = NOW) -> ServiceDeskService:
    service = worker_factory(ServiceDeskService, store=store, caller=caller, contacts=FakeContacts())
    service._now = lambda: now
    return service


def emitted(store: DocumentStore) -> list[tuple[str, dict]]:
    return [(r["event"]["event_type"], r["event"]["payload"]) for r in store[OUTBOX].iterate(None, [("id", 1)])]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def file(store: DocumentStore, contact_id: str = "c1", caller: Caller = AGENT, **fields) -> dict:
    return desk(store, caller).create_ticket({"subject": "Login fails", "contact_id": contact_id, **fields})


def test_duplicates_close_into_the_survivor_with_their_comments(store: DocumentStore) -> None:
    survivor, first, second = file(store), file(store), file(store)
    desk(store).add_ticket_comment(first["id"], {"body": "Same as yesterday"})
    desk(store).add_ticket_comment(second["id"], {"body": "Third time", "public": True})
    desk(store).add_ticket_comment(survivor["id"], {"body": "Looking"})
    count = len(emitted(store))

    merged = desk(store, now=LATER).merge_tickets(survivor["id"], [first["id"], second["id"]])
    assert merged["id"] == survivor["id"] and merged["status"] == "new"

    for duplicate in (first, second):
        closed = desk(store).get_ticket(duplicate["id"])
        assert (closed["status"], closed["merged_into"], closed["closed_at"]) == (
            "closed",
            survivor["id"],
            stamp(LATER),
        )
        assert closed["sla"]["resolution"]["stopped_at"] == stamp(LATER)
    comments = desk(store).list_ticket_comments(survivor["id"], {})["data"]
    assert [(c["body"], c["merged_from"]) for c in comments] == [
        ("Same as yesterday", first["id"]),
        ("Third time", second["id"]),
        ("Looking", None),
    ]
    assert desk(store).list_ticket_comments(first["id"], {})["data"] == []

    events = emitted(store)[count:]
    assert [(name, p["id"], p.get("changes")) for name, p in events] == [
        ("ticket_updated", first["id"], ["status", "merged_into", "closed_at"]),
        ("ticket_updated", second["id"], ["status", "merged_into", "closed_at"]),
        ("ticket_merged", survivor["id"], None),
    ]
    assert events[-1][1]["merged_ids"] == [first["id"], second["id"]]


def test_only_tickets_of_the_same_customer_merge_and_nothing_is_half_merged(store: DocumentStore) -> None:
    survivor, same, other = file(store), file(store), file(store, "c2")
    desk(store).add_ticket_comment(same["id"], {"body": "note"})
    before = len(emitted(store))
    with pytest.raises(ValidationFailed) as refused:
        desk(store).merge_tickets(survivor["id"], [same["id"], other["id"]])
    assert refused.value.errors[0]["field"] == "duplicate_ids"
    assert store[TICKETS].get(same["id"])["status"] == "new"
    assert store[TICKET_COMMENTS].find({"ticket_id": same["id"]}, [("id", 1)], 10).items[0]["merged_from"] is None
    assert len(emitted(store)) == before


def test_closed_tickets_are_final_on_either_side(store: DocumentStore) -> None:
    survivor, duplicate = file(store), file(store)
    closed = desk(store).update_ticket(file(store)["id"], {"status": "closed"})
    with pytest.raises(Conflict):
        desk(store).merge_tickets(survivor["id"], [duplicate["id"], closed["id"]])
    with pytest.raises(Conflict):
        desk(store).merge_tickets(closed["id"], [duplicate["id"]])
    assert store[TICKETS].get(duplicate["id"])["status"] == "new"
    # a resolved duplicate merges (resolved -> closed is a move the workflow allows)
    resolved = desk(store).update_ticket(duplicate["id"], {"status": "resolved"})
    assert desk(store).merge_tickets(survivor["id"], [resolved["id"]])["id"] == survivor["id"]
    assert store[TICKETS].get(resolved["id"])["merged_into"] == survivor["id"]
    # and twice is refused: the duplicate is closed now
    with pytest.raises(Conflict):
        desk(store).merge_tickets(survivor["id"], [resolved["id"]])


@pytest.mark.parametrize("duplicate_ids", [[], ["a", "a"], "abc", [1], None, ["x"] * 51])
def test_the_duplicate_list_is_checked(store: DocumentStore, duplicate_ids) -> None:
    survivor = file(store)
    with pytest.raises(ValidationFailed):
        desk(store).merge_tickets(survivor["id"], duplicate_ids)


def test_a_ticket_does_not_merge_into_itself(store: DocumentStore) -> None:
    survivor = file(store)
    with pytest.raises(ValidationFailed):
        desk(store).merge_tickets(survivor["id"], [survivor["id"]])


def test_who_may_merge(store: DocumentStore) -> None:
    survivor, duplicate = file(store), file(store)
    vip = file(store, caller=ADMIN, team_id="t-vip")
    with pytest.raises(Forbidden):
        desk(store, REP).merge_tickets(survivor["id"], [duplicate["id"]])  # sees both, changes neither
    with pytest.raises(NotFound):
        desk(store).merge_tickets(survivor["id"], [vip["id"]])  # another team's ticket
    with pytest.raises(NotFound):
        desk(store, VIP_AGENT).merge_tickets(vip["id"], [survivor["id"]])
    assert {store[TICKETS].get(t["id"])["status"] for t in (survivor, duplicate, vip)} == {"new"}
    assert desk(store, ADMIN).merge_tickets(vip["id"], [duplicate["id"]])["id"] == vip["id"]


def test_a_merged_ticket_sends_replies_to_its_survivor_and_comments_keep_their_origin(store: DocumentStore) -> None:
    first, second, third = file(store), file(store), file(store)
    desk(store).add_ticket_comment(first["id"], {"body": "from the first"})
    desk(store).merge_tickets(second["id"], [first["id"]])
    with pytest.raises(Conflict) as refused:
        desk(store).add_ticket_comment(first["id"], {"body": "Hello", "public": True})
    assert second["id"] in refused.value.detail
    desk(store).merge_tickets(third["id"], [second["id"]])
    (moved,) = desk(store).list_ticket_comments(third["id"], {})["data"]
    assert (moved["body"], moved["merged_from"]) == ("from the first", first["id"])
