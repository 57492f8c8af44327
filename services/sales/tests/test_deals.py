"""Pipelines and deals on a real SQLite store, no broker: pipeline rules, won and lost deals, their
events, the rollup buckets, the deal's order and the rotting timer acting once across instances."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales import rollups
from sales.service import SalesService
from sales.store import DEAL_ROLLUPS, DEALS, ORDERS, SPECS

ADMIN = Caller("a1", ("admin",))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("u1",))
SYSTEM = Caller("system", ("system",))
STAGES = [
    {"name": "Lead in", "probability": 10, "rotting_days": 0},
    {"name": "Offer", "probability": 60, "rotting_days": 5},
    {"name": "Signed", "probability": 100},
    {"name": "Dropped", "probability": 0},
]


class FakeContacts:
    def get_contact(self, contact_id: str) -> dict:
        if contact_id != "c1":
            raise NotFound(f"contact {contact_id} not found")
        return {"id": contact_id, "company_id": "k1"}

    def get_company(self, company_id: str) -> dict:
        if company_id not in ("k1", "k2"):
            raise NotFound(f"company {company_id} not found")
        return {"id": company_id, "owner_id": "u1"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller, contacts=FakeContacts())


def events_of(store: DocumentStore, event_type: str) -> list[dict]:
    rows = store[OUTBOX].find(None, [("id", 1)], 500).items
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == event_type]


def new_deal(store: DocumentStore, caller: Caller = REP, **fields) -> dict:
    body = {"title": "Deal", "amount": "100.00", "currency": "CNY", "contact_id": "c1", **fields}
    return service(store, caller).create_deal(body)


def rollup_buckets(store: DocumentStore) -> dict:
    return {b["id"]: {k: v for k, v in b.items() if k != "version"} for b in store[DEAL_ROLLUPS].iterate()}


def test_admins_write_pipelines_and_everyone_reads_them(store: DocumentStore) -> None:
    with pytest.raises(Forbidden):
        service(store, REP).create_pipeline({"name": "Renewals", "stages": STAGES})
    pipeline = service(store, ADMIN).create_pipeline({"name": "Renewals", "business_line": "SaaS", "stages": STAGES})
    assert [s["id"] for s in pipeline["stages"]] == ["lead_in", "offer", "signed", "dropped"]
    listed = service(store, REP).list_pipelines({"where": {"business_line": "SaaS"}})["data"]
    assert [p["id"] for p in listed] == [pipeline["id"]]
    assert {p["name"] for p in service(store, REP).list_pipelines({})["data"]} == {"Renewals", "Sales"}
    with pytest.raises(ValidationFailed):
        service(store, ADMIN).create_pipeline({"name": "No outcome", "stages": STAGES[:2]})
    renamed = service(store, ADMIN).update_pipeline(pipeline["id"], {"name": "Renewal"}, pipeline["version"])
    assert renamed["name"] == "Renewal" and renamed["version"] == 2
    with pytest.raises(PreconditionFailed):
        service(store, ADMIN).update_pipeline(pipeline["id"], {"name": "R"}, pipeline["version"])
    with pytest.raises(Forbidden):
        service(store, REP).update_pipeline(pipeline["id"], {"name": "Mine"})


def test_a_stage_holding_deals_stays_and_a_pipeline_holding_deals_is_not_deleted(store: DocumentStore) -> None:
    admin = service(store, ADMIN)
    pipeline = admin.create_pipeline({"name": "Renewals", "stages": STAGES})
    new_deal(store, pipeline_id=pipeline["id"], stage_id="offer")
    kept = [{**s, "id": s["id"]} for s in pipeline["stages"]]
    with pytest.raises(Conflict) as caught:
        admin.update_pipeline(pipeline["id"], {"stages": [s for s in kept if s["id"] != "offer"]})
    assert "Offer" in str(caught.value)
    with pytest.raises(Conflict):
        admin.update_pipeline(
            pipeline["id"],
            {"stages": [{**s, "probability": 100} if s["id"] == "offer" else s for s in kept if s["id"] != "signed"]},
        )
    without_lead_in = admin.update_pipeline(pipeline["id"], {"stages": [s for s in kept if s["id"] != "lead_in"]})
    assert [s["id"] for s in without_lead_in["stages"]] == ["offer", "signed", "dropped"]
    with pytest.raises(Conflict):
        admin.delete_pipeline(pipeline["id"])
    with pytest.raises(Conflict):
        admin.delete_pipeline("default")
    empty = admin.create_pipeline({"name": "Empty", "stages": STAGES})
    admin.delete_pipeline(empty["id"], empty["version"])
    with pytest.raises(NotFound):
        admin.get_pipeline(empty["id"])


def test_a_deal_moved_through_its_stages_to_won_is_announced_and_gets_its_order(store: DocumentStore) -> None:
    lines = [{"product": "Seat", "quantity": "4", "unit_price": "250.00"}]
    deal = service(store, REP).create_deal(
        {"title": "Seats", "currency": "CNY", "contact_id": "c1", "line_items": lines}
    )
    assert deal["amount"] == "1000.00"
    sales = service(store, REP)
    deal = sales.update_deal(deal["id"], {"stage_id": "proposal"}, deal["version"])
    won = sales.update_deal(deal["id"], {"status": "won"}, deal["version"])
    assert (won["status"], won["stage_id"]) == ("won", "closed_won") and won["closed_at"]
    assert [h["stage_id"] for h in won["stage_history"]] == ["qualification", "proposal", "closed_won"]
    updates = events_of(store, "deal_updated")
    assert [u["changes"] for u in updates] == [["stage_id"], ["stage_id", "status", "closed_at"]]
    assert (updates[-1]["status"], updates[-1]["stage_name"]) == ("won", "Closed won")
    order = store[ORDERS].get(f"deal-{deal['id']}")
    assert (order["status"], order["amount"], order["deal_id"]) == ("confirmed", "1000.00", deal["id"])
    reopened = sales.update_deal(deal["id"], {"status": "open"})
    assert reopened["stage_id"] == "proposal" and reopened["closed_at"] is None
    assert store[ORDERS].get(f"deal-{deal['id']}")["status"] == "cancelled"


def test_a_lost_deal_needs_a_reason(store: DocumentStore) -> None:
    deal = new_deal(store)
    with pytest.raises(ValidationFailed) as caught:
        service(store, REP).update_deal(deal["id"], {"status": "lost"})
    assert caught.value.errors[0]["field"] == "lost_reason"
    lost = service(store, REP).update_deal(deal["id"], {"status": "lost", "lost_reason": "budget cut"})
    assert (lost["stage_id"], lost["lost_reason"]) == ("closed_lost", "budget cut")
    assert events_of(store, "deal_updated")[-1]["lost_reason"] == "budget cut"
    with pytest.raises(ValidationFailed):
        service(store, REP).update_deal(deal["id"], {"rotting": True})  # the server keeps it


def test_the_rollups_follow_every_deal_write_and_a_rebuild_finds_the_same(store: DocumentStore) -> None:
    sales = service(store, REP)
    a = new_deal(store, expected_close_date="2024-07-01")
    b = new_deal(store, amount="50.25")
    sales.update_deal(a["id"], {"stage_id": "negotiation", "amount": "120.00"})
    sales.update_deal(b["id"], {"status": "lost", "lost_reason": "price"})
    c = new_deal(store, stage_id="closed_won", amount="10.10")
    sales.update_deal(c["id"], {"status": "open"})
    sales.update_deal(c["id"], {"status": "won"})
    incremental = rollup_buckets(store)
    assert incremental["forecast|2024-07|u1|default|negotiation|CNY"]["amount"] == "120.00"
    assert not any(key.startswith("forecast|2024-07|u1|default|qualification") for key in incremental)
    with pytest.raises(Forbidden):
        sales.rebuild_deal_rollups()
    assert service(store, ADMIN).rebuild_deal_rollups() == {"deals": 3, "buckets": len(incremental)}
    assert rollup_buckets(store) == incremental
    pipeline = service(store, ADMIN).get_pipeline("default")
    assert rollups.totals((d, pipeline) for d in store[DEALS].iterate()) == incremental


def test_the_rotting_timer_flags_a_deal_once_across_instances(store: DocumentStore) -> None:
    pipeline = service(store, ADMIN).create_pipeline({"name": "Fast", "stages": STAGES})
    deal = new_deal(store, pipeline_id=pipeline["id"])
    assert deal["rotting_at"] == deal["stage_entered_at"]  # 0 rotting days: due at once
    first, second = service(store, SYSTEM), service(store, SYSTEM)
    assert first._flag_rotting_deals(deal["rotting_at"]) == 1
    assert second._flag_rotting_deals(deal["rotting_at"]) == 0
    (rotting,) = events_of(store, "deal_rotting")
    assert (rotting["id"], rotting["rotting"], rotting["stage_name"], rotting["rotting_days"]) == (
        deal["id"],
        True,
        "Lead in",
        0,
    )
    assert service(store, REP).list_deals({"where": {"rotting": "true"}})["data"][0]["id"] == deal["id"]
    moved = service(store, REP).update_deal(deal["id"], {"stage_id": "offer"})
    assert moved["rotting"] is False and moved["rotting_at"] > moved["stage_entered_at"]
    assert first._flag_rotting_deals(moved["stage_entered_at"]) == 0
    assert first._flag_rotting_deals(moved["rotting_at"]) == 1


def test_a_stale_flag_loses_to_a_concurrent_move(store: DocumentStore) -> None:
    pipeline = service(store, ADMIN).create_pipeline({"name": "Fast", "stages": STAGES})
    deal = new_deal(store, pipeline_id=pipeline["id"])
    service(store, REP).update_deal(deal["id"], {"stage_id": "offer"})
    assert service(store, SYSTEM)._flag_rotting(deal["id"], deal["rotting_at"]) is False
    assert events_of(store, "deal_rotting") == []


def test_changed_rotting_days_apply_to_the_open_deals_of_the_stage(store: DocumentStore) -> None:
    admin = service(store, ADMIN)
    pipeline = admin.create_pipeline({"name": "Fast", "stages": STAGES})
    deal = new_deal(store, pipeline_id=pipeline["id"], stage_id="offer")
    slower = [{**s, "rotting_days": 10} if s["id"] == "offer" else s for s in pipeline["stages"]]
    admin.update_pipeline(pipeline["id"], {"stages": slower})
    later = store[DEALS].get(deal["id"])
    assert later["rotting_at"] > deal["rotting_at"] and later["rotting"] is False


def test_a_deal_takes_only_its_contacts_company_and_one_the_caller_sees(store: DocumentStore) -> None:
    assert new_deal(store)["company_id"] == "k1"
    assert new_deal(store, company_id="k1")["company_id"] == "k1"
    for company_id in ("k2", "nowhere"):  # another company than the contact's; one that does not exist
        with pytest.raises(ValidationFailed) as caught:
            new_deal(store, company_id=company_id)
        assert caught.value.errors[0]["field"] == "company_id"


def test_a_won_deals_order_follows_the_deal_while_it_stays_won(store: DocumentStore) -> None:
    admin = service(store, ADMIN)
    deal = new_deal(store, status="won", amount="100.00")
    order_id = f"deal-{deal['id']}"
    items = [{"product": "Seat", "quantity": "2", "unit_price": "2500.00"}]
    admin.update_deal(deal["id"], {"line_items": items, "currency": "USD", "owner_id": "u2", "shared_with": ["u1"]})
    order = store[ORDERS].get(order_id)
    assert (order["amount"], order["currency"], order["owner_id"], order["shared_with"]) == (
        "5000.00",
        "USD",
        "u2",
        ["u1"],
    )
    assert order["line_items"] == [{"product": "Seat", "sku": None, "quantity": "2", "unit_price": "2500.00"}]
    update = events_of(store, "order_updated")[-1]
    assert set(update["changes"]) == {"line_items", "amount", "currency", "owner_id", "shared_with"}
    admin.update_deal(deal["id"], {"title": "renamed"})  # nothing the order follows
    assert store[ORDERS].get(order_id)["version"] == order["version"]


def test_reopening_a_won_deal_cancels_its_order_only_while_confirmed_or_pending(store: DocumentStore) -> None:
    sales = service(store, REP)
    deal = new_deal(store, status="won")
    order_id = f"deal-{deal['id']}"
    sales.update_order(order_id, {"status": "paid"})
    sales.update_deal(deal["id"], {"status": "open"})
    assert store[ORDERS].get(order_id)["status"] == "paid"  # money moved: it stays
    sales.update_deal(deal["id"], {"status": "won", "amount": "150.00"})
    assert (store[ORDERS].get(order_id)["status"], store[ORDERS].get(order_id)["amount"]) == ("paid", "150.00")
    other = new_deal(store, status="won")
    sales.update_order(f"deal-{other['id']}", {"status": "pending"})
    sales.update_deal(other["id"], {"status": "lost", "lost_reason": "gone"})
    assert store[ORDERS].get(f"deal-{other['id']}")["status"] == "cancelled"


def test_a_rebuild_reads_outside_the_write_lock_and_catches_up_with_writes_meanwhile(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    deals = [new_deal(store, amount=f"{n}.00") for n in (10, 20, 30)]
    store[DEAL_ROLLUPS].put({**store[DEAL_ROLLUPS].iterate().__next__(), "amount": "999.00"})  # drifted
    real, writing = rollups.contributions, []

    def contributions_with_a_write_meanwhile(deal, pipeline):
        if not writing:  # the first deal read: every deal changes while the rebuild reads
            writing.append(True)
            for n, d in enumerate(deals):
                service(store, REP).update_deal(d["id"], {"amount": f"{n + 1}00.00", "stage_id": "proposal"})
            new_deal(store, amount="7.00")
        return real(deal, pipeline)

    monkeypatch.setattr(rollups, "contributions", contributions_with_a_write_meanwhile)
    assert service(store, ADMIN).rebuild_deal_rollups() == {"deals": 4, "buckets": 4}
    monkeypatch.setattr(rollups, "contributions", real)
    pipeline = service(store, ADMIN).get_pipeline("default")
    assert rollup_buckets(store) == rollups.totals((d, pipeline) for d in store[DEALS].iterate())
    assert rollup_buckets(store)["forecast|none|u1|default|proposal|CNY"]["amount"] == "600.00"


def test_a_rebuild_fills_a_missing_closed_at_from_the_stage_history(store: DocumentStore) -> None:
    deal = new_deal(store, status="won")
    legacy = store[DEALS].replace({**deal, "closed_at": None, "updated_at": "2031-01-01T00:00:00.000000Z"})
    service(store, ADMIN).rebuild_deal_rollups()
    assert store[DEALS].get(deal["id"])["closed_at"] == legacy["stage_entered_at"]
    assert any(key.startswith(f"outcome|{deal['closed_at'][:7]}|") for key in rollup_buckets(store))


def test_rotting_changes_are_deal_updates(store: DocumentStore) -> None:
    admin = service(store, ADMIN)
    pipeline = admin.create_pipeline({"name": "Fast", "stages": STAGES})
    deal = new_deal(store, pipeline_id=pipeline["id"])
    service(store, SYSTEM)._flag_rotting_deals(deal["rotting_at"])
    assert events_of(store, "deal_updated")[-1]["changes"] == ["rotting"]
    slower = [{**s, "rotting_days": 10} if s["id"] == "lead_in" else s for s in pipeline["stages"]]
    admin.update_pipeline(pipeline["id"], {"stages": slower})
    update = events_of(store, "deal_updated")[-1]
    assert (update["changes"], update["rotting"]) == (["rotting_at"], True)  # still flagged: once per entry
    assert service(store, SYSTEM)._flag_rotting_deals("2099-01-01T00:00:00.000000Z") == 0
