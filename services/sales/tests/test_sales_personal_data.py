"""Personal data in sales: the export of a contact's deals, and what an erasure leaves (SQLite, no broker)."""

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
from sales.store import DEALS, SPECS

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
    yield opened
    opened.close()


def sales(store: DocumentStore, caller: Caller) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller)


def test_the_export_lists_every_deal_of_the_contact_whoever_owns_it(store: DocumentStore) -> None:
    for caller in (ADMIN, SYSTEM):
        export = sales(store, caller).export_personal_data("c1")
        assert [d["id"] for d in export["deals"]] == ["d1", "d2"]
    assert sales(store, ADMIN).export_personal_data("nobody") == {"deals": []}


@pytest.mark.parametrize("caller", [MANAGER, REP], ids=lambda c: c.roles[0])
def test_only_admins_and_the_platform_may_export(store: DocumentStore, caller: Caller) -> None:
    with pytest.raises(Forbidden):
        sales(store, caller).export_personal_data("c1")


def test_an_erased_contact_keeps_its_deals_and_sales_reports_back(store: DocumentStore) -> None:
    before = [store[DEALS].get(d) for d in ("d1", "d2")]
    erased = new_event("contact_erased", "contacts", {"id": "c1", "version": 4, "erasure_id": "e1"}).as_dict()
    sales(store, SYSTEM).on_contact_erased(erased)
    sales(store, SYSTEM).on_contact_erased(erased)  # a redelivery reports once

    assert [store[DEALS].get(d) for d in ("d1", "d2")] == before  # business records: no personal field
    reports = [r["event"] for r in store[OUTBOX].find(None, [("id", 1)], 50).items]
    assert [(r["event_type"], r["payload"]) for r in reports] == [
        (
            "personal_data_erased",
            {"contact_id": "c1", "erasure_id": "e1", "service": "sales", "detail": {"deals_kept": 2, "scrubbed": 0}},
        )
    ]
