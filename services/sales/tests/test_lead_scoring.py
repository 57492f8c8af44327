"""Lead scoring: rules on profile fit and engagement, caps, windows that decay with the clock, the
breakdown, stages moved only forward, and who may change the rules; pure rules first, then the
service on a real SQLite store, no broker."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales import lead_scoring, valuation
from sales.service import SalesService
from sales.store import LEAD_SCORES, SPECS

ADMIN = Caller("a1", ("admin",))
REP = Caller("u1", ("sales_rep",), ("t1",), teammate_ids=("u1", "u2"))
OTHER_REP = Caller("u2", ("sales_rep",), ("t1",), teammate_ids=("u1", "u2"))
AGENT = Caller("s1", ("support_agent",), ("t-help",))
SYSTEM = Caller("system", ("system",))
THRESHOLDS = {"marketing_qualified": 40, "sales_qualified": 70}
NOW = "2026-03-01T12:00:00.000000Z"


def rule(rule_id: str, category: str, points: int, condition: dict, cap: int | None = None) -> dict:
    return {
        "id": rule_id,
        "name": rule_id,
        "category": category,
        "active": True,
        "points": points,
        "max_points": cap,
        "condition": condition,
    }


def interaction(kind: str, occurred_at: str, direction: str | None = "outbound") -> dict:
    return {"contact_id": "c1", "kind": kind, "direction": direction, "occurred_at": occurred_at}


# the rules, pure


@pytest.mark.parametrize(
    ("condition", "profile", "expected"),
    [
        ({"field": "title", "op": "contains", "value": "director"}, {"title": "Sales Director"}, True),
        ({"field": "title", "op": "contains", "value": ["vp", "总监"]}, {"title": "销售总监"}, True),
        ({"field": "title", "op": "contains", "value": "director"}, {"title": None}, False),
        ({"field": "source_channel", "op": "eq", "value": "referral"}, {"source_channel": "referral"}, True),
        ({"field": "source_channel", "op": "ne", "value": "referral"}, {"source_channel": "web"}, True),
        ({"field": "source_channel", "op": "in", "value": ["event", "partner"]}, {"source_channel": "web"}, False),
        ({"field": "tags", "op": "eq", "value": "VIP"}, {"tags": ["vip", "east"]}, True),
        ({"field": "tags", "op": "ne", "value": "vip"}, {"tags": ["vip"]}, False),
        ({"field": "phone", "op": "exists"}, {"phone": "+8613900000000"}, True),
        ({"field": "phone", "op": "exists", "value": False}, {"phone": ""}, True),
        ({"field": "custom_fields.budget", "op": "in", "value": ["high"]}, {"custom_fields": {"budget": "high"}}, True),
        ({"field": "custom_fields.budget", "op": "exists"}, {"custom_fields": {}}, False),
    ],
)
def test_profile_conditions_test_the_contacts_fields(condition: dict, profile: dict, expected: bool) -> None:
    assert lead_scoring.profile_matches(condition, profile) is expected


def test_engagement_points_count_each_matching_interaction_up_to_the_cap() -> None:
    replies = rule(
        "replies", "engagement", 10, {"interaction_kind": "email", "direction": "inbound", "within_days": 30}, cap=25
    )
    calls = rule("calls", "engagement", 5, {"interaction_kind": ["call", "meeting"], "within_days": 30})
    interactions = [
        interaction("email", "2026-02-27T09:00:00Z", "inbound"),
        interaction("email", "2026-02-26T09:00:00Z", "inbound"),
        interaction("email", "2026-02-25T09:00:00Z", "inbound"),
        interaction("email", "2026-02-25T10:00:00Z", "outbound"),  # sent, not a reply
        interaction("call", "2026-02-20T09:00:00Z"),
        interaction("meeting", "2026-02-21T09:00:00Z"),
        interaction("note", "2026-02-21T09:00:00Z", None),
    ]
    result = lead_scoring.evaluate([replies, calls], None, interactions, NOW)
    assert result["score"] == 35
    assert [(b["rule_id"], b["points"]) for b in result["breakdown"]] == [("calls", 10), ("replies", 25)]
    assert result["breakdown"][1]["detail"] == "3 email inbound interactions in the last 30 days (capped)"
    assert result["breakdown"][0]["category"] == "engagement"


def test_interactions_leave_their_window_as_time_passes_and_the_score_decays() -> None:
    meetings = rule("meetings", "engagement", 15, {"interaction_kind": "meeting", "within_days": 30})
    title = rule("title", "profile", 20, {"field": "title", "op": "contains", "value": "director"})
    interactions = [interaction("meeting", "2026-02-20T12:00:00Z"), interaction("meeting", "2026-02-10T12:00:00Z")]
    profile = {"title": "IT Director"}
    today = lead_scoring.evaluate([meetings, title], profile, interactions, NOW)
    assert today["score"] == 50
    # the older meeting leaves the window on 2026-03-12 at noon: then the score may change by itself
    assert today["recheck_at"] == "2026-03-12T12:00:00.000000Z"
    later = lead_scoring.evaluate([meetings, title], profile, interactions, "2026-03-12T12:00:00Z")
    assert later["score"] == 35 and later["recheck_at"] == "2026-03-22T12:00:00.000000Z"
    much_later = lead_scoring.evaluate([meetings, title], profile, interactions, "2026-06-01T00:00:00Z")
    assert much_later == {
        "score": 20,
        "breakdown": [
            {
                "rule_id": "title",
                "name": "title",
                "category": "profile",
                "points": 20,
                "detail": "title contains director",
            }
        ],
        "recheck_at": None,
    }


def test_the_breakdown_adds_up_to_the_score_and_inactive_rules_give_nothing() -> None:
    rules = [
        rule("warm", "profile", 10, {"field": "source_channel", "op": "in", "value": ["referral"]}),
        rule("student", "profile", -30, {"field": "title", "op": "contains", "value": "student"}),
        {**rule("off", "profile", 50, {"field": "phone", "op": "exists"}), "active": False},
        rule("calls", "engagement", 5, {"interaction_kind": "call", "within_days": 7}),
    ]
    profile = {"source_channel": "referral", "title": "Student", "phone": "+861"}
    result = lead_scoring.evaluate(rules, profile, [interaction("call", "2026-02-28T00:00:00Z")], NOW)
    assert result["score"] == sum(b["points"] for b in result["breakdown"]) == -15
    assert {b["rule_id"] for b in result["breakdown"]} == {"warm", "student", "calls"}


@pytest.mark.parametrize(
    ("score", "current", "expected"),
    [
        (45, "lead", "marketing_qualified"),
        (45, "subscriber", "marketing_qualified"),
        (75, "lead", "sales_qualified"),
        (75, "marketing_qualified", "sales_qualified"),
        (45, "sales_qualified", None),  # never down
        (45, "marketing_qualified", None),
        (90, "customer", None),  # past the qualifying stages: left alone
        (90, "churned", None),
        (10, "lead", None),
        (45, None, "marketing_qualified"),  # not heard of yet: contacts checks its own stage
    ],
)
def test_thresholds_move_the_stage_only_forward(score: int, current: str | None, expected: str | None) -> None:
    assert lead_scoring.stage_called_for(score, current, THRESHOLDS) == expected


def test_a_rule_is_checked_across_its_fields() -> None:
    bad = {
        "category": "profile",
        "points": 0,
        "max_points": 10,
        "condition": {"field": "password", "op": "like", "extra": 1},
    }
    fields = {p["field"] for p in lead_scoring.rule_problems(bad)}
    assert fields == {"points", "max_points", "condition.field", "condition.op", "condition.extra"}
    engagement = {"category": "engagement", "points": 5, "condition": {"interaction_kind": "fax", "within_days": 0}}
    fields = {p["field"] for p in lead_scoring.rule_problems(engagement)}
    assert fields == {"condition.interaction_kind", "condition.within_days"}
    for default in lead_scoring.default_rules(NOW):
        assert lead_scoring.rule_problems(default) == []


# the service


class FakeContacts:
    """The contacts service as the caller meets it: only contacts they may see exist."""

    def __init__(self, contacts: dict[str, dict], caller: Caller):
        self.contacts = contacts
        self.caller = caller

    def get_contact(self, contact_id: str) -> dict:
        contact = self.contacts.get(contact_id)
        if contact is None or self.caller.user_id not in ("a1", "system", contact.get("owner_id")):
            raise NotFound(f"contact {contact_id} not found")
        return contact


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    yield opened
    opened.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    moment = [NOW]
    monkeypatch.setattr(SalesService, "_clock", lambda self: valuation.parse_time(moment[0]))
    return moment


def as_(store: DocumentStore, caller: Caller, contacts: dict | None = None) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller, contacts=FakeContacts(contacts or {}, caller))


def deliver(store: DocumentStore, event_type: str, payload: dict, occurred_at: str | None = None) -> None:
    body = new_event(event_type, "contacts", payload, actor="u1").as_dict()
    if occurred_at:
        body["occurred_at"] = occurred_at
    getattr(as_(store, SYSTEM), f"on_{event_type}")(body)


def contact(contact_id: str = "c1", version: int = 1, **fields) -> dict:
    return {
        "id": contact_id,
        "version": version,
        "owner_id": "u1",
        "shared_with": [],
        "display_name": "Ann",
        "lifecycle_stage": "lead",
        "title": None,
        "source_channel": None,
        "tags": [],
        "custom_fields": {},
        **fields,
    }


def logged(interaction_id: str, kind: str, occurred_at: str, direction: str = "outbound", **fields) -> dict:
    return {
        "id": interaction_id,
        "version": 1,
        "contact_id": "c1",
        "company_id": None,
        "kind": kind,
        "direction": direction,
        "occurred_at": occurred_at,
        "owner_id": "u1",
        "shared_with": [],
        **fields,
    }


def lead_scored(store: DocumentStore) -> list[dict]:
    rows = store[OUTBOX].find(None, [("id", 1)], 200).items
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == "lead_scored"]


def test_admins_write_the_rules_and_every_sales_role_reads_them(store: DocumentStore, clock: list[str]) -> None:
    listed = as_(store, REP).list_lead_scoring_rules({})["data"]
    assert {r["id"] for r in listed} == {r[0] for r in lead_scoring.DEFAULT_RULES}  # seeded on the first read
    body = {
        "name": "Asked for a quote",
        "category": "engagement",
        "points": 20,
        "max_points": 40,
        "condition": {"interaction_kind": "email", "direction": "inbound", "within_days": 14},
    }
    for caller in (REP, OTHER_REP, AGENT):
        with pytest.raises(Forbidden):
            as_(store, caller).create_lead_scoring_rule(body)
    with pytest.raises(Forbidden):
        as_(store, AGENT).list_lead_scoring_rules({})
    created = as_(store, ADMIN).create_lead_scoring_rule(body)
    assert created["active"] is True and created["created_by"] == "a1" and created["version"] == 1
    assert as_(store, REP).get_lead_scoring_rule(created["id"])["name"] == "Asked for a quote"
    with pytest.raises(Forbidden):
        as_(store, REP).update_lead_scoring_rule(created["id"], {"points": 50})
    with pytest.raises(PreconditionFailed):
        as_(store, ADMIN).update_lead_scoring_rule(created["id"], {"points": 50}, expected_version=7)
    updated = as_(store, ADMIN).update_lead_scoring_rule(created["id"], {"points": 50}, expected_version=1)
    assert updated["points"] == 50 and updated["version"] == 2
    with pytest.raises(ValidationFailed) as refused:
        as_(store, ADMIN).update_lead_scoring_rule(created["id"], {"category": "profile"})
    assert {e["field"] for e in refused.value.errors} >= {"max_points", "condition.field", "condition.op"}
    with pytest.raises(ValidationFailed) as refused:
        as_(store, ADMIN).create_lead_scoring_rule({**body, "points": 500, "score": 1})
    assert {e["field"] for e in refused.value.errors} == {"score"}  # unknown fields first, then the rules
    inactive = as_(store, REP).list_lead_scoring_rules({"where": {"active": "false"}})["data"]
    assert inactive == []
    as_(store, ADMIN).delete_lead_scoring_rule(created["id"], expected_version=2)
    with pytest.raises(NotFound):
        as_(store, REP).get_lead_scoring_rule(created["id"])
    # deleting every rule is an admin's choice: the defaults do not come back
    for rule_id in [r["id"] for r in as_(store, ADMIN).list_lead_scoring_rules({})["data"]]:
        as_(store, ADMIN).delete_lead_scoring_rule(rule_id)
    assert as_(store, REP).list_lead_scoring_rules({})["data"] == []


def test_interactions_raise_the_score_and_lead_scored_moves_the_stage_forward(
    store: DocumentStore, clock: list[str]
) -> None:
    deliver(store, "contact_created", contact(title="Purchasing Director", source_channel="referral"))
    assert store[LEAD_SCORES].get("c1")["score"] == 25  # senior title 15 + warm source 10
    assert lead_scored(store)[-1] == {
        "subject_type": "contact",
        "id": "c1",
        "score": 25,
        "breakdown": store[LEAD_SCORES].get("c1")["breakdown"],
        "lifecycle_stage": None,
    }
    deliver(store, "interaction_logged", logged("i1", "meeting", "2026-02-27T10:00:00Z"))
    assert lead_scored(store)[-1]["score"] == 40
    assert lead_scored(store)[-1]["lifecycle_stage"] == "marketing_qualified"
    for n, day in enumerate(("25", "26", "27", "28")):
        deliver(store, "interaction_logged", logged(f"r{n}", "email", f"2026-02-{day}T09:00:00Z", "inbound"))
    # replies: 4 x 10 capped at 30
    assert lead_scored(store)[-1]["score"] == 70
    assert lead_scored(store)[-1]["lifecycle_stage"] == "sales_qualified"
    # contacts moved the stage: the profile follows, the score does not change, nothing new is published
    published = len(lead_scored(store))
    deliver(
        store,
        "contact_updated",
        contact(version=3, title="Purchasing Director", source_channel="referral", lifecycle_stage="sales_qualified"),
    )
    assert len(lead_scored(store)) == published
    # the meeting deleted: 15 points less, and the stage stays where it got to
    deliver(store, "interaction_deleted", {"id": "i1", "version": 2, "deleted_by": "u1"})
    assert lead_scored(store)[-1]["score"] == 55
    assert lead_scored(store)[-1]["lifecycle_stage"] is None  # never down
    # the delete is final: a late copy of the logged event does not bring the meeting back
    deliver(store, "interaction_logged", logged("i1", "meeting", "2026-02-27T10:00:00Z"))
    assert store[LEAD_SCORES].get("c1")["score"] == 55


def test_an_older_contact_version_arriving_late_does_not_win(store: DocumentStore, clock: list[str]) -> None:
    deliver(store, "contact_created", contact(version=2, title="CEO and founder"))
    deliver(store, "contact_updated", contact(version=1, title="Intern"))
    assert store[LEAD_SCORES].get("c1")["profile"]["title"] == "CEO and founder"


def test_a_merged_interaction_moves_its_points_to_the_survivor(store: DocumentStore, clock: list[str]) -> None:
    deliver(store, "interaction_logged", logged("i1", "meeting", "2026-02-27T10:00:00Z"))
    assert store[LEAD_SCORES].get("c1")["score"] == 15
    deliver(
        store, "interaction_updated", {**logged("i1", "meeting", "2026-02-27T10:00:00Z", contact_id="c2"), "version": 2}
    )
    assert store[LEAD_SCORES].get("c1")["score"] == 0
    assert store[LEAD_SCORES].get("c2")["score"] == 15


def test_a_deleted_contact_keeps_no_score_and_no_profile(store: DocumentStore, clock: list[str]) -> None:
    deliver(store, "contact_created", contact(title="Director"))
    deliver(store, "contact_deleted", {"id": "c1", "version": 2, "deleted_by": "u1"})
    tomb = store[LEAD_SCORES].get("c1")
    assert tomb["deleted"] is True and tomb["profile"] is None and tomb["breakdown"] == []
    deliver(store, "interaction_logged", logged("i1", "meeting", "2026-02-27T10:00:00Z"))
    assert store[LEAD_SCORES].get("c1")["score"] == 0
    with pytest.raises(NotFound):
        as_(store, ADMIN).get_lead_score("c1")


def test_the_timer_lets_old_interactions_go_exactly_once(store: DocumentStore, clock: list[str]) -> None:
    deliver(store, "contact_created", contact())
    deliver(store, "interaction_logged", logged("i1", "call", "2026-02-27T12:00:00Z"))
    assert store[LEAD_SCORES].get("c1")["score"] == 5
    assert as_(store, SYSTEM)._refresh_lead_scores(100) == {"decayed": 0, "rescored": 0}
    clock[0] = "2026-03-29T12:00:00.000000Z"  # the call's 30 days are over
    first, second = as_(store, SYSTEM), as_(store, SYSTEM)
    seen = store[LEAD_SCORES].get("c1")
    assert first._rescore_claimed(seen, clock[0]) is True
    assert second._rescore_claimed(seen, clock[0]) is False  # another instance got there first
    assert store[LEAD_SCORES].get("c1")["score"] == 0
    assert [e["score"] for e in lead_scored(store)] == [5, 0]
    assert as_(store, SYSTEM)._refresh_lead_scores(100) == {"decayed": 0, "rescored": 0}


def test_a_rule_change_rescores_every_contact_through_the_timer(store: DocumentStore, clock: list[str]) -> None:
    for contact_id in ("c1", "c2", "c3"):
        deliver(store, "contact_created", contact(contact_id, tags=["vip"]))
    assert [store[LEAD_SCORES].get(c)["score"] for c in ("c1", "c2", "c3")] == [0, 0, 0]
    as_(store, ADMIN).create_lead_scoring_rule(
        {"name": "VIP", "category": "profile", "points": 30, "condition": {"field": "tags", "op": "eq", "value": "vip"}}
    )
    # a tick goes on batch after batch (of 2 here) while its time lasts
    assert as_(store, SYSTEM)._refresh_lead_scores(2) == {"decayed": 0, "rescored": 3}
    assert as_(store, SYSTEM)._refresh_lead_scores(2) == {"decayed": 0, "rescored": 0}
    assert [store[LEAD_SCORES].get(c)["score"] for c in ("c1", "c2", "c3")] == [30, 30, 30]


def test_a_rescan_batch_is_claimed_only_with_its_scores(
    store: DocumentStore, clock: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for contact_id in ("c1", "c2", "c3"):
        deliver(store, "contact_created", contact(contact_id, tags=["vip"]))
    as_(store, ADMIN).create_lead_scoring_rule(
        {"name": "VIP", "category": "profile", "points": 30, "condition": {"field": "tags", "op": "eq", "value": "vip"}}
    )
    real = lead_scoring.evaluate
    calls = []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the worker dies mid-batch")
        return real(*args, **kwargs)

    monkeypatch.setattr(lead_scoring, "evaluate", crashing)
    with pytest.raises(RuntimeError):
        as_(store, SYSTEM)._refresh_lead_scores(2)
    monkeypatch.setattr(lead_scoring, "evaluate", real)
    # nothing of the batch was kept, and it was not claimed: the next tick scores all three
    assert [store[LEAD_SCORES].get(c)["score"] for c in ("c1", "c2", "c3")] == [0, 0, 0]
    assert as_(store, SYSTEM)._refresh_lead_scores(2) == {"decayed": 0, "rescored": 3}
    assert [store[LEAD_SCORES].get(c)["score"] for c in ("c1", "c2", "c3")] == [30, 30, 30]
    # bounded by time: with no time left a tick does nothing
    as_(store, ADMIN).create_lead_scoring_rule(
        {"name": "VIP2", "category": "profile", "points": 5, "condition": {"field": "tags", "op": "eq", "value": "vip"}}
    )
    assert as_(store, SYSTEM)._refresh_lead_scores(2, seconds=0) == {"decayed": 0, "rescored": 0}
    assert as_(store, SYSTEM)._refresh_lead_scores(2) == {"decayed": 0, "rescored": 3}


def test_the_score_is_read_by_who_sees_the_contact(store: DocumentStore, clock: list[str]) -> None:
    deliver(store, "contact_created", contact(title="Director"))
    deliver(store, "interaction_logged", logged("i1", "call", "2026-02-27T12:00:00Z"))
    answer = as_(store, REP).get_lead_score("c1")
    assert answer["score"] == 20 and answer["qualification"] is None
    assert answer["thresholds"] == THRESHOLDS and answer["computed_at"] == NOW
    assert [b["rule_id"] for b in answer["breakdown"]] == ["default-calls", "default-senior-title"]
    assert as_(store, ADMIN).get_lead_score("c1")["score"] == 20
    with pytest.raises(NotFound):
        as_(store, OTHER_REP).get_lead_score("c1")
    with pytest.raises(NotFound):
        as_(store, REP).get_lead_score("missing")
    # the projection has not heard of a new contact yet: contacts answers for it, with its profile
    fresh = {"c9": contact("c9", title="Director of Sales", owner_id="u2")}
    assert as_(store, OTHER_REP, fresh).get_lead_score("c9")["score"] == 15
    with pytest.raises(NotFound):
        as_(store, REP, fresh).get_lead_score("c9")


def test_reading_a_score_writes_nothing_and_announces_nothing(store: DocumentStore, clock: list[str]) -> None:
    deliver(store, "contact_created", contact(tags=["vip"]))
    stored = store[LEAD_SCORES].get("c1")
    events_before = len(lead_scored(store))
    as_(store, ADMIN).create_lead_scoring_rule(
        {"name": "VIP", "category": "profile", "points": 30, "condition": {"field": "tags", "op": "eq", "value": "vip"}}
    )
    answer = as_(store, REP).get_lead_score("c1")
    assert answer["score"] == stored["score"] + 30  # computed under the rules in force
    assert store[LEAD_SCORES].get("c1") == stored  # but neither stored
    assert len(lead_scored(store)) == events_before  # nor announced: the timer does both
    assert as_(store, SYSTEM)._refresh_lead_scores(100)["rescored"] == 1
    assert store[LEAD_SCORES].get("c1")["score"] == answer["score"]
