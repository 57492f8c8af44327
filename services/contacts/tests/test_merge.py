"""Duplicate prevention and merge inside the contacts service, on a real SQLite store, no broker:
the 409 on a likely duplicate and its override, the check before entry, who sees which candidate,
and merges that move every branch and publish what the other services need to re-point."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts.service import ContactsService
from contacts.store import DEAL_LINKS, MATCH_KEYS, SERVICE_LINKS, SPECS
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",), ("t1",), managed_team_ids=("t1",), managed_user_ids=("m1", "u1", "u2"))
REP = Caller("u1", ("sales_rep",), ("t1",), teammate_ids=("m1", "u1", "u2"))
OTHER_REP = Caller("u3", ("sales_rep",), ("t2",), teammate_ids=("u3",))
VIEWER = Caller("v1", ("viewer",), ("t1",), teammate_ids=("m1", "u1", "u2"))
SYSTEM = Caller("system", ("system",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def as_(store: DocumentStore, caller: Caller) -> ContactsService:
    return worker_factory(ContactsService, store=store, caller=caller)


def deliver(store: DocumentStore, source: str, event_type: str, payload: dict) -> None:
    event = new_event(event_type, source, payload, actor="someone").as_dict()
    getattr(as_(store, SYSTEM), f"on_{event_type}")(event)


def published(store: DocumentStore, event_type: str) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [row["event"]["payload"] for row in rows if row["event"]["event_type"] == event_type]


def refused(call, *args, **kwargs) -> list[dict]:
    with pytest.raises(Conflict) as conflict:
        call(*args, **kwargs)
    return conflict.value.matches


# refusing likely duplicates on create


def test_creating_a_contact_with_a_known_email_in_another_case_is_refused_with_the_match(store) -> None:
    rep = as_(store, REP)
    first = rep.create_contact({"first_name": "Wei", "last_name": "Zhang", "email": "zhang.wei@example.cn"})
    matches = refused(rep.create_contact, {"first_name": "W.", "last_name": "Zhang", "email": "Zhang.Wei@EXAMPLE.cn"})
    assert [(m["id"], m["reasons"], m["strong"]) for m in matches] == [(first["id"], ["email"], True)]
    assert matches[0]["record"]["email"] == "zhang.wei@example.cn" and matches[0]["score"] == 1.0


@pytest.mark.parametrize("written", ["+86 138-0013-8000", "0086 13800138000", "138 0013 8000", "138.0013.8000"])
def test_creating_a_contact_with_a_known_phone_in_another_format_is_refused(store, written: str) -> None:
    rep = as_(store, REP)
    first = rep.create_contact({"last_name": "Li", "phone": "13800138000"})
    matches = refused(rep.create_contact, {"last_name": "Wang", "phone": written})
    assert [(m["id"], m["reasons"]) for m in matches] == [(first["id"], ["phone"])]


def test_the_same_chinese_name_at_the_same_company_is_refused_but_not_elsewhere(store) -> None:
    rep = as_(store, REP)
    acme = rep.create_company({"name": "远景科技有限公司"})
    other = rep.create_company({"name": "蓝天贸易有限公司"})
    first = rep.create_contact({"last_name": "张", "first_name": "伟", "company_id": acme["id"]})
    for name in (
        {"last_name": "张", "first_name": " 伟"},
        {"local_name": "張 偉", "first_name": "Wei", "last_name": "Zhang"},
        {"first_name": "张", "last_name": "伟"},
    ):
        matches = refused(rep.create_contact, {**name, "company_id": acme["id"]})
        assert [(m["id"], m["reasons"]) for m in matches] == [(first["id"], ["name_and_company"])]
    # The same name at another company is a namesake: created, and reported only as a weak candidate.
    namesake = rep.create_contact({"last_name": "张", "first_name": "伟", "company_id": other["id"]})
    weak = rep.find_duplicates("contact", {"last_name": "张", "first_name": "伟"})["data"]
    assert {m["id"]: m["strong"] for m in weak} == {first["id"]: False, namesake["id"]: False}


def test_a_western_surname_typo_at_the_same_company_is_refused(store) -> None:
    rep = as_(store, REP)
    acme = rep.create_company({"name": "Acme Ltd"})
    first = rep.create_contact({"first_name": "Mary", "last_name": "Johnson", "company_id": acme["id"]})
    matches = refused(rep.create_contact, {"first_name": "mary", "last_name": "Jonson", "company_id": acme["id"]})
    assert matches[0]["id"] == first["id"] and matches[0]["reasons"] == ["name_and_company"]
    assert rep.create_contact({"first_name": "Mary", "last_name": "Jonson"})["id"]  # no company: only weak


def test_allow_duplicate_overrides_the_refusal_and_both_records_stay(store) -> None:
    rep = as_(store, REP)
    first = rep.create_contact({"last_name": "Li", "email": "li@example.cn"})
    second = rep.create_contact({"last_name": "Li", "email": "LI@example.cn"}, allow_duplicate=True)
    assert second["id"] != first["id"]
    found = rep.find_duplicates("contact", {"email": "li@example.cn"})["data"]
    assert {m["id"] for m in found} == {first["id"], second["id"]}


def test_companies_are_refused_by_tax_id_and_by_name_without_legal_form(store) -> None:
    rep = as_(store, REP)
    acme = rep.create_company({"name": "Acme Ltd", "tax_id": "91110000600037341L"})
    by_tax_id = refused(rep.create_company, {"name": "Totally Other", "tax_id": "9111-0000-6000-37341l"})
    assert by_tax_id[0]["id"] == acme["id"] and by_tax_id[0]["reasons"] == ["tax_id"]
    by_name = refused(rep.create_company, {"name": "ACME Limited"})
    assert by_name[0]["id"] == acme["id"] and by_name[0]["reasons"] == ["company_name"]
    # A different tax id says it is another company with the same name (a namesake elsewhere).
    assert rep.create_company({"name": "Acme Limited", "tax_id": "91310000000000000X"})["id"]


def test_a_likely_duplicate_the_caller_cannot_see_is_refused_without_revealing_it(store) -> None:
    theirs = as_(store, OTHER_REP).create_contact({"last_name": "Chen", "email": "chen@example.cn"})
    matches = refused(as_(store, REP).create_contact, {"last_name": "Lin", "email": "chen@example.cn"})
    assert matches == [{"id": None, "score": 1.0, "reasons": ["email"], "strong": True, "record": None}]
    assert theirs["id"] not in str(matches)
    # A weak match out of reach is not reported at all.
    assert as_(store, REP).find_duplicates("contact", {"last_name": "Chen"})["data"] == []


def test_changing_an_email_moves_its_keys_and_a_delete_drops_them(store) -> None:
    rep = as_(store, REP)
    record = rep.create_contact({"last_name": "Zhao", "email": "old@example.cn"})
    rep.update_contact(record["id"], {"email": "new@example.cn"})
    assert rep.find_duplicates("contact", {"email": "old@example.cn"})["data"] == []
    assert rep.find_duplicates("contact", {"email": "new@example.cn"})["data"][0]["id"] == record["id"]
    rep.delete_contact(record["id"])
    assert store[MATCH_KEYS].count({"subject_id": record["id"]}) == 0
    assert rep.create_contact({"last_name": "Zhao", "email": "new@example.cn"})["id"]


# the check before entry


def test_the_check_before_entry_takes_the_create_body_and_ranks_strong_first(store) -> None:
    rep = as_(store, REP)
    acme = rep.create_company({"name": "Acme"})
    by_phone = rep.create_contact({"first_name": "Ann", "last_name": "Lee", "phone": "13900000000"})
    by_name = rep.create_contact({"first_name": "Mary", "last_name": "Johnson", "company_id": acme["id"]})
    body = {
        "first_name": "Mary",
        "last_name": "Johnson",
        "phone": "１３９ ００００ ００００",
        "lifecycle_stage": "lead",  # not a matching field: accepted and ignored
        "tags": ["vip"],
    }
    found = rep.find_duplicates("contact", body)["data"]
    assert [(m["id"], m["reasons"], m["strong"]) for m in found] == [
        (by_phone["id"], ["phone"], True),
        (by_name["id"], ["name"], False),
    ]


def test_the_check_before_entry_refuses_unknown_fields_wrong_types_and_empty_bodies(store) -> None:
    rep = as_(store, REP)
    with pytest.raises(ValidationFailed) as unknown:
        rep.find_duplicates("contact", {"email": "a@b.cn", "nickname": "x"})
    assert unknown.value.errors == [{"field": "nickname", "message": "is not a known field"}]
    with pytest.raises(ValidationFailed) as wrong_type:
        rep.find_duplicates("contact", {"email": 42, "other_phones": "138"})
    assert {e["field"] for e in wrong_type.value.errors} == {"email", "other_phones"}
    with pytest.raises(ValidationFailed):
        rep.find_duplicates("contact", {"lifecycle_stage": "lead"})
    with pytest.raises(ValidationFailed):
        rep.find_duplicates("company", {"id": "x", "name": "Acme"})
    with pytest.raises(ValidationFailed):
        rep.find_duplicates("deal", {"name": "Acme"})
    with pytest.raises(Forbidden):
        as_(store, VIEWER).find_duplicates("contact", {"email": "a@b.cn"})


# merge


@pytest.fixture
def pair(store) -> tuple[dict, dict]:
    """Two records of one person, both the rep's: the survivor and its duplicate, with branches."""
    rep = as_(store, REP)
    survivor = rep.create_contact(
        {"first_name": "Wei", "last_name": "Zhang", "email": "zhang.wei@example.cn", "tags": ["vip"]}
    )
    duplicate = rep.create_contact(
        {
            "first_name": "Wei",
            "last_name": "Zhang",
            "email": "wei@home.cn",
            "phone": "+86 138 0013 8000",
            "title": "CTO",
            "tags": ["beta", "vip"],
            "shared_with": ["u2"],
            "custom_fields": {},
        },
    )
    rep.create_interaction({"kind": "call", "contact_id": duplicate["id"], "summary": "Asked for a quote"})
    deliver(
        store,
        "sales",
        "deal_created",
        {
            "id": "d1",
            "version": 1,
            "title": "ERP",
            "amount": "100.00",
            "currency": "CNY",
            "status": "open",
            "contact_id": duplicate["id"],
            "owner_id": "u1",
        },
    )
    deliver(
        store,
        "service_desk",
        "ticket_created",
        {
            "id": "tk1",
            "version": 1,
            "subject": "Broken",
            "priority": "high",
            "contact_id": duplicate["id"],
            "team_id": "t-help",
            "contact_owner_id": "u1",
        },
    )
    return rep.get_contact(survivor["id"]), rep.get_contact(duplicate["id"])


def test_a_merge_keeps_the_survivor_and_fills_its_gaps_from_the_duplicate(store, pair) -> None:
    survivor, duplicate = pair
    merged = as_(store, REP).merge_records("contact", survivor["id"], [duplicate["id"]])
    assert merged["id"] == survivor["id"] and merged["version"] > survivor["version"]
    assert merged["email"] == "zhang.wei@example.cn" and merged["other_emails"] == ["wei@home.cn"]
    assert merged["phone"] == "+86 138 0013 8000" and merged["title"] == "CTO"
    assert merged["tags"] == ["vip", "beta"] and merged["shared_with"] == ["u2"]
    assert merged["open_deal_count"] == 1
    with pytest.raises(NotFound):
        as_(store, REP).get_contact(duplicate["id"])


def test_a_merge_moves_interactions_timeline_links_and_deals_to_the_survivor(store, pair) -> None:
    survivor, duplicate = pair
    rep = as_(store, REP)
    before = {e["summary"] for e in rep.get_timeline("contact", duplicate["id"], {})["data"]}
    rep.merge_records("contact", survivor["id"], [duplicate["id"]])
    interactions = rep.list_interactions({"where": {"contact_id": survivor["id"]}})["data"]
    assert [i["summary"] for i in interactions] == ["Asked for a quote"]
    assert rep.list_interactions({"where": {"contact_id": duplicate["id"]}})["data"] == []
    after = [e["summary"] for e in rep.get_timeline("contact", survivor["id"], {})["data"]]
    assert before <= set(after), before - set(after)
    assert {"Deal ERP opened (100.00 CNY)", "Ticket Broken (high)"} <= set(after)
    assert any(s.startswith("Merged Wei Zhang") for s in after)
    assert store[SERVICE_LINKS].get(f"contact:{survivor['id']}:t-help") is not None
    assert store[DEAL_LINKS].get("d1")["contact_id"] == survivor["id"]
    # The duplicate's own history stays readable, ending with the merge.
    assert rep.get_timeline("contact", duplicate["id"], {})["data"][0]["summary"] == f"Merged into {survivor['id']}"


def test_a_merge_publishes_what_the_other_services_re_point_by(store, pair) -> None:
    survivor, duplicate = pair
    as_(store, REP).merge_records("contact", survivor["id"], [duplicate["id"]])
    deleted = published(store, "contact_deleted")
    assert deleted == [
        {"id": duplicate["id"], "version": duplicate["version"] + 1, "deleted_by": "u1", "merged_into": survivor["id"]}
    ]
    merged = published(store, "contact_merged")
    assert len(merged) == 1 and merged[0]["id"] == survivor["id"]
    assert merged[0]["merged_ids"] == [duplicate["id"]]
    assert merged[0]["merged"] == [{"id": duplicate["id"], "version": duplicate["version"] + 1}]
    assert published(store, "contact_updated")[-1]["id"] == survivor["id"]
    moved = [i for i in published(store, "interaction_updated") if "contact_id" in i["changes"]]
    assert [i["contact_id"] for i in moved] == [survivor["id"]]


def test_a_merged_survivor_finds_the_duplicates_emails_and_phones(store, pair) -> None:
    survivor, duplicate = pair
    rep = as_(store, REP)
    rep.merge_records("contact", survivor["id"], [duplicate["id"]])
    matches = refused(rep.create_contact, {"last_name": "X", "phone": "13800138000", "email": "wei@home.cn"})
    assert [(m["id"], set(m["reasons"])) for m in matches] == [(survivor["id"], {"email", "phone"})]


def test_a_company_merge_moves_its_contacts_and_publishes_their_change(store) -> None:
    rep = as_(store, REP)
    survivor = rep.create_company({"name": "Acme Ltd"})
    duplicate = rep.create_company({"name": "Acme Trading", "tax_id": "91110000600037341L", "industry": "retail"})
    worker = rep.create_contact({"first_name": "Ann", "last_name": "Lee", "company_id": duplicate["id"]})
    rep.create_interaction({"kind": "visit", "company_id": duplicate["id"], "summary": "Site visit"})
    merged = rep.merge_records("company", survivor["id"], [duplicate["id"]])
    assert merged["tax_id"] == "91110000600037341L" and merged["industry"] == "retail"
    assert rep.get_contact(worker["id"])["company_id"] == survivor["id"]
    assert [c["id"] for c in published(store, "contact_updated") if c["changes"] == ["company_id"]] == [worker["id"]]
    assert published(store, "company_merged")[0]["merged_ids"] == [duplicate["id"]]
    assert published(store, "company_deleted")[0]["merged_into"] == survivor["id"]
    assert [i["summary"] for i in rep.list_interactions({"where": {"company_id": survivor["id"]}})["data"]] == [
        "Site visit"
    ]
    # The contact now counts as at the survivor for "name plus company".
    matches = refused(rep.create_contact, {"first_name": "Ann", "last_name": "Lee", "company_id": survivor["id"]})
    assert matches[0]["id"] == worker["id"]


def test_a_merge_needs_the_right_to_change_every_record(store, pair) -> None:
    survivor, duplicate = pair
    theirs = as_(store, OTHER_REP).create_contact({"last_name": "Chen"})
    with pytest.raises(NotFound):
        as_(store, REP).merge_records("contact", survivor["id"], [theirs["id"]])
    with pytest.raises(NotFound):
        as_(store, OTHER_REP).merge_records("contact", theirs["id"], [duplicate["id"]])
    with pytest.raises(Forbidden):
        as_(store, VIEWER).merge_records("contact", survivor["id"], [duplicate["id"]])
    # Nothing moved: the transaction rolled back as a whole.
    assert as_(store, REP).get_contact(duplicate["id"])["version"] == duplicate["version"]


def test_a_merge_refuses_bad_duplicate_lists_and_a_stale_survivor(store, pair) -> None:
    survivor, duplicate = pair
    rep = as_(store, REP)
    for bad in ([], [survivor["id"]], [duplicate["id"], duplicate["id"]], "x", [f"d{n}" for n in range(21)]):
        with pytest.raises(ValidationFailed):
            rep.merge_records("contact", survivor["id"], bad)
    with pytest.raises(PreconditionFailed):
        rep.merge_records("contact", survivor["id"], [duplicate["id"]], expected_version=survivor["version"] - 1)
    assert rep.merge_records("contact", survivor["id"], [duplicate["id"]], expected_version=survivor["version"])


def test_a_pool_record_is_merged_only_by_a_manager(store) -> None:
    manager = as_(store, MANAGER)
    mine = manager.create_contact({"last_name": "Sun", "owner_id": "u1"})
    pooled = manager.create_contact({"last_name": "Sun", "owner_id": None, "email": "sun@example.cn"})
    with pytest.raises(Forbidden):
        as_(store, REP).merge_records("contact", mine["id"], [pooled["id"]])
    assert manager.merge_records("contact", mine["id"], [pooled["id"]])["email"] == "sun@example.cn"


# operations


def test_reindexing_is_idempotent_and_admin_only(store) -> None:
    rep = as_(store, REP)
    record = rep.create_contact({"first_name": "Mary", "last_name": "Johnson", "email": "m@example.cn"})
    keys = store[MATCH_KEYS].count({"subject_id": record["id"]})
    store[MATCH_KEYS].put(
        {"id": "stale", "subject_type": "contact", "subject_id": record["id"], "kind": "x", "value": "y"}
    )
    with pytest.raises(Forbidden):
        rep.reindex_match_keys("contact")
    page = as_(store, ADMIN).reindex_match_keys("contact", None, 1)
    assert page["indexed"] == 1
    assert store[MATCH_KEYS].count({"subject_id": record["id"]}) == keys


def test_a_merged_record_points_at_its_survivor_through_chained_merges(store) -> None:
    rep = as_(store, REP)
    a, b, c = (rep.create_contact({"last_name": name}, allow_duplicate=True) for name in ("Wu", "Wu", "Wu"))
    rep.merge_records("contact", b["id"], [a["id"]])
    rep.merge_records("contact", c["id"], [b["id"]])
    assert [rep._surviving_id(store, "contact", x["id"]) for x in (a, b, c)] == [c["id"]] * 3
