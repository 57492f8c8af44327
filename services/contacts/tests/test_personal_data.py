"""Personal data: export and erasure of a contact, on a real SQLite store, no broker (the other
services answer through fakes of their `export_personal_data` RPC)."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts.personal_data import ERASED_NAME, ERASED_TEXT, OTHER_SERVICES, SERVICES
from contacts.service import ContactsService
from contacts.store import ERASURES, HISTORY, INTERACTIONS, MATCH_KEYS, SPECS, TIMELINE
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2"))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2"))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
SYSTEM = Caller("system", ("system",))

PERSON = {
    "first_name": "伟明",
    "last_name": "张",
    "email": "zhang.wm@example.cn",
    "phone": "+86 138 0000 4321",
    "owner_id": "u1",
    "tags": ["vegetarian"],
}
PERSONAL_STRINGS = ("伟明", "张伟明", "zhang.wm@example.cn", "4321", "vegetarian", "allergic to peanuts")


class FakeExporter:
    """Another service's `export_personal_data`, as the contacts service meets it over RPC."""

    def __init__(self, name: str, fail: Exception | None = None):
        self.name, self.fail, self.asked = name, fail, []

    def export_personal_data(self, contact_id: str) -> dict:
        self.asked.append(contact_id)
        if self.fail is not None:
            raise self.fail
        return {"held_by": self.name, "contact_id": contact_id}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller, **exporters: FakeExporter) -> ContactsService:
    fakes = {f"{name}_exporter": exporters.get(name) or FakeExporter(name) for name in OTHER_SERVICES}
    return worker_factory(ContactsService, store=store, caller=caller, **fakes)


def event(source: str, event_type: str, payload: dict) -> dict:
    return new_event(event_type, source, payload, actor="someone").as_dict()


def outbox(store: DocumentStore, event_type: str) -> list[dict]:
    rows = store[OUTBOX].find(None, [("id", 1)], 500).items
    return [row["event"]["payload"] for row in rows if row["event"]["event_type"] == event_type]


@pytest.fixture
def person(store: DocumentStore) -> dict:
    """A contact at a company, changed once, with an interaction, a deal, a ticket, and a
    colleague's meeting at the company that the person attended."""
    admin = service(store, ADMIN)
    company = admin.create_company({"name": "远景科技", "owner_id": "u1"})
    contact = admin.create_contact({**PERSON, "company_id": company["id"]})
    admin.update_contact(contact["id"], {"title": "CFO", "lifecycle_stage": "customer"})
    call = admin.create_interaction(
        {
            "kind": "call",
            "contact_id": contact["id"],
            "subject": "Renewal call with 张伟明",
            "summary": "He is allergic to peanuts",
            "outcome": "agreed",
            "participants": [{"name": "张伟明", "phone": "+86 138 0000 4321"}, {"user_id": "u1"}],
        }
    )
    colleague = admin.create_contact({"first_name": "Li", "last_name": "Na", "company_id": company["id"]})
    meeting = admin.create_interaction(
        {
            "kind": "meeting",
            "contact_id": colleague["id"],
            "subject": "Budget review",
            "participants": [{"contact_id": contact["id"]}, {"email": "ZHANG.WM@example.cn"}, {"user_id": "u2"}],
        }
    )
    deal = {
        "id": "d1",
        "version": 1,
        "title": "ERP rollout",
        "amount": "120000.00",
        "currency": "CNY",
        "owner_id": "u1",
        "contact_id": contact["id"],
        "company_id": company["id"],
    }
    ticket = {
        "id": "tk1",
        "version": 1,
        "subject": "张伟明 cannot log in",
        "priority": "high",
        "contact_id": contact["id"],
        "company_id": company["id"],
        "team_id": "t-help",
        "assignee_id": None,
        "contact_owner_id": "u1",
    }
    system = service(store, SYSTEM)
    system.on_deal_created(event("sales", "deal_created", deal))
    system.on_ticket_created(event("service_desk", "ticket_created", ticket))
    return {"company": company, "contact": contact, "call": call, "colleague": colleague, "meeting": meeting}


# export


@pytest.mark.parametrize("caller", [MANAGER, REP, AGENT, VIEWER], ids=lambda c: c.roles[0])
def test_only_admins_may_export_personal_data_even_of_their_own_customer(
    store: DocumentStore, person: dict, caller: Caller
) -> None:
    with pytest.raises(Forbidden):
        service(store, caller).export_personal_data(person["contact"]["id"])


def test_the_export_holds_every_service_section_and_everything_contacts_keeps(
    store: DocumentStore, person: dict
) -> None:
    contact_id = person["contact"]["id"]
    exporters = {name: FakeExporter(name) for name in OTHER_SERVICES}
    export = service(store, ADMIN, **exporters).export_personal_data(contact_id)

    assert export["subject"] == {"type": "contact", "id": contact_id}
    assert export["generated_at"] and export["generated_by"] == "a1"
    assert set(export["services"]) == set(SERVICES)
    for name in OTHER_SERVICES:
        assert export["services"][name] == {"held_by": name, "contact_id": contact_id}
        assert exporters[name].asked == [contact_id]
    mine = export["services"]["contacts"]
    assert mine["contact"]["email"] == PERSON["email"] and mine["deleted"] is False
    versions = list(range(1, mine["contact"]["version"] + 1))  # created, changed, touched by activity...
    assert [s["record"]["version"] for s in mine["history"]] == versions
    assert [i["id"] for i in mine["interactions"]] == [person["call"]["id"]]
    assert [i["id"] for i in mine["participations"]] == [person["meeting"]["id"]]
    assert {e["kind"] for e in mine["timeline"]} >= {"contact", "interaction", "deal", "ticket"}
    json.dumps(export)  # it crosses RPC and HTTP as JSON
    latest = service(store, ADMIN).get_timeline("contact", contact_id, {"limit": 1})["data"][0]
    assert latest["summary"] == "Personal data exported by a1" and latest["occurred_at"] == export["generated_at"]


def test_an_export_fails_whole_when_a_service_does_not_answer(store: DocumentStore, person: dict) -> None:
    silent = FakeExporter("notifications", ServiceUnavailable("the notifications service did not answer within 5s"))
    with pytest.raises(ServiceUnavailable) as failed:
        service(store, ADMIN, notifications=silent).export_personal_data(person["contact"]["id"])
    assert "notifications" in failed.value.detail


def test_the_export_of_a_missing_contact_is_not_found(store: DocumentStore) -> None:
    with pytest.raises(NotFound):
        service(store, ADMIN).export_personal_data("no-such-contact")


# erasure


@pytest.mark.parametrize("caller", [MANAGER, REP, AGENT, VIEWER], ids=lambda c: c.roles[0])
def test_only_admins_may_erase_a_contact(store: DocumentStore, person: dict, caller: Caller) -> None:
    with pytest.raises(Forbidden):
        service(store, caller).erase_contact(person["contact"]["id"], {"reason": "asked by the customer"})
    assert service(store, ADMIN).get_contact(person["contact"]["id"])["email"] == PERSON["email"]


@pytest.mark.parametrize("body", [{"reason": "x" * 1001}, {"reason": 7}, {"why": "no"}, ["reason"]])
def test_an_erasure_body_other_than_a_short_reason_is_refused(store: DocumentStore, person: dict, body) -> None:
    with pytest.raises(ValidationFailed):
        service(store, ADMIN).erase_contact(person["contact"]["id"], body)


def test_erasure_removes_the_contact_and_scrubs_every_trace_in_contacts(store: DocumentStore, person: dict) -> None:
    contact_id, company_id = person["contact"]["id"], person["company"]["id"]
    before = {e["id"]: e for e in store[TIMELINE].iterate({"subject_id": contact_id})}
    version = service(store, ADMIN).get_contact(contact_id)["version"]
    assert store[MATCH_KEYS].count({"subject_id": contact_id}) > 0
    erasure = service(store, ADMIN).erase_contact(contact_id, {"reason": "GDPR art. 17 request"})

    with pytest.raises(NotFound):
        service(store, ADMIN).get_contact(contact_id)
    assert store[MATCH_KEYS].count({"subject_id": contact_id}) == 0  # nothing to find it by as a duplicate
    # Nothing that named the person is left in its history, its interactions or the timelines.
    for collection, flt in (
        (HISTORY, {"subject_id": contact_id}),
        (INTERACTIONS, {"company_id": company_id}),
        (TIMELINE, {"subject_id": contact_id}),
        (TIMELINE, {"subject_id": company_id}),
    ):
        text = json.dumps(list(store[collection].iterate(flt)), ensure_ascii=False)
        assert not [s for s in PERSONAL_STRINGS if s in text], collection
    snapshots = list(store[HISTORY].iterate({"subject_id": contact_id}, [("id", 1)]))
    assert [s["record"]["version"] for s in snapshots] == list(range(1, version + 2))
    assert snapshots[-1]["deleted_by"] == "a1"
    last = snapshots[-1]["record"]
    assert last["display_name"] == ERASED_NAME and last["first_name"] is None and last["tags"] == []
    assert last["company_id"] == company_id and last["lifecycle_stage"] == "customer" and last["owner_id"] == "u1"

    # The interactions stay with their kind, time and customer; the colleague's keeps its staff.
    call = store[INTERACTIONS].get(person["call"]["id"])
    assert call["summary"] == ERASED_TEXT and call["subject"] is None and call["outcome"] is None
    assert call["participants"] == [{"user_id": "u1"}] and call["kind"] == "call"
    meeting = store[INTERACTIONS].get(person["meeting"]["id"])
    assert meeting["participants"] == [{"user_id": "u2"}] and meeting["subject"] == "Budget review"

    # Every old entry keeps its kind, time and ref; a last one tells who erased the person and when.
    after = {e["id"]: e for e in store[TIMELINE].iterate({"subject_id": contact_id})}
    for entry_id, entry in before.items():
        kept = {k: after[entry_id][k] for k in ("kind", "occurred_at", "ref", "source")}
        assert kept == {k: entry[k] for k in ("kind", "occurred_at", "ref", "source")}
        assert after[entry_id]["summary"] == ERASED_TEXT
    (tombstone,) = [e for e in after.values() if e["id"] not in before]
    assert tombstone["summary"] == f"Personal data erased by a1 (erasure {erasure['id']})"
    company_entries = {e["ref"]["id"]: e for e in store[TIMELINE].iterate({"subject_id": company_id})}
    assert company_entries["d1"]["summary"].startswith("Deal ERP rollout")  # the company's business history

    # The erasure record: contacts done at once, every other service pending.
    assert erasure["status"] == "in_progress" and erasure["reason"] == "GDPR art. 17 request"
    assert erasure["requested_by"] == "a1" and erasure["contact_id"] == contact_id
    assert erasure["services"]["contacts"]["status"] == "done"
    assert erasure["services"]["contacts"]["detail"]["interactions"] == 1
    assert {s: erasure["services"][s]["status"] for s in OTHER_SERVICES} == dict.fromkeys(OTHER_SERVICES, "pending")
    assert store[ERASURES].get(erasure["id"]) == erasure

    # In the same transaction: the delete with the erasure's id, and the event the others scrub on.
    (deleted,) = outbox(store, "contact_deleted")
    tomb = version + 1
    assert deleted == {
        "id": contact_id,
        "version": tomb,
        "deleted_by": "a1",
        "erased": True,
        "erasure_id": erasure["id"],
    }
    erased = {"id": contact_id, "version": tomb, "erasure_id": erasure["id"], "merged_ids": []}
    assert outbox(store, "contact_erased") == [erased]
    scrubbed = [p for p in outbox(store, "interaction_updated") if p["id"] == person["call"]["id"]]
    assert scrubbed and scrubbed[-1]["summary"] == ERASED_TEXT


def test_the_erased_contact_reads_back_as_a_skeleton_through_its_history(store: DocumentStore, person: dict) -> None:
    contact_id = person["contact"]["id"]
    service(store, ADMIN).erase_contact(contact_id)
    timeline = service(store, ADMIN).get_timeline("contact", contact_id, {})
    assert timeline["data"][0]["summary"].startswith("Personal data erased by a1")
    then = service(store, ADMIN).get_timeline("contact", contact_id, {"as_of": person["call"]["created_at"]})
    assert then["profile"]["display_name"] == ERASED_NAME and then["profile"]["email"] is None


def test_after_erasure_neither_export_nor_a_second_erasure_finds_the_contact(
    store: DocumentStore, person: dict
) -> None:
    contact_id = person["contact"]["id"]
    service(store, ADMIN).erase_contact(contact_id)
    projections = service(store, SYSTEM)
    assert projections._is_erased(store, contact_id) and not projections._is_erased(store, person["colleague"]["id"])
    with pytest.raises(NotFound):
        service(store, ADMIN).export_personal_data(contact_id)
    with pytest.raises(NotFound):
        service(store, ADMIN).erase_contact(contact_id)


def test_a_deleted_contact_can_still_be_exported_and_erased(store: DocumentStore, person: dict) -> None:
    contact_id = person["contact"]["id"]
    tomb = service(store, ADMIN).get_contact(contact_id)["version"] + 1
    service(store, ADMIN).delete_contact(contact_id)
    export = service(store, ADMIN).export_personal_data(contact_id)
    assert export["services"]["contacts"]["deleted"] is True
    assert export["services"]["contacts"]["contact"]["email"] == PERSON["email"]

    erasure = service(store, ADMIN).erase_contact(contact_id)
    text = json.dumps(list(store[HISTORY].iterate({"subject_id": contact_id})), ensure_ascii=False)
    assert PERSON["email"] not in text and "伟明" not in text
    erased = {"id": contact_id, "version": tomb, "erasure_id": erasure["id"], "merged_ids": []}
    assert outbox(store, "contact_erased")[-1] == erased
    entries = service(store, ADMIN).get_timeline("contact", contact_id, {})["data"]
    assert entries[0]["summary"].startswith("Personal data erased by a1")


def test_the_erasure_completes_once_every_service_reports_it_has_scrubbed(store: DocumentStore, person: dict) -> None:
    erasure = service(store, ADMIN).erase_contact(person["contact"]["id"])
    system = service(store, SYSTEM)
    reports = {
        name: event(
            name,
            "personal_data_erased",
            {"contact_id": erasure["contact_id"], "erasure_id": erasure["id"], "service": name, "detail": {"n": 1}},
        )
        for name in OTHER_SERVICES
    }
    handlers = {name: getattr(system, f"on_{name}_personal_data_erased") for name in OTHER_SERVICES}
    for name in ("sales", "service_desk", "notifications"):
        handlers[name](reports[name])
        handlers[name](reports[name])  # a redelivery changes nothing
    halfway = service(store, ADMIN).get_erasure(erasure["id"])
    assert halfway["status"] == "in_progress" and halfway["completed_at"] is None
    assert halfway["services"]["sales"] == {"status": "done", "at": reports["sales"]["occurred_at"], "detail": {"n": 1}}
    assert not outbox(store, "erasure_completed")

    handlers["search"](reports["search"])
    done = service(store, ADMIN).get_erasure(erasure["id"])
    assert done["status"] == "completed"
    assert done["completed_at"] == max(s["at"] for s in done["services"].values())
    assert [p["id"] for p in outbox(store, "erasure_completed")] == [erasure["id"]]
    # A second report from the same service (a new event) neither reopens nor re-announces it.
    handlers["search"](event("search", "personal_data_erased", reports["search"]["payload"]))
    assert service(store, ADMIN).get_erasure(erasure["id"]) == done
    assert len(outbox(store, "erasure_completed")) == 1


def test_a_report_about_an_unknown_erasure_is_ignored(store: DocumentStore) -> None:
    payload = {"contact_id": "c", "erasure_id": "nope", "service": "sales", "detail": {}}
    service(store, SYSTEM).on_sales_personal_data_erased(event("sales", "personal_data_erased", payload))
    assert store[ERASURES].count() == 0


def test_erasure_records_are_for_admins_and_filter_by_contact(store: DocumentStore, person: dict) -> None:
    first = service(store, ADMIN).erase_contact(person["contact"]["id"])
    second = service(store, ADMIN).erase_contact(person["colleague"]["id"])
    listed = service(store, ADMIN).list_erasures({})["data"]
    assert [e["id"] for e in listed] == [second["id"], first["id"]]  # newest first
    only = service(store, ADMIN).list_erasures({"where": {"contact_id": person["contact"]["id"]}})["data"]
    assert [e["id"] for e in only] == [first["id"]]
    pending = service(store, ADMIN).list_erasures({"where": {"status": "completed"}})["data"]
    assert pending == []
    with pytest.raises(NotFound):
        service(store, ADMIN).get_erasure("nope")
    for caller in (MANAGER, REP):
        with pytest.raises(Forbidden):
            service(store, caller).list_erasures({})
        with pytest.raises(Forbidden):
            service(store, caller).get_erasure(first["id"])


# merged duplicates: the same person under other ids

DUPLICATE_STRINGS = ("Patricia", "patty.doe@example.org", "555 0199", "5550199", "Trish")


@pytest.fixture
def merged_person(store: DocumentStore) -> dict:
    """Patricia Doe entered three times: C merged into B, then B into A. B's own call stays under
    A after the merge, and a colleague's meeting names B by id."""
    admin = service(store, ADMIN)
    company = admin.create_company({"name": "Doe Holdings", "owner_id": "u1"})
    base = {"last_name": "Doe", "company_id": company["id"], "owner_id": "u1"}
    a = admin.create_contact({**base, "first_name": "Pat", "email": "pat@example.org"})
    b = admin.create_contact(
        {**base, "first_name": "Patricia", "email": "patty.doe@example.org", "phone": "+1 555 0199"},
        allow_duplicate=True,
    )
    c = admin.create_contact({**base, "first_name": "Trish", "email": "patty.doe@example.org"}, allow_duplicate=True)
    call = admin.create_interaction({"kind": "call", "contact_id": b["id"], "subject": "Patricia asked for a quote"})
    colleague = admin.create_contact({"first_name": "Li", "last_name": "Na", "company_id": company["id"]})
    meeting = admin.create_interaction(
        {
            "kind": "meeting",
            "contact_id": colleague["id"],
            "subject": "Budget review",
            "participants": [{"contact_id": b["id"]}, {"phone": "+1 555-0199"}, {"user_id": "u2"}],
        }
    )
    admin.merge_records("contact", b["id"], [c["id"]])
    admin.merge_records("contact", a["id"], [b["id"]])
    return {"company": company, "a": a, "b": b, "c": c, "call": call, "meeting": meeting}


def test_export_of_a_survivor_holds_what_every_contact_merged_into_it_left(
    store: DocumentStore, merged_person: dict
) -> None:
    a, b, c = (merged_person[k]["id"] for k in ("a", "b", "c"))
    exporters = {name: FakeExporter(name) for name in OTHER_SERVICES}
    export = service(store, ADMIN, **exporters).export_personal_data(a)

    assert [m["id"] for m in export["merged"]] == [c, b]  # in merge order, transitively
    assert [m["merged_into"] for m in export["merged"]] == [b, a]
    for merged in export["merged"]:
        mine = merged["services"]["contacts"]
        assert mine["history"][0]["record"]["id"] == merged["id"] and mine["history"][-1]["deleted_by"] == "a1"
        assert mine["timeline"]
        for name in OTHER_SERVICES:  # the others are asked about every id of the person
            assert merged["services"][name] == {"held_by": name, "contact_id": merged["id"]}
    b_history = next(m for m in export["merged"] if m["id"] == b)["services"]["contacts"]["history"]
    assert b_history[0]["record"]["first_name"] == "Patricia"
    for name in OTHER_SERVICES:
        assert sorted(exporters[name].asked) == sorted([a, b, c])
    contacts = export["services"]["contacts"]
    assert [i["id"] for i in contacts["interactions"]] == [merged_person["call"]["id"]]  # moved by the merge
    assert [i["id"] for i in contacts["participations"]] == [merged_person["meeting"]["id"]]  # names B


def test_erasing_a_survivor_erases_every_contact_merged_into_it(store: DocumentStore, merged_person: dict) -> None:
    a, b, c = (merged_person[k]["id"] for k in ("a", "b", "c"))
    erasure = service(store, ADMIN).erase_contact(a)

    assert erasure["merged_ids"] == [c, b] and erasure["services"]["contacts"]["detail"]["merged_contacts"] == 2
    (erased,) = outbox(store, "contact_erased")
    assert erased["id"] == a and erased["merged_ids"] == [c, b]
    for contact_id in (a, b, c):
        for collection in (HISTORY, TIMELINE):
            text = json.dumps(list(store[collection].iterate({"subject_id": contact_id})), ensure_ascii=False)
            assert not [s for s in DUPLICATE_STRINGS if s in text], (collection, contact_id)
    company_timeline = json.dumps(list(store[TIMELINE].iterate({"subject_id": merged_person["company"]["id"]})))
    assert not [s for s in DUPLICATE_STRINGS if s in company_timeline]
    assert store[INTERACTIONS].get(merged_person["call"]["id"])["subject"] is None
    assert store[INTERACTIONS].get(merged_person["meeting"]["id"])["participants"] == [{"user_id": "u2"}]

    # What a rep who owned the duplicate can still read of it: the skeleton, nobody in it.
    then = service(store, REP).get_contact(b, as_of=merged_person["b"]["created_at"])
    assert then["display_name"] == ERASED_NAME and then["email"] is None and then["phone"] is None
    assert then["first_name"] is None and then["company_id"] == merged_person["company"]["id"]
    entries = service(store, REP).get_timeline("contact", b, {})["data"]
    assert entries and {e["summary"] for e in entries} == {ERASED_TEXT}
    # Nothing left to export or erase under any of its ids.
    for contact_id in (a, b, c):
        for call in (service(store, ADMIN).export_personal_data, service(store, ADMIN).erase_contact):
            with pytest.raises(NotFound):
                call(contact_id)


@pytest.mark.parametrize("which", ["b", "c"])
def test_a_contact_merged_away_is_refused_naming_its_survivor(
    store: DocumentStore, merged_person: dict, which: str
) -> None:
    merged_id, survivor = merged_person[which]["id"], merged_person["a"]["id"]
    for call in (service(store, ADMIN).export_personal_data, service(store, ADMIN).erase_contact):
        with pytest.raises(Conflict) as refused:
            call(merged_id)
        assert survivor in refused.value.detail
        assert refused.value.matches == [{"id": survivor, "subject_type": "contact", "reason": "merged_into"}]
    assert store[ERASURES].count() == 0
    assert service(store, ADMIN).get_contact(survivor)["email"] == "pat@example.org"
