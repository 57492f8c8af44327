"""Segments on a real SQLite store, no broker: saved filters over any field (custom fields, value
grade, churn risk), their members and counts, always cut down to the caller's reach."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts.service import ContactsService
from contacts.store import SPECS
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import BadRequest, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore, open_store

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller(
    "m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2", "v1")
)
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
EAST_REP = Caller("u3", ("sales_rep",), ("t-east",), teammate_ids=("u3",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
SYSTEM = Caller("system", ("system",))

VIP_IN_SHANGHAI = {"and": [{"custom_fields.region": "shanghai"}, {"value_grade": {"in": ["A", "B"]}}]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller) -> ContactsService:
    return worker_factory(ContactsService, store=store, caller=caller)


def graded(store: DocumentStore, contact: dict, grade: str | None, churn: str | None = None) -> None:
    system = service(store, SYSTEM)
    payload = {"id": contact["id"], "subject_type": "contact", "value_grade": grade}
    system.on_customer_graded(new_event("customer_graded", "sales", payload, actor="system").as_dict())
    if churn:
        payload = {"id": contact["id"], "subject_type": "contact", "churn_risk": churn}
        system.on_churn_risk_changed(new_event("churn_risk_changed", "sales", payload, actor="system").as_dict())


@pytest.fixture
def customers(store: DocumentStore) -> dict[str, dict]:
    admin = service(store, ADMIN)
    admin.create_custom_field({"entity": "contact", "key": "region", "label": "Region", "type": "text"})
    admin.create_custom_field({"entity": "company", "key": "tier", "label": "Tier", "type": "text"})
    made = {}
    for name, owner, region, grade, churn in [
        ("own_vip", "u1", "shanghai", "A", "low"),
        ("own_low", "u1", "shanghai", "D", "high"),
        ("teammate_vip", "u2", "shanghai", "B", "high"),
        ("east_vip", "u3", "shanghai", "A", "high"),
        ("pool_vip", None, "shanghai", "B", None),
        ("beijing_vip", "u1", "beijing", "A", None),
    ]:
        made[name] = admin.create_contact(
            {"first_name": name, "owner_id": owner, "custom_fields": {"region": region}}, allow_duplicate=True
        )
        graded(store, made[name], grade, churn)
    for name, owner, tier in [("gold_co", "u1", "gold"), ("east_gold_co", "u3", "gold"), ("tin_co", "u1", "tin")]:
        made[name] = admin.create_company({"name": name, "owner_id": owner, "custom_fields": {"tier": tier}})
    return made


def names(page: dict) -> set[str]:
    return {record.get("first_name") or record.get("name") for record in page["data"]}


def test_a_segment_filters_on_custom_fields_and_value_grade_within_each_callers_reach(store, customers):
    segment = service(store, REP).create_segment(
        {"name": "VIPs in Shanghai", "entity": "contact", "filter": VIP_IN_SHANGHAI, "shared": True}
    )
    assert segment["owner_id"] == "u1" and segment["version"] == 1 and segment["member_count"] == 2
    expected = {
        REP: {"own_vip", "pool_vip"},
        MANAGER: {"own_vip", "teammate_vip", "pool_vip"},
        VIEWER: {"own_vip", "teammate_vip", "pool_vip"},
        EAST_REP: {"east_vip", "pool_vip"},
        ADMIN: {"own_vip", "teammate_vip", "east_vip", "pool_vip"},
        SYSTEM: {"own_vip", "teammate_vip", "east_vip", "pool_vip"},  # campaigns
        AGENT: set(),
    }
    for caller, members in expected.items():
        contacts = service(store, caller)
        assert names(contacts.list_segment_members(segment["id"], {"limit": 200})) == members, caller.user_id
        assert contacts.count_segment_members(segment["id"])["count"] == len(members)
        assert contacts.get_segment(segment["id"])["member_count"] == len(members)


def test_members_are_paged_sorted_and_filtered_further_like_the_contact_list(store, customers):
    segment = service(store, ADMIN).create_segment(
        {"name": "Shanghai", "entity": "contact", "filter": {"custom_fields.region": "shanghai"}}
    )
    admin = service(store, ADMIN)
    first = admin.list_segment_members(segment["id"], {"limit": 2, "sort": "first_name"})
    rest = admin.list_segment_members(
        segment["id"], {"limit": 200, "sort": "first_name", "cursor": first["next_cursor"]}
    )
    ordered = [c["first_name"] for c in first["data"] + rest["data"]]
    assert ordered == sorted(["own_vip", "own_low", "teammate_vip", "east_vip", "pool_vip"])
    risky = admin.list_segment_members(segment["id"], {"where": {"churn_risk": "high"}})
    assert names(risky) == {"own_low", "teammate_vip", "east_vip"}
    with pytest.raises(BadRequest):
        admin.list_segment_members(segment["id"], {"sort": "password"})


def test_churn_risk_and_company_segments_work_the_same_way(store, customers):
    admin = service(store, ADMIN)
    churning = admin.create_segment(
        {"name": "At risk", "entity": "contact", "filter": {"churn_risk": "high", "value_grade": {"ne": "D"}}}
    )
    assert names(admin.list_segment_members(churning["id"], {})) == {"teammate_vip", "east_vip"}
    gold = service(store, REP).create_segment(
        {"name": "Gold accounts", "entity": "company", "filter": {"custom_fields.tier": "gold"}}
    )
    assert names(service(store, REP).list_segment_members(gold["id"], {})) == {"gold_co"}
    assert names(admin.list_segment_members(gold["id"], {})) == {"gold_co", "east_gold_co"}


def test_a_segment_filter_is_checked_against_the_entitys_fields(store, customers):
    rep = service(store, REP)
    bad = [
        {"password": "x"},
        {"value_grade": {"like": "A"}},
        {"and": []},
        {},
        "value_grade = A",
        {"industry": "retail"},  # a company field, not a contact's
    ]
    for flt in bad:
        with pytest.raises(ValidationFailed) as refused:
            rep.create_segment({"name": "Bad", "entity": "contact", "filter": flt})
        assert refused.value.errors[0]["field"] == "filter", flt
    with pytest.raises(ValidationFailed) as refused:
        rep.create_segment({"name": "No filter", "entity": "contact"})
    assert refused.value.errors == [{"field": "filter", "message": "is required"}]
    with pytest.raises(ValidationFailed):
        rep.create_segment({"name": "X", "entity": "deal", "filter": {"title": "x"}})
    with pytest.raises(ValidationFailed):
        rep.create_segment({"name": "X", "entity": "contact", "filter": {"tags": "vip"}, "owner_id": "u2"})


def test_a_segment_is_seen_by_its_owner_and_once_shared_by_everyone(store, customers):
    private = service(store, REP).create_segment({"name": "Mine", "entity": "contact", "filter": {"tags": "vip"}})
    shared = service(store, REP).create_segment(
        {"name": "Ours", "entity": "contact", "filter": {"tags": "vip"}, "shared": True}
    )
    assert {s["name"] for s in service(store, REP).list_segments({})["data"]} == {"Mine", "Ours"}
    for caller in (MANAGER, EAST_REP, VIEWER, AGENT):
        assert [s["name"] for s in service(store, caller).list_segments({})["data"]] == ["Ours"]
        with pytest.raises(NotFound):
            service(store, caller).get_segment(private["id"])
        with pytest.raises(NotFound):
            service(store, caller).list_segment_members(private["id"], {})
    assert {s["name"] for s in service(store, ADMIN).list_segments({})["data"]} == {"Mine", "Ours"}
    listed = service(store, ADMIN).list_segments({"where": {"shared": "true"}})["data"]
    assert [s["id"] for s in listed] == [shared["id"]]


def test_only_the_owner_or_an_admin_changes_a_segment(store, customers):
    rep = service(store, REP)
    segment = rep.create_segment({"name": "Mine", "entity": "contact", "filter": {"tags": "vip"}, "shared": True})
    with pytest.raises(Forbidden):
        service(store, MANAGER).update_segment(segment["id"], {"name": "Theirs"})
    with pytest.raises(Forbidden):
        service(store, VIEWER).create_segment({"name": "V", "entity": "contact", "filter": {"tags": "vip"}})
    changed = rep.update_segment(segment["id"], {"filter": VIP_IN_SHANGHAI, "description": "top"}, expected_version=1)
    assert changed["version"] == 2 and changed["filter"] == VIP_IN_SHANGHAI and changed["member_count"] == 2
    assert rep.update_segment(segment["id"], {"description": "top"})["version"] == 2  # no change, no version
    with pytest.raises(PreconditionFailed):
        rep.update_segment(segment["id"], {"name": "Late"}, expected_version=1)
    with pytest.raises(ValidationFailed):
        rep.update_segment(segment["id"], {"entity": "company"})
    with pytest.raises(ValidationFailed):
        rep.update_segment(segment["id"], {"filter": {"nope": 1}})
    with pytest.raises(Forbidden):
        service(store, MANAGER).delete_segment(segment["id"])
    service(store, ADMIN).delete_segment(segment["id"], expected_version=2)
    with pytest.raises(NotFound):
        rep.get_segment(segment["id"])


def test_a_segment_is_dynamic_members_follow_the_customers(store, customers):
    segment = service(store, ADMIN).create_segment(
        {"name": "VIPs", "entity": "contact", "filter": VIP_IN_SHANGHAI, "shared": True}
    )
    assert service(store, REP).get_segment(segment["id"])["member_count"] == 2
    graded(store, customers["own_low"], "A")
    service(store, REP).claim_contact(customers["pool_vip"]["id"])
    service(store, REP).update_contact(customers["own_vip"]["id"], {"custom_fields": {"region": "beijing"}})
    members = names(service(store, REP).list_segment_members(segment["id"], {}))
    assert members == {"own_low", "pool_vip"}
