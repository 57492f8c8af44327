"""Deals, orders and tasks follow merged customers to their survivor, whose figures are recomputed
(SQLite, no broker)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales.service import SalesService
from sales.store import CUSTOMER_STATS, DEALS, ORDERS, SPECS, TASKS

REP = Caller("u1", ("sales_rep",), ("t1",), teammate_ids=("u1",))
SYSTEM = Caller("system", ("system",))


class FakeContacts:
    """The contacts service as it answered just before a merge committed."""

    def get_contact(self, contact_id: str) -> dict:
        return {"id": contact_id, "owner_id": "u1", "company_id": "co-dup", "version": 2}

    def get_company(self, company_id: str) -> dict:
        return {"id": company_id, "owner_id": "u1", "version": 2}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    yield opened
    opened.close()


def sales(store: DocumentStore, caller: Caller = SYSTEM) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller, contacts=FakeContacts())


def merged(event_type: str, survivor_id: str, *merged_ids: str) -> dict:
    payload = {"id": survivor_id, "version": 5, "merged_ids": list(merged_ids), "owner_id": "u1"}
    payload["merged"] = [{"id": m, "version": 3} for m in merged_ids]
    return new_event(event_type, "contacts", payload, actor="u1").as_dict()


def deal(store: DocumentStore, contact_id: str) -> dict:
    return sales(store, REP).create_deal(
        {"title": f"Deal of {contact_id}", "amount": "10.00", "currency": "CNY", "contact_id": contact_id}
    )


def updates(store: DocumentStore) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == "deal_updated"]


def test_a_contact_merge_moves_the_duplicates_deals_and_announces_each(store) -> None:
    moved, kept = deal(store, "dup"), deal(store, "other")
    sales(store).on_contact_merged(merged("contact_merged", "survivor", "dup"))
    assert store[DEALS].get(moved["id"])["contact_id"] == "survivor"
    assert store[DEALS].get(kept["id"])["contact_id"] == "other"
    assert [(u["id"], u["contact_id"], u["changes"], u["stage_name"]) for u in updates(store)] == [
        (moved["id"], "survivor", ["contact_id"], "Qualification")
    ]


def test_a_company_merge_moves_the_deals_of_the_duplicate_company(store) -> None:
    moved = deal(store, "c1")  # company co-dup, from its contact
    sales(store).on_company_merged(merged("company_merged", "co-survivor", "co-dup"))
    assert store[DEALS].get(moved["id"])["company_id"] == "co-survivor"
    assert store[DEALS].get(moved["id"])["contact_id"] == "c1"


def test_a_deal_created_during_the_merge_goes_to_the_survivor(store) -> None:
    sales(store).on_contact_merged(merged("contact_merged", "survivor", "dup"))
    # The contacts service answered for "dup" a moment before the merge committed.
    assert deal(store, "dup")["contact_id"] == "survivor"


def test_chained_merges_arriving_out_of_order_end_at_the_last_survivor(store) -> None:
    first = deal(store, "a")
    sales(store).on_contact_merged(merged("contact_merged", "c", "b"))  # b into c, seen first
    sales(store).on_contact_merged(merged("contact_merged", "b", "a"))  # a into b, seen late
    assert store[DEALS].get(first["id"])["contact_id"] == "c"


def events_of(store: DocumentStore, event_type: str) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == event_type]


def test_orders_and_tasks_follow_a_contact_merge_and_the_survivor_is_regraded(store) -> None:
    rep = sales(store, REP)
    for contact_id in ("dup", "dup", "survivor"):
        rep.create_order({"contact_id": contact_id, "amount": "100.00", "currency": "CNY"})
    store[TASKS].insert(
        {"id": "t1", "title": "Call", "contact_id": "dup", "due_at": "2024-05-01T00:00:00.000000Z", "done": False}
    )
    sales(store).on_contact_merged(merged("contact_merged", "survivor", "dup"))

    assert store[ORDERS].count({"contact_id": "survivor"}) == 3
    assert store[ORDERS].count({"contact_id": "dup"}) == 0
    assert store[TASKS].get("t1")["contact_id"] == "survivor"
    assert [u["changes"] for u in events_of(store, "order_updated")] == [["contact_id"], ["contact_id"]]
    assert [(u["id"], u["changes"]) for u in events_of(store, "task_updated")] == [("t1", ["contact_id"])]
    assert store[CUSTOMER_STATS].get("contact:survivor")["order_count"] == 3
    # The duplicate is gone: its figures are dropped quietly, no null grade nor "churn cleared" about it.
    assert store[CUSTOMER_STATS].get("contact:dup") is None
    assert [e for e in events_of(store, "customer_graded") if e["value_grade"] is None] == []
    assert all(e["id"] != "dup" for e in events_of(store, "churn_risk_changed"))
    # The survivor's three orders: F 2 (two or more), still a C (R 5 + F 2 + M 1 = 8), so no new grade to announce.
    assert store[CUSTOMER_STATS].get("contact:survivor")["rfm"]["f"] == 2


def test_a_company_merge_moves_the_orders_of_the_duplicate_company(store) -> None:
    order = sales(store, REP).create_order({"company_id": "co-dup", "amount": "100.00", "currency": "CNY"})
    sales(store).on_company_merged(merged("company_merged", "co-survivor", "co-dup"))
    assert store[ORDERS].get(order["id"])["company_id"] == "co-survivor"
    assert store[CUSTOMER_STATS].get("company:co-survivor")["order_count"] == 1
