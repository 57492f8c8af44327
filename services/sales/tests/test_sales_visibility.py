"""Who sees and changes which deal: the visibility table, on a real SQLite store, no broker."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.access import reach_of
from crm_common.caller import Caller
from crm_common.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales import domain
from sales.service import SalesService
from sales.store import DEALS, SPECS

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller(
    "m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2", "v1")
)
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))

# id -> (owner, shared_with)
DEALS_SEEDED = {
    "own": ("u1", []),
    "teammate": ("u2", []),
    "other": ("u3", []),
    "shared": ("u3", ["u1"]),
    "shared-with-agent": ("u3", ["s1"]),
}


class FakeContacts:
    """The contacts service as the caller would meet it: only `visible` contacts exist for them."""

    def __init__(self, visible: set[str]):
        self.visible = visible

    def get_contact(self, contact_id: str) -> dict:
        if contact_id not in self.visible:
            raise NotFound(f"contact {contact_id} not found")
        return {"id": contact_id, "company_id": "k1"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    pipeline = domain.default_pipeline("t0")
    opened["pipelines"].insert(pipeline)
    for deal_id, (owner, shared) in DEALS_SEEDED.items():
        fields = {"title": deal_id, "amount": "1.00", "currency": "CNY", "contact_id": "c1", "owner_id": owner}
        opened[DEALS].insert(
            {**domain.new_deal({**fields, "shared_with": shared}, pipeline, "a1", "t0"), "id": deal_id}
        )
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller, visible_contacts: set[str] = frozenset({"c1"})) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller, contacts=FakeContacts(set(visible_contacts)))


VISIBLE = {
    "admin": (ADMIN, set(DEALS_SEEDED)),
    "manager": (MANAGER, {"own", "teammate"}),
    "sales_rep": (REP, {"own", "shared"}),
    "support_agent": (AGENT, {"shared-with-agent"}),
    "viewer": (VIEWER, {"own", "teammate"}),
}


@pytest.mark.parametrize("role", VISIBLE)
def test_each_role_lists_and_reads_exactly_the_deals_in_its_reach(store: DocumentStore, role: str) -> None:
    caller, expected = VISIBLE[role]
    sales = service(store, caller)
    assert {d["id"] for d in sales.list_deals({"limit": 200})["data"]} == expected
    for deal_id in DEALS_SEEDED:
        if deal_id in expected:
            assert sales.get_deal(deal_id)["id"] == deal_id
        else:
            with pytest.raises(NotFound):
                sales.get_deal(deal_id)


def test_an_ownerless_deal_is_in_no_pool() -> None:
    assert not domain.deal_in_reach(reach_of(REP), {"owner_id": None})
    assert domain.deal_in_reach(reach_of(ADMIN), {"owner_id": None})


def test_pipelines_are_read_by_everyone(store: DocumentStore) -> None:
    for caller in (AGENT, VIEWER):
        assert service(store, caller).get_pipeline("default")["id"] == "default"


def test_only_customer_writers_create_deals(store: DocumentStore) -> None:
    new = {"title": "N", "amount": "5.00", "currency": "CNY", "contact_id": "c1"}
    for caller in (VIEWER, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).create_deal(new)
    assert service(store, REP).create_deal(new)["owner_id"] == "u1"
    with pytest.raises(Forbidden):
        service(store, REP).create_deal({**new, "owner_id": "u2"})
    assert service(store, MANAGER).create_deal({**new, "owner_id": "u2"})["owner_id"] == "u2"
    with pytest.raises(ValidationFailed):
        service(store, ADMIN).create_deal({**new, "owner_id": None})  # deals always have an owner


def test_a_contact_out_of_the_callers_reach_is_an_unknown_contact(store: DocumentStore) -> None:
    new = {"title": "N", "amount": "5.00", "currency": "CNY", "contact_id": "c-hidden"}
    with pytest.raises(ValidationFailed) as caught:
        service(store, REP, visible_contacts={"c1"}).create_deal(new)
    assert caught.value.errors == [{"field": "contact_id", "message": "no such contact"}]


def test_a_deal_update_changes_fields_records_the_stage_and_is_announced(store: DocumentStore) -> None:
    sales = service(store, REP)
    current = sales.get_deal("own")
    updated = sales.update_deal(
        "own", {"stage_id": "proposal", "amount": "9.00", "shared_with": ["u2"]}, current["version"]
    )
    assert (updated["stage_id"], updated["amount"], updated["version"]) == ("proposal", "9.00", current["version"] + 1)
    assert [h["stage_id"] for h in updated["stage_history"]] == ["qualification", "proposal"]
    (event,) = [r["event"] for r in store[OUTBOX].find(None, [("id", 1)], 10).items]
    assert event["event_type"] == "deal_updated"
    assert sorted(event["payload"]["changes"]) == ["amount", "shared_with", "stage_id"]
    assert sales.update_deal("own", {"amount": "9.00"}) == updated
    with pytest.raises(PreconditionFailed):
        sales.update_deal("own", {"amount": "1.00"}, current["version"])
    with pytest.raises(ValidationFailed):
        sales.update_deal("own", {"stage_id": "moon"})
    with pytest.raises(ValidationFailed):
        sales.update_deal("own", {"contact_id": "c2"})  # the customer stays as created


def test_deal_updates_follow_the_visibility_and_owner_rules(store: DocumentStore) -> None:
    with pytest.raises(NotFound):
        service(store, REP).update_deal("other", {"title": "X"})
    with pytest.raises(Forbidden):
        service(store, VIEWER).update_deal("own", {"title": "X"})
    assert service(store, REP).update_deal("shared", {"title": "Shared"})["title"] == "Shared"
    with pytest.raises(Forbidden):
        service(store, REP).update_deal("shared", {"owner_id": "u1"})
    with pytest.raises(Forbidden):
        service(store, REP).update_deal("own", {"owner_id": "u2"})
    assert service(store, MANAGER).update_deal("own", {"owner_id": "u2"})["owner_id"] == "u2"
    with pytest.raises(Forbidden):
        service(store, MANAGER).update_deal("teammate", {"owner_id": "u3"})
    assert service(store, ADMIN).update_deal("teammate", {"owner_id": "u3"})["owner_id"] == "u3"
