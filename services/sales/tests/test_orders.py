"""Orders: validation, who sees them, all-or-nothing batches, and the order a won deal makes (SQLite, no broker)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales.service import SalesService
from sales.store import CUSTOMER_STATS, CUSTOMERS, ORDERS, SPECS

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2"))
REP = Caller("u1", ("sales_rep",), ("t-sales",))
OTHER_REP = Caller("u3", ("sales_rep",), ("t-other",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))

# The customers sales has heard of: id -> (owner, company)
KNOWN = {"c1": ("u1", "k1"), "c2": ("u2", None), "c3": ("u3", None)}


class FakeContacts:
    """The contacts service for customers the projection has not heard of yet: `fresh` exists for everyone."""

    def get_contact(self, contact_id: str) -> dict:
        if contact_id != "fresh":
            raise NotFound(f"contact {contact_id} not found")
        return {"id": contact_id, "company_id": "k-fresh", "owner_id": "u1"}

    def get_company(self, company_id: str) -> dict:
        raise NotFound(f"company {company_id} not found")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    for contact_id, (owner, company_id) in KNOWN.items():
        opened[CUSTOMERS].put(
            {
                "id": f"contact:{contact_id}",
                "subject_type": "contact",
                "subject_id": contact_id,
                "owner_id": owner,
                "shared_with": [],
                "display_name": contact_id.upper(),
                "company_id": company_id,
                "deleted": False,
                "source_version": 1,
            }
        )
    opened[CUSTOMERS].put(
        {"id": "company:k1", "subject_type": "company", "subject_id": "k1", "owner_id": "u1", "shared_with": []}
        | {"display_name": "K1 Ltd", "deleted": False, "source_version": 1}
    )
    yield opened
    opened.close()


def sales(store: DocumentStore, caller: Caller) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller, contacts=FakeContacts())


def outbox(store: DocumentStore, event_type: str) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == event_type]


ORDER = {"contact_id": "c1", "amount": "120.00", "currency": "CNY", "ordered_at": "2024-05-01T10:00:00Z"}


def test_an_order_takes_its_company_from_the_contact_its_owner_from_the_caller_and_is_announced(store) -> None:
    order = sales(store, REP).create_order({**ORDER, "payment_method": "alipay"})
    assert (order["company_id"], order["owner_id"], order["status"], order["amount"]) == (
        "k1",
        "u1",
        "confirmed",
        "120.00",
    )
    assert order["ordered_at"] == "2024-05-01T10:00:00.000000Z"
    assert [o["id"] for o in outbox(store, "order_created")] == [order["id"]]
    # The order counts at once: the contact and its company are graded.
    graded = outbox(store, "customer_graded")
    assert sorted((g["subject_type"], g["id"]) for g in graded) == [("company", "k1"), ("contact", "c1")]
    stats = store[CUSTOMER_STATS].get("contact:c1")
    assert (stats["last_order_at"], stats["monthly"]) == (
        order["ordered_at"],
        {"2024-05": {"count": 1, "amount": "120.00"}},
    )


def test_line_items_make_the_amount_and_a_different_amount_is_refused(store) -> None:
    lines = [
        {"product": "Tea", "quantity": "3", "unit_price": "12.50"},
        {"product": "Cup", "quantity": "1.5", "unit_price": "2"},
    ]
    order = sales(store, REP).create_order({"contact_id": "c1", "currency": "CNY", "line_items": lines})
    assert order["amount"] == "40.50"
    assert order["line_items"][0] == {"product": "Tea", "sku": None, "quantity": "3", "unit_price": "12.50"}
    with pytest.raises(ValidationFailed) as caught:
        sales(store, REP).create_order({"contact_id": "c1", "currency": "CNY", "line_items": lines, "amount": "41.00"})
    assert caught.value.errors[0]["field"] == "amount"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"currency": "CNY", "amount": "1.00"}, "contact_id"),  # neither contact nor company
        ({**ORDER, "amount": 12.5}, "amount"),  # a float
        ({**ORDER, "currency": "XYZ"}, "currency"),
        ({**ORDER, "status": "lost"}, "status"),
        ({**ORDER, "payment_method": "barter"}, "payment_method"),
        ({**ORDER, "ordered_at": "2999-01-01T00:00:00Z"}, "ordered_at"),  # more than a day ahead
        ({**ORDER, "deal_id": "d1"}, "deal_id"),  # server-owned
        ({**ORDER, "contact_id": "c3"}, "contact_id"),  # out of the rep's reach: as unknown as a missing one
        ({**ORDER, "contact_id": "nobody"}, "contact_id"),
        ({"contact_id": "c1", "currency": "CNY"}, "amount"),  # no line items, no amount
        ({**ORDER, "amount": None, "line_items": [{"product": "X", "quantity": "1", "unit_price": "1"}]}, "amount"),
        ({**ORDER, "line_items": [{"product": "X", "quantity": "1", "unit_price": None}]}, "line_items"),
        (
            {
                **{k: v for k, v in ORDER.items() if k != "amount"},
                "line_items": [{"product": "X", "quantity": "999999999999999", "unit_price": "999999999999999"}],
            },
            "line_items[0]",
        ),
    ],
)
def test_invalid_orders_are_refused_with_the_field(store, data: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        sales(store, REP).create_order(data)
    assert caught.value.errors[0]["field"] == field


def test_a_contact_the_projection_has_not_heard_of_is_checked_with_contacts(store) -> None:
    assert sales(store, REP).create_order({**ORDER, "contact_id": "fresh"})["company_id"] == "k-fresh"


def test_who_sees_which_order(store) -> None:
    own = sales(store, REP).create_order(ORDER)
    teammate = sales(store, MANAGER).create_order({**ORDER, "contact_id": "c2", "owner_id": "u2"})
    shared = sales(store, ADMIN).create_order({**ORDER, "contact_id": "c3", "owner_id": "u3", "shared_with": ["u1"]})
    hidden = sales(store, ADMIN).create_order({**ORDER, "contact_id": "c3", "owner_id": "u3"})
    expected = {
        ADMIN: {own["id"], teammate["id"], shared["id"], hidden["id"]},
        MANAGER: {own["id"], teammate["id"]},
        REP: {own["id"], shared["id"]},
        VIEWER: {own["id"], teammate["id"]},
        OTHER_REP: {shared["id"], hidden["id"]},
    }
    for caller, ids in expected.items():
        assert {o["id"] for o in sales(store, caller).list_orders({"limit": 200})["data"]} == ids
        for order_id in {own["id"], teammate["id"], shared["id"], hidden["id"]} - ids:
            with pytest.raises(NotFound):
                sales(store, caller).get_order(order_id)
    with pytest.raises(Forbidden):
        sales(store, VIEWER).create_order(ORDER)
    with pytest.raises(Forbidden):
        sales(store, REP).create_order({**ORDER, "owner_id": "u2"})


def test_an_update_changes_the_status_is_announced_and_refuses_stale_versions(store) -> None:
    order = sales(store, REP).create_order(ORDER)
    paid = sales(store, REP).update_order(order["id"], {"status": "paid"}, order["version"])
    assert (paid["status"], paid["version"]) == ("paid", 2)
    assert outbox(store, "order_updated")[-1]["changes"] == ["status"]
    with pytest.raises(PreconditionFailed):
        sales(store, REP).update_order(order["id"], {"status": "shipped"}, order["version"])
    with pytest.raises(ValidationFailed):
        sales(store, REP).update_order(order["id"], {"contact_id": "c2"})  # the customer stays
    with pytest.raises(Forbidden):
        sales(store, REP).update_order(order["id"], {"owner_id": "u2"})
    # Cancelling it takes it out of the customer's value: no counting order left, no grade.
    sales(store, REP).update_order(order["id"], {"status": "cancelled"})
    assert store[CUSTOMER_STATS].get("contact:c1")["value_grade"] is None
    assert outbox(store, "customer_graded")[-1] == {
        "subject_type": "company",
        "id": "k1",
        "value_grade": None,
        "rfm": None,
    }


def test_a_batch_is_all_or_nothing_and_names_every_bad_row(store) -> None:
    rows = [ORDER, {**ORDER, "amount": "x"}, ORDER, {**ORDER, "contact_id": "nobody", "currency": "ZZZ"}]
    with pytest.raises(ValidationFailed) as caught:
        sales(store, REP).import_orders(rows)
    assert [e["field"] for e in caught.value.errors] == ["orders[1].amount", "orders[3].currency"]
    assert store[ORDERS].count() == 0

    dry = sales(store, REP).import_orders([ORDER, ORDER], dry_run=True)
    assert (dry, store[ORDERS].count()) == ({"dry_run": True, "count": 2, "ids": []}, 0)

    done = sales(store, REP).import_orders([ORDER, {**ORDER, "ordered_at": "2024-06-01"}])
    assert (done["dry_run"], done["count"], store[ORDERS].count()) == (False, 2, 2)
    assert len(outbox(store, "order_created")) == 2
    with pytest.raises(ValidationFailed):
        sales(store, REP).import_orders([ORDER] * 1001)
    with pytest.raises(ValidationFailed):
        sales(store, REP).import_orders([])


def test_a_won_deal_makes_an_order_and_reopening_it_cancels_the_order(store) -> None:
    rep = sales(store, REP)
    deal = rep.create_deal(
        {"title": "Tea for the office", "amount": "900.00", "currency": "CNY", "contact_id": "fresh"}
    )
    rep.update_deal(deal["id"], {"status": "won"})

    order = store[ORDERS].get(f"deal-{deal['id']}")
    assert (order["deal_id"], order["status"], order["amount"], order["owner_id"]) == (
        deal["id"],
        "confirmed",
        "900.00",
        "u1",
    )
    assert order["contact_id"] == "fresh"
    assert [o["id"] for o in outbox(store, "order_created")] == [order["id"]]
    assert store[CUSTOMER_STATS].get("contact:fresh")["value_grade"] is not None

    rep.update_deal(deal["id"], {"status": "open"})
    assert store[ORDERS].get(order["id"])["status"] == "cancelled"
    assert outbox(store, "order_updated")[-1]["changes"] == ["status"]
    assert store[CUSTOMER_STATS].get("contact:fresh")["value_grade"] is None

    rep.update_deal(deal["id"], {"status": "won"})  # won again: the same order stands again, no second one
    assert store[ORDERS].get(order["id"])["status"] == "confirmed"
    assert store[ORDERS].count({"deal_id": deal["id"]}) == 1


def test_the_deal_hook_is_idempotent(store) -> None:
    deal = {"id": "d9", "status": "won", "contact_id": "c1", "company_id": "k1", "amount": "10.00", "currency": "CNY"}
    deal |= {"owner_id": "u1", "closed_at": "2024-05-02T08:00:00Z", "line_items": []}
    service = sales(store, ADMIN)
    for _ in range(2):
        with store.transaction() as tx:
            service._sync_deal_order(tx, deal, "open")
    assert len(outbox(store, "order_created")) == 1
    assert store[ORDERS].get("deal-d9")["ordered_at"] == "2024-05-02T08:00:00.000000Z"
    for _ in range(2):
        with store.transaction() as tx:
            service._sync_deal_order(tx, {**deal, "status": "lost"}, "won")
    assert [u["status"] for u in outbox(store, "order_updated")] == ["cancelled"]
