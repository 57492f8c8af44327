"""A low satisfaction answer on a ticket becomes a follow-up task for the customer's owner (SQLite,
no broker): due a day later, linked to the customer, announced once, none for a good answer."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales import valuation
from sales.service import SalesService
from sales.store import MERGED_CUSTOMERS, SPECS, TASKS

SYSTEM = Caller("system", ("system",))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("u1",))
NOW = "2026-11-23T09:30:00.000000Z"
RATED = {
    "id": "tk1",
    "version": 3,
    "subject": "Printer jams",
    "status": "resolved",
    "contact_id": "c1",
    "company_id": "k1",
    "team_id": "t-help",
    "assignee_id": "s1",
    "contact_owner_id": "u1",
    "score": 2,
    "comment": "Took a week",
    "low": True,
}


@pytest.fixture
def store(tmp_path: Path, monkeypatch) -> Iterator[DocumentStore]:
    monkeypatch.setattr(SalesService, "_clock", lambda self: valuation.parse_time(NOW))
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    yield opened
    opened.close()


def deliver(store: DocumentStore, payload: dict) -> dict:
    body = new_event("ticket_satisfaction_rated", "service_desk", payload, actor="s1").as_dict()
    worker_factory(SalesService, store=store, caller=SYSTEM).on_ticket_satisfaction_rated(body)
    return body


def tasks(store: DocumentStore) -> list[dict]:
    return list(store[TASKS].iterate(None, [("created_at", 1)]))


def created_events(store: DocumentStore) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == "task_created"]


def test_a_low_answer_gives_the_owner_a_follow_up_due_in_a_day(store: DocumentStore) -> None:
    body = deliver(store, RATED)
    worker_factory(SalesService, store=store, caller=SYSTEM).on_ticket_satisfaction_rated(body)  # redelivered
    [task] = tasks(store)
    assert task["title"] == "Follow up: satisfaction 2/5 on Printer jams"
    assert task["description"] == 'Ticket tk1 was rated 2/5. The customer said: "Took a week"'
    assert (task["assignee_id"], task["created_by"], task["kind"], task["priority"]) == ("u1", "system", "call", "high")
    assert (task["contact_id"], task["company_id"], task["done"]) == ("c1", "k1", False)
    assert task["due_at"] == "2026-11-24T09:30:00.000000Z"
    assert task["overdue_due_at"] == task["due_at"]  # the overdue timer follows it like any task
    assert [e["id"] for e in created_events(store)] == [task["id"]]
    # the owner finds it among their tasks
    listed = worker_factory(SalesService, store=store, caller=REP).list_tasks({})["data"]
    assert [t["id"] for t in listed] == [task["id"]]


def test_a_pool_customers_follow_up_goes_to_the_tickets_assignee(store: DocumentStore) -> None:
    deliver(store, {**RATED, "contact_owner_id": None, "comment": None, "score": 1})
    [task] = tasks(store)
    assert (task["assignee_id"], task["title"]) == ("s1", "Follow up: satisfaction 1/5 on Printer jams")
    assert task["description"] == "Ticket tk1 was rated 1/5. The customer left no comment."


@pytest.mark.parametrize(
    "payload",
    [
        {**RATED, "low": False, "score": 4},
        {**RATED, "low": None},
        {**RATED, "contact_owner_id": None, "assignee_id": None},
        {**RATED, "score": "2"},
    ],
    ids=["good answer", "no low flag", "nobody to give it to", "unusable score"],
)
def test_no_follow_up_without_a_low_answer_and_someone_to_do_it(store: DocumentStore, payload: dict) -> None:
    deliver(store, payload)
    assert tasks(store) == [] and created_events(store) == []


def test_a_merged_customers_follow_up_links_the_survivor(store: DocumentStore) -> None:
    store[MERGED_CUSTOMERS].put({"id": "contact:c1", "merged_into": "c9", "merged_at": NOW})
    deliver(store, RATED)
    assert tasks(store)[0]["contact_id"] == "c9"
