"""The customer pool on a real SQLite store, no broker: claims within their limits, release,
assignment, the reclaim run (notice first, then reclaim, or clear) and the bulk hand-over."""

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from contacts import interactions, ownership, pool
from contacts.service import ContactsService
from contacts.store import CONTACTS, HISTORY, RECLAIM_NOTICES, SPECS, TIMELINE
from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import utc_now
from crm_common.store import OUTBOX, DocumentStore, open_store

# Sales team t-sales: manager m1, reps u1 and u2, viewer v1. Sales team t-east: rep u3 and its
# manager m2. Service team t-help: support agent s1.
ADMIN = Caller("a1", ("admin",))
MANAGER = Caller(
    "m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2", "v1")
)
EAST_MANAGER = Caller("m2", ("manager",), ("t-east",), managed_team_ids=("t-east",), managed_user_ids=("m2", "u3"))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
TEAMMATE = Caller("u2", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
EAST_REP = Caller("u3", ("sales_rep",), ("t-east",), teammate_ids=("m2", "u3"))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
SYSTEM = Caller("system", ("system",))


class Clock:
    """The pool's clock: real time moved ahead by the tests (everything else keeps real time).
    It stands still between calls to `advance`, so a test can compare what was stamped."""

    def __init__(self) -> None:
        self.offset = timedelta()
        self.frozen: str | None = None

    def __call__(self) -> str:
        return self.frozen or pool.format_time(pool.parse_time(utc_now()) + self.offset)

    def advance(self, days: float) -> str:
        self.offset += timedelta(days=days)
        self.frozen = None
        self.frozen = self()
        return self.frozen


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moved = Clock()
    moved.advance(0)
    monkeypatch.setattr(ownership, "now", moved)
    monkeypatch.setattr(interactions, "now", moved)  # an interaction logged "now" may be days ahead
    return moved


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/contacts.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller) -> ContactsService:
    return worker_factory(ContactsService, store=store, caller=caller)


def new_contact(store: DocumentStore, name: str, owner: str | None, **fields) -> dict:
    return service(store, ADMIN).create_contact({"first_name": name, "owner_id": owner, **fields})


def events(store: DocumentStore, event_type: str) -> list[dict]:
    rows = store[OUTBOX].find({"event.event_type": event_type}, [("id", 1)], 1000).items
    return [row["event"]["payload"] for row in rows]


def timeline(store: DocumentStore, contact_id: str) -> list[str]:
    entries = store[TIMELINE].find({"subject_id": contact_id}, [("occurred_at", 1)], 200).items
    return [entry["summary"] for entry in entries]


def settle(store: DocumentStore, **settings) -> None:
    service(store, ADMIN).update_pool_settings(settings)


# the pool and claims


def test_the_pool_lists_ownerless_customers_in_reach_newest_arrivals_first(store, clock):
    first = new_contact(store, "First", None)
    owned = new_contact(store, "Owned", "u1")
    second = new_contact(store, "Second", None)
    clock.advance(0)  # now, after the creations
    service(store, MANAGER).release_contact(owned["id"], "not a fit")
    for caller in (REP, EAST_REP, MANAGER, VIEWER, ADMIN):
        listed = service(store, caller).list_pool({})["data"]
        assert [c["id"] for c in listed] == [owned["id"], second["id"], first["id"]], caller.user_id
    assert service(store, AGENT).list_pool({})["data"] == []  # agents see only customers of their tickets
    page = service(store, REP).list_pool({"filter": {"pool.previous_owner_id": "u1"}})["data"]
    assert [c["id"] for c in page] == [owned["id"]]
    assert page[0]["pool"]["reason"] == "not a fit"


def test_a_rep_claims_a_pool_customer_and_its_history_says_who_and_why(store, clock):
    contact = new_contact(store, "Li", None)
    claimed = service(store, REP).claim_contact(contact["id"])
    assert claimed["owner_id"] == "u1" and claimed["pool"] is None
    step = claimed["owner_history"][-1]
    assert step == {
        "owner_id": "u1",
        "from_owner_id": None,
        "at": clock(),
        "by": "u1",
        "reason": "claimed from the pool",
    }
    assert "Claimed from the pool by u1" in timeline(store, contact["id"])
    assert [e["id"] for e in events(store, "contact_claimed")] == [contact["id"]]
    assert events(store, "contact_updated")[-1]["changes"] == ["owner_id"]


def test_a_claim_needs_a_pool_customer_in_reach_and_a_role_that_claims(store, clock):
    mine = new_contact(store, "Mine", "u1")
    east = new_contact(store, "East", "u3")
    pooled = new_contact(store, "Pooled", None)
    with pytest.raises(Conflict, match="already yours"):
        service(store, REP).claim_contact(mine["id"])
    with pytest.raises(NotFound):
        service(store, REP).claim_contact(east["id"])
    with pytest.raises(NotFound):
        service(store, REP).claim_contact("no-such-contact")
    for caller in (VIEWER, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).claim_contact(pooled["id"])
    service(store, REP).claim_contact(pooled["id"])
    with pytest.raises(NotFound):
        service(store, TEAMMATE).claim_contact(pooled["id"])  # gone from the pool, and not theirs to see
    with pytest.raises(Conflict, match="not in the pool"):
        service(store, MANAGER).claim_contact(pooled["id"])


def test_claims_stop_at_the_daily_cap_with_a_conflict_naming_it_and_resume_the_next_day(store, clock):
    settle(store, max_claims_per_day=2)
    pooled = [new_contact(store, f"P{i}", None) for i in range(4)]
    rep = service(store, REP)
    rep.claim_contact(pooled[0]["id"])
    rep.claim_contact(pooled[1]["id"])
    with pytest.raises(Conflict) as capped:
        rep.claim_contact(pooled[2]["id"])
    assert "max_claims_per_day is 2" in capped.value.detail
    assert service(store, TEAMMATE).claim_contact(pooled[2]["id"])["owner_id"] == "u2"  # the cap is per person
    clock.advance(1)
    assert rep.claim_contact(pooled[3]["id"])["owner_id"] == "u1"


def test_claims_stop_when_the_rep_owns_the_maximum(store, clock):
    settle(store, max_owned_per_rep=2, max_claims_per_day=None)
    new_contact(store, "Own", "u1")
    pooled = [new_contact(store, f"P{i}", None) for i in range(2)]
    service(store, REP).claim_contact(pooled[0]["id"])
    with pytest.raises(Conflict, match="max_owned_per_rep is 2"):
        service(store, REP).claim_contact(pooled[1]["id"])
    # Assignments by a manager are not claims: the cap bounds what reps take.
    assert service(store, MANAGER).assign_contact(pooled[1]["id"], "u1")["owner_id"] == "u1"


def test_a_customer_taken_back_cannot_be_claimed_back_before_the_cooldown(store, clock):
    settle(store, reclaim_cooldown_days=3)
    taken = new_contact(store, "Taken", "u1")
    released = new_contact(store, "Released", "u1")
    service(store, MANAGER).release_contact(taken["id"], "no follow-up")
    service(store, REP).release_contact(released["id"])
    with pytest.raises(Conflict, match="reclaim_cooldown_days is 3"):
        service(store, REP).claim_contact(taken["id"])
    assert service(store, REP).claim_contact(released["id"])["owner_id"] == "u1"  # released by themselves
    assert service(store, TEAMMATE).claim_contact(taken["id"])["owner_id"] == "u2"  # others are not held back
    service(store, TEAMMATE).release_contact(taken["id"])
    clock.advance(3.01)
    assert service(store, REP).claim_contact(taken["id"])["owner_id"] == "u1"


def test_claim_limits_are_admin_settings_everyone_in_sales_may_read(store, clock):
    assert service(store, REP).get_pool_settings()["max_claims_per_day"] == 20
    with pytest.raises(Forbidden):
        service(store, MANAGER).update_pool_settings({"max_claims_per_day": 50})
    with pytest.raises(Forbidden):
        service(store, AGENT).get_pool_settings()
    saved = service(store, ADMIN).update_pool_settings({"max_claims_per_day": 50}, expected_version=0)
    assert saved["version"] == 1 and saved["updated_by"] == "a1" and saved["max_claims_per_day"] == 50
    with pytest.raises(PreconditionFailed):
        service(store, ADMIN).update_pool_settings({"max_owned_per_rep": 10}, expected_version=0)
    with pytest.raises(ValidationFailed):
        service(store, ADMIN).update_pool_settings({"max_claims_per_day": -5})
    assert service(store, VIEWER).get_pool_settings()["max_claims_per_day"] == 50


# release and assign


def test_the_owner_or_their_manager_releases_a_customer_with_a_reason(store, clock):
    own = new_contact(store, "Own", "u1", shared_with=["u2"])
    released = service(store, REP).release_contact(own["id"], "moved abroad")
    assert released["owner_id"] is None
    assert released["pool"] == {"entered_at": clock(), "reason": "moved abroad", "previous_owner_id": "u1"}
    assert released["owner_history"][-1]["reason"] == "moved abroad"
    assert "Released to the pool by u1: moved abroad" in timeline(store, own["id"])
    assert events(store, "contact_released")[0]["from_owner_id"] == "u1"
    with pytest.raises(Conflict, match="already in the pool"):
        service(store, REP).release_contact(own["id"])

    shared = new_contact(store, "Shared", "u1", shared_with=["u2"])
    with pytest.raises(Forbidden):
        service(store, TEAMMATE).release_contact(shared["id"])  # shared with them, not theirs
    with pytest.raises(NotFound):
        service(store, EAST_MANAGER).release_contact(shared["id"])
    assert service(store, MANAGER).release_contact(shared["id"])["owner_id"] is None
    with pytest.raises(ValidationFailed):
        service(store, ADMIN).release_contact(own["id"], "x" * 501)


def test_managers_assign_within_their_teams_and_admins_to_anyone(store, clock):
    pooled = new_contact(store, "Pooled", None)
    teammate = new_contact(store, "Teammate", "u2")
    east = new_contact(store, "East", "u3")
    manager = service(store, MANAGER)
    assigned = manager.assign_contact(pooled["id"], "u1", "knows the industry")
    assert assigned["owner_history"][-1] == {
        "owner_id": "u1",
        "from_owner_id": None,
        "at": clock(),
        "by": "m1",
        "reason": "knows the industry",
    }
    assert events(store, "contact_assigned")[0]["reason"] == "knows the industry"
    assert manager.assign_contact(teammate["id"], "u1")["owner_id"] == "u1"
    with pytest.raises(Forbidden):
        manager.assign_contact(teammate["id"], "u3")  # outside the teams they manage
    with pytest.raises(NotFound):
        manager.assign_contact(east["id"], "u1")
    for caller in (REP, VIEWER, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).assign_contact(pooled["id"], caller.user_id)
    with pytest.raises(ValidationFailed):
        manager.assign_contact(pooled["id"], "")
    assert service(store, ADMIN).assign_contact(east["id"], "u1")["owner_id"] == "u1"
    unchanged = service(store, ADMIN).assign_contact(east["id"], "u1")
    assert len(unchanged["owner_history"]) == 1  # the same owner again is no change


# reclaim rules


def test_reclaim_rules_are_set_by_admins_and_read_by_sales(store, clock):
    data = {"name": "Idle 30", "conditions": {"no_activity_days": 30}, "notice_days": 3}
    with pytest.raises(Forbidden):
        service(store, MANAGER).create_reclaim_rule(data)
    rule = service(store, ADMIN).create_reclaim_rule(data)
    assert rule["active"] is True and rule["version"] == 1
    assert [r["id"] for r in service(store, REP).list_reclaim_rules({})["data"]] == [rule["id"]]
    assert service(store, MANAGER).get_reclaim_rule(rule["id"])["name"] == "Idle 30"
    with pytest.raises(Forbidden):
        service(store, AGENT).list_reclaim_rules({})
    with pytest.raises(ValidationFailed):
        service(store, ADMIN).update_reclaim_rule(rule["id"], {"conditions": {"grade_below": "Z"}})
    changed = service(store, ADMIN).update_reclaim_rule(rule["id"], {"active": False}, expected_version=1)
    assert changed["active"] is False and changed["version"] == 2
    with pytest.raises(PreconditionFailed):
        service(store, ADMIN).delete_reclaim_rule(rule["id"], expected_version=1)
    listed = service(store, ADMIN).list_reclaim_rules({"where": {"active": "false"}})["data"]
    assert [r["id"] for r in listed] == [rule["id"]]
    service(store, ADMIN).delete_reclaim_rule(rule["id"], expected_version=2)
    with pytest.raises(NotFound):
        service(store, ADMIN).get_reclaim_rule(rule["id"])


@pytest.fixture
def idle_rule(store) -> dict:
    return service(store, ADMIN).create_reclaim_rule(
        {"name": "Idle 30", "conditions": {"no_activity_days": 30}, "notice_days": 3}
    )


def test_a_reclaim_run_warns_the_owner_first_then_reclaims_after_the_notice(store, clock, idle_rule):
    idle = new_contact(store, "Idle", "u1")
    busy = new_contact(store, "Busy", "u2")
    new_contact(store, "Pooled", None)
    admin = service(store, ADMIN)
    assert admin.run_reclaim() == {"warned": 0, "reclaimed": 0, "cleared": 0, "complete": True}

    warned_at = clock.advance(31)
    assert admin.run_reclaim() == {"warned": 2, "reclaimed": 0, "cleared": 0, "complete": True}
    notice = store[RECLAIM_NOTICES].get(idle["id"])
    assert notice["owner_id"] == "u1" and notice["reclaim_at"] == pool.days_after(warned_at, 3)
    [warned] = [e for e in events(store, "pool_reclaim_warned") if e["contact_id"] == idle["id"]]
    assert warned == {
        "id": idle["id"],
        "contact_id": idle["id"],
        "owner_id": "u1",
        "display_name": "Idle",
        "rule_id": idle_rule["id"],
        "rule_name": "Idle 30",
        "warned_at": warned_at,
        "reclaim_at": notice["reclaim_at"],
        "reason": "reclaim rule 'Idle 30': no interaction for 30 days",
    }
    assert any(s.startswith("Reclaim notice to u1: back to the pool on") for s in timeline(store, idle["id"]))
    assert store[CONTACTS].get(idle["id"])["owner_id"] == "u1"  # a notice, not yet a reclaim

    clock.advance(1)
    assert admin.run_reclaim()["warned"] == 0  # one notice per customer: no second warning
    service(store, TEAMMATE).create_interaction({"kind": "call", "contact_id": busy["id"], "occurred_at": clock()})

    clock.advance(2.01)
    assert admin.run_reclaim() == {"warned": 0, "reclaimed": 1, "cleared": 1, "complete": True}
    reclaimed = store[CONTACTS].get(idle["id"])
    reason = "reclaim rule 'Idle 30': no interaction for 30 days"
    assert reclaimed["owner_id"] is None
    assert reclaimed["pool"] == {"entered_at": clock(), "reason": reason, "previous_owner_id": "u1"}
    assert reclaimed["owner_history"][-1] == {
        "owner_id": None,
        "from_owner_id": "u1",
        "at": clock(),
        "by": "a1",
        "reason": reason,
    }
    assert f"Returned to the pool from u1: {reason}" in timeline(store, idle["id"])
    [event] = events(store, "contact_reclaimed")
    assert event["id"] == idle["id"] and event["from_owner_id"] == "u1" and event["reason"] == reason
    # The busy customer had an interaction after the notice: it stays, the notice is withdrawn.
    assert store[CONTACTS].get(busy["id"])["owner_id"] == "u2"
    assert store[RECLAIM_NOTICES].get(busy["id"]) is None
    assert "Reclaim notice withdrawn: it no longer matches" in timeline(store, busy["id"])
    # The customer's whole history stays with it: every version, every entry.
    assert store[HISTORY].count({"subject_id": idle["id"]}) == reclaimed["version"]
    assert timeline(store, idle["id"])[0] == "Contact Idle created"


def test_the_timer_runs_the_same_reclaim_as_the_system(store, clock, idle_rule):
    idle = new_contact(store, "Idle", "u1")
    clock.advance(31)
    service(store, SYSTEM).reclaim_on_schedule()
    clock.advance(3.01)
    service(store, SYSTEM).reclaim_on_schedule()
    reclaimed = store[CONTACTS].get(idle["id"])
    assert reclaimed["owner_id"] is None and reclaimed["owner_history"][-1]["by"] == "system"


def test_only_admins_run_the_reclaim_rules_by_hand(store, clock):
    for caller in (MANAGER, REP, VIEWER, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).run_reclaim()


def test_deal_grade_and_stage_conditions_select_what_is_reclaimed(store, clock):
    service(store, ADMIN).create_reclaim_rule(
        {
            "name": "Low value leads",
            "conditions": {"no_open_deal": True, "grade_below": "B", "lifecycle_stages": ["lead"]},
            "notice_days": 0,
        }
    )
    low = new_contact(store, "Low", "u1")
    top = new_contact(store, "Top", "u1")
    dealing = new_contact(store, "Dealing", "u1")
    customer = new_contact(store, "Customer", "u1", lifecycle_stage="customer")
    system = service(store, SYSTEM)
    for contact, grade in ((low, "C"), (top, "A"), (dealing, "D"), (customer, "D")):
        body = new_event(
            "customer_graded",
            "sales",
            {"id": contact["id"], "subject_type": "contact", "value_grade": grade},
            actor="system",
        )
        system.on_customer_graded(body.as_dict())
    deal = {"id": "d1", "version": 1, "title": "T", "amount": "1.00", "currency": "CNY", "status": "open"}
    deal.update(contact_id=dealing["id"], owner_id="u1", shared_with=[])
    system.on_deal_created(new_event("deal_created", "sales", deal, actor="u1").as_dict())
    assert store[CONTACTS].get(dealing["id"])["open_deal_count"] == 1
    admin = service(store, ADMIN)
    assert admin.run_reclaim()["warned"] == 1
    assert admin.run_reclaim()["reclaimed"] == 1
    assert [c["owner_id"] for c in (store[CONTACTS].get(x["id"]) for x in (low, top, dealing, customer))] == [
        None,
        "u1",
        "u1",
        "u1",
    ]


def test_a_customer_that_changes_hands_after_a_notice_is_warned_afresh_to_its_new_owner(store, clock, idle_rule):
    idle = new_contact(store, "Idle", "u1")
    clock.advance(31)
    admin = service(store, ADMIN)
    admin.run_reclaim()
    # A PATCH of the owner withdraws the notice at once, like an assignment through the pool.
    admin.update_contact(idle["id"], {"owner_id": "u2"})
    assert store[RECLAIM_NOTICES].get(idle["id"]) is None
    assert events(store, "contact_assigned")[-1]["from_owner_id"] == "u1"
    clock.advance(3.01)
    assert admin.run_reclaim() == {"warned": 1, "reclaimed": 0, "cleared": 0, "complete": True}
    assert store[RECLAIM_NOTICES].get(idle["id"])["owner_id"] == "u2"
    assert store[CONTACTS].get(idle["id"])["owner_id"] == "u2"
    # An assignment through the pool withdraws the notice at once.
    service(store, MANAGER).assign_contact(idle["id"], "u1")
    assert store[RECLAIM_NOTICES].get(idle["id"]) is None


def test_two_runs_at_once_never_warn_or_reclaim_twice(store, clock, idle_rule):
    contacts = [new_contact(store, f"C{i}", "u1" if i % 2 else "u2") for i in range(30)]
    clock.advance(31)

    def together() -> list[dict]:
        results: list[dict] = []
        barrier = threading.Barrier(2)

        def run() -> None:
            barrier.wait()
            results.append(service(store, SYSTEM)._reclaim(None))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    warned = together()
    assert sum(r["warned"] for r in warned) == 30
    assert len(events(store, "pool_reclaim_warned")) == 30
    assert store[TIMELINE].count({"summary": {"$contains": "Reclaim notice to"}}) == 30
    clock.advance(3.01)
    reclaimed = together()
    assert sum(r["reclaimed"] for r in reclaimed) == 30
    assert sum(r["warned"] for r in reclaimed) == 0
    assert sorted(e["id"] for e in events(store, "contact_reclaimed")) == sorted(c["id"] for c in contacts)
    for contact in contacts:
        history = store[CONTACTS].get(contact["id"])["owner_history"]
        assert [step["owner_id"] for step in history] == [None]


def test_a_stale_run_cannot_act_on_a_notice_another_run_already_took(store, clock, idle_rule):
    idle = new_contact(store, "Idle", "u1")
    clock.advance(31)
    first, second = service(store, SYSTEM), service(store, SYSTEM)
    assert first._warn(idle["id"], idle_rule, clock()) is True
    assert second._warn(idle["id"], idle_rule, clock()) is False
    clock.advance(3.01)
    rules = {idle_rule["id"]: idle_rule}
    assert first._act_on_notice(idle["id"], rules, clock()) is True
    assert second._act_on_notice(idle["id"], rules, clock()) is False
    assert len(events(store, "contact_reclaimed")) == 1


def test_an_admin_run_stops_after_its_action_budget(store, clock, idle_rule, monkeypatch):
    for i in range(5):
        new_contact(store, f"C{i}", "u1")
    clock.advance(31)
    monkeypatch.setattr(ownership, "RECLAIM_RUN_MAX_ACTIONS", 3)
    assert service(store, ADMIN).run_reclaim() == {"warned": 3, "reclaimed": 0, "cleared": 0, "complete": False}
    assert service(store, ADMIN).run_reclaim() == {"warned": 2, "reclaimed": 0, "cleared": 0, "complete": True}


# bulk hand-over


def test_a_hand_over_spreads_a_reps_customers_and_keeps_their_history(store, clock):
    contacts = [new_contact(store, f"C{i}", "u1") for i in range(5)]
    companies = [service(store, ADMIN).create_company({"name": f"Co {i}", "owner_id": "u1"}) for i in range(2)]
    service(store, REP).create_interaction({"kind": "call", "contact_id": contacts[0]["id"], "summary": "hello"})
    kept = new_contact(store, "Someone else's", "u2")
    clock.advance(0)  # now, after the set-up
    job = service(store, MANAGER).hand_over("u1", ["u2", "m1"], "u1 left the company")
    assert job["status"] == "done" and job["moved_contacts"] == 5 and job["moved_companies"] == 2
    assert job["total_contacts"] == 5 and job["moved_by_owner"] == {"u2": 4, "m1": 3}
    owners = [store[CONTACTS].get(c["id"])["owner_id"] for c in contacts]
    assert owners == ["u2", "m1", "u2", "m1", "u2"]
    assert [store["companies"].get(c["id"])["owner_id"] for c in companies] == ["m1", "u2"]
    first = store[CONTACTS].get(contacts[0]["id"])
    assert first["owner_history"] == [
        {"owner_id": "u2", "from_owner_id": "u1", "at": clock(), "by": "m1", "reason": "u1 left the company"}
    ]
    summaries = timeline(store, contacts[0]["id"])
    assert summaries[0] == "Contact C0 created" and any(s.startswith("Call") for s in summaries)
    assert "Handed over from u1 to u2 by m1: u1 left the company" in summaries
    assert store[HISTORY].count({"subject_id": contacts[0]["id"]}) == first["version"]  # every version kept
    assert service(store, TEAMMATE).list_interactions({})["data"][0]["contact_id"] == contacts[0]["id"]
    assert store[CONTACTS].get(kept["id"])["owner_history"] == []
    assigned = events(store, "contact_assigned")
    assert len(assigned) == 5 and {e["hand_over_id"] for e in assigned} == {job["id"]}
    [finished] = events(store, "customers_handed_over")
    assert finished["moved_by_owner"] == {"u2": 4, "m1": 3} and finished["requested_by"] == "m1"
    assert service(store, MANAGER).get_hand_over(job["id"])["status"] == "done"


def test_a_hand_over_can_leave_the_companies(store, clock):
    new_contact(store, "C", "u1")
    company = service(store, ADMIN).create_company({"name": "Co", "owner_id": "u1"})
    job = service(store, ADMIN).hand_over("u1", ["u3"], include_companies=False)
    assert job["moved_contacts"] == 1 and job["moved_companies"] == 0
    assert store["companies"].get(company["id"])["owner_id"] == "u1"


def test_only_managers_within_their_teams_and_admins_hand_over(store, clock):
    new_contact(store, "C", "u1")
    for caller in (REP, VIEWER, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).hand_over("u1", ["u2"])
    manager = service(store, MANAGER)
    with pytest.raises(Forbidden):
        manager.hand_over("u1", ["u3"])  # u3 is not theirs to give to
    with pytest.raises(Forbidden):
        manager.hand_over("u3", ["u2"])  # nor u3's customers theirs to take
    for to in ([], ["u1"], ["u2", "u2"], "u2", [""]):
        with pytest.raises(ValidationFailed):
            manager.hand_over("u1", to)
    with pytest.raises(ValidationFailed):
        manager.hand_over("u1", ["u2"], include_companies="yes")
    job = manager.hand_over("u1", ["u2"])
    with pytest.raises(NotFound):
        service(store, EAST_MANAGER).get_hand_over(job["id"])
    with pytest.raises(Forbidden):
        service(store, REP).get_hand_over(job["id"])
    assert service(store, ADMIN).get_hand_over(job["id"])["status"] == "done"


def test_a_large_hand_over_continues_on_the_timer_in_chunks_and_never_moves_a_record_twice(store, clock, monkeypatch):
    monkeypatch.setattr(ownership, "HAND_OVER_CHUNK", 40)
    monkeypatch.setattr(ownership, "HAND_OVER_SYNC_SECONDS", 0.0)
    contacts = [new_contact(store, f"C{i}", "u1") for i in range(250)]
    job = service(store, ADMIN).hand_over("u1", ["u2", "u3", "m1"], "left")
    assert job["status"] == "running" and job["moved_contacts"] == 0 and job["total_contacts"] == 250
    with pytest.raises(Conflict, match="already running"):
        service(store, ADMIN).hand_over("u1", ["u2"])
    # Two instances' timers at once: the job's version check lets one chunk through at a time.
    threads = [threading.Thread(target=service(store, SYSTEM).continue_hand_overs) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = service(store, ADMIN).get_hand_over(job["id"])
    assert done["status"] == "done" and done["moved_contacts"] == 250
    assert sorted(done["moved_by_owner"].values()) == [83, 83, 84]
    for contact in contacts:
        history = store[CONTACTS].get(contact["id"])["owner_history"]
        assert len(history) == 1 and history[0]["from_owner_id"] == "u1" and history[0]["by"] == "a1"
    assert len(events(store, "contact_assigned")) == 250
    assert len(events(store, "customers_handed_over")) == 1


def test_a_hand_over_that_keeps_failing_is_parked_as_failed_with_its_error(store, clock, monkeypatch):
    new_contact(store, "C", "u1")

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ContactsService, "_store_change", broken)
    job = service(store, ADMIN).hand_over("u1", ["u2"])
    assert job["status"] == "running" and job["failures"] == 1 and job["last_error"] == "RuntimeError"
    for _ in range(ownership.HAND_OVER_MAX_FAILURES):
        service(store, SYSTEM).continue_hand_overs()
    failed = service(store, ADMIN).get_hand_over(job["id"])
    assert failed["status"] == "failed" and failed["finished_at"] is not None
    assert store[CONTACTS].find({"owner_id": "u1"}).items  # nothing half-moved: each chunk is all or nothing
