"""Personal data in sales: the export of what sales holds about a contact, and what an erasure leaves
(SQLite, no broker)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Forbidden
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales import domain
from sales.service import SalesService
from sales.store import CUSTOMER_STATS, CUSTOMERS, DEALS, LEAD_SCORES, ORDERS, SPECS, TASKS

ADMIN = Caller("a1", ("admin",))
SYSTEM = Caller("system", ("system",))
MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1"))
REP = Caller("u1", ("sales_rep",), ("t-sales",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    pipeline = domain.default_pipeline("t0")
    for deal_id, contact_id in (("d1", "c1"), ("d2", "c1"), ("d3", "c2")):
        fields = {"title": f"Deal {deal_id}", "amount": "10.00", "currency": "CNY", "contact_id": contact_id}
        opened[DEALS].insert({**domain.new_deal({**fields, "owner_id": "u1"}, pipeline, "u1", "t0"), "id": deal_id})
    opened[CUSTOMERS].put(
        {"id": "contact:c1", "subject_type": "contact", "subject_id": "c1", "owner_id": "u1", "shared_with": []}
        | {"display_name": "Han Meimei", "deleted": False, "source_version": 1}
    )
    orders = sales(opened, ADMIN)
    for notes in ("Wants the invoice sent to her home address", None):
        orders.create_order(
            {"contact_id": "c1", "amount": "50.00", "currency": "CNY", "owner_id": "u1", "notes": notes}
        )
    opened[TASKS].insert(
        {"id": "t1", "title": "Call back", "description": "Her mobile is best after six", "contact_id": "c1"}
        | {"due_at": "2024-05-01T00:00:00.000000Z", "assignee_id": "u1", "done": False}
    )
    opened[LEAD_SCORES].put({"id": "c1", "score": 40, "profile": {"email": "han@example.com"}})
    yield opened
    opened.close()


def sales(store: DocumentStore, caller: Caller) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller)


def test_the_export_lists_everything_sales_holds_about_the_contact_whoever_owns_it(store: DocumentStore) -> None:
    for caller in (ADMIN, SYSTEM):
        export = sales(store, caller).export_personal_data("c1")
        assert [d["id"] for d in export["deals"]] == ["d1", "d2"]
        assert [o["amount"] for o in export["orders"]] == ["50.00", "50.00"]
        assert [t["id"] for t in export["tasks"]] == ["t1"]
        assert export["lead_score"]["score"] == 40
        assert export["customer_value"]["order_count"] == 2
    assert sales(store, ADMIN).export_personal_data("nobody") == {
        "deals": [],
        "orders": [],
        "tasks": [],
        "lead_score": None,
        "customer_value": None,
    }


@pytest.mark.parametrize("caller", [MANAGER, REP], ids=lambda c: c.roles[0])
def test_only_admins_and_the_platform_may_export(store: DocumentStore, caller: Caller) -> None:
    with pytest.raises(Forbidden):
        sales(store, caller).export_personal_data("c1")


def test_an_erased_contact_keeps_its_deals_and_orders_loses_free_text_and_sales_reports_back(
    store: DocumentStore,
) -> None:
    before = [store[DEALS].get(d) for d in ("d1", "d2")]
    erased = new_event("contact_erased", "contacts", {"id": "c1", "version": 4, "erasure_id": "e1"}).as_dict()
    sales(store, SYSTEM).on_contact_erased(erased)
    sales(store, SYSTEM).on_contact_erased(erased)  # a redelivery reports once

    assert [store[DEALS].get(d) for d in ("d1", "d2")] == before  # business records: no personal field
    assert [o["notes"] for o in store[ORDERS].iterate({"contact_id": "c1"})] == [None, None]
    assert store[TASKS].get("t1")["description"] is None
    assert store[LEAD_SCORES].get("c1") is None
    assert store[CUSTOMERS].get("contact:c1")["display_name"] is None
    assert store[CUSTOMER_STATS].get("contact:c1")["display_name"] is None
    reports = [r["event"] for r in store[OUTBOX].iterate(None, [("id", 1)])]
    # Each scrub is announced like any change: search and webhooks drop the text too.
    announced = [(r["event_type"], r["payload"]["changes"]) for r in reports if r["event_type"].endswith("_updated")]
    assert announced == [("order_updated", ["notes"]), ("task_updated", ["description"])]
    assert [(r["event_type"], r["payload"]) for r in reports if r["event_type"] == "personal_data_erased"] == [
        (
            "personal_data_erased",
            {
                "contact_id": "c1",
                "erasure_id": "e1",
                "service": "sales",
                # one order's notes, one task's description, the lead score, the name in two projections
                "detail": {"deals_kept": 2, "orders_kept": 2, "tasks_kept": 1, "scrubbed": 5},
            },
        )
    ]
