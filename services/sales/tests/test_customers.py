"""The customers projection from contacts' events: newest version wins, owners and names follow into the
customer's figures and return visits, deleted customers leave the reports (SQLite, no broker)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import DocumentStore, open_store
from sales.service import SalesService
from sales.store import CUSTOMER_STATS, CUSTOMERS, RETURN_VISITS, SPECS

SYSTEM = Caller("system", ("system",))
ADMIN = Caller("a1", ("admin",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    yield opened
    opened.close()


def sales(store: DocumentStore, caller: Caller = SYSTEM) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller)


def contact(version: int, owner_id: str | None = "u1", **extra) -> dict:
    return {
        "id": "c1",
        "version": version,
        "owner_id": owner_id,
        "shared_with": [],
        "display_name": "Li Lei",
        "first_name": "Lei",
        "last_name": "Li",
        "company_id": "k1",
        "lifecycle_stage": "customer",
        **extra,
    }


def deliver(store: DocumentStore, event_type: str, payload: dict) -> None:
    handler = getattr(sales(store), f"on_{event_type}")
    handler(new_event(event_type, "contacts", payload, actor="u1").as_dict())


def test_contact_events_keep_the_newest_version(store) -> None:
    deliver(store, "contact_created", contact(1))
    deliver(store, "contact_updated", contact(3, owner_id="u2", changes=["owner_id"]))
    deliver(store, "contact_updated", contact(2, owner_id="u9", changes=["owner_id"]))  # late and older: ignored
    projected = store[CUSTOMERS].get("contact:c1")
    assert (projected["owner_id"], projected["company_id"], projected["source_version"]) == ("u2", "k1", 3)
    deliver(store, "company_created", {"id": "k1", "version": 1, "name": "Acme", "owner_id": "u1"})
    assert store[CUSTOMERS].get("company:k1")["display_name"] == "Acme"


def test_a_new_owner_follows_into_the_figures_and_the_return_visit(store) -> None:
    deliver(store, "contact_created", contact(1))
    sales(store, ADMIN).create_order({"contact_id": "c1", "amount": "100.00", "currency": "CNY", "owner_id": "a1"})
    assert store[CUSTOMER_STATS].get("contact:c1")["owner_id"] == "u1"
    assert store[RETURN_VISITS].get("contact:c1")["owner_id"] == "u1"  # graded C: a visit every 90 days

    deliver(store, "contact_updated", contact(2, owner_id="u2", changes=["owner_id"]))
    assert store[CUSTOMER_STATS].get("contact:c1")["owner_id"] == "u2"
    assert store[RETURN_VISITS].get("contact:c1")["owner_id"] == "u2"

    deliver(store, "contact_updated", contact(3, owner_id=None, changes=["owner_id"]))  # back to the pool
    assert store[RETURN_VISITS].get("contact:c1") is None


def test_a_deleted_customer_leaves_the_value_reports(store) -> None:
    deliver(store, "contact_created", contact(1))
    sales(store, ADMIN).create_order({"contact_id": "c1", "amount": "100.00", "currency": "CNY"})
    assert sales(store, ADMIN).customer_value_report({})["grades"]["C"] == 1
    deliver(store, "contact_deleted", {"id": "c1", "version": 2, "deleted_by": "u1"})
    assert store[CUSTOMERS].get("contact:c1")["deleted"] is True
    assert store[CUSTOMER_STATS].get("contact:c1")["deleted"] is True
    assert sales(store, ADMIN).customer_value_report({})["grades"]["C"] == 0
