"""Customer-pool rules without I/O: settings, claim limits, reclaim rule matching and decisions."""

import pytest

from contacts import pool
from crm_common.errors import Conflict, ValidationFailed
from crm_common.store import open_store

NOW = "2024-06-30T12:00:00.000000Z"


def contact(**fields) -> dict:
    return {
        "id": fields.pop("id", "c1"),
        "owner_id": "u1",
        "created_at": "2024-01-01T00:00:00.000000Z",
        "last_activity_at": None,
        "open_deal_count": 0,
        "value_grade": None,
        "lifecycle_stage": "lead",
        **fields,
    }


def rule(notice_days: int = 7, **conditions) -> dict:
    return {
        "id": "r1",
        "name": "Idle",
        "active": True,
        "notice_days": notice_days,
        "conditions": pool.validate_conditions(conditions),
    }


def test_settings_default_to_twenty_claims_a_day_and_no_other_cap():
    assert pool.settings_with_defaults(None) == {
        "max_owned_per_rep": None,
        "max_claims_per_day": 20,
        "reclaim_cooldown_days": 0,
    }
    assert pool.settings_with_defaults({"max_owned_per_rep": 5})["max_owned_per_rep"] == 5


@pytest.mark.parametrize(
    "data,field",
    [
        ({"max_claims_per_day": -1}, "max_claims_per_day"),
        ({"max_owned_per_rep": "10"}, "max_owned_per_rep"),
        ({"reclaim_cooldown_days": None}, "reclaim_cooldown_days"),
        ({"reclaim_cooldown_days": 99999}, "reclaim_cooldown_days"),
        ({"claims": 3}, "claims"),
        ({"version": 3}, "version"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(data, field):
    with pytest.raises(ValidationFailed) as refused:
        pool.validate_settings(data)
    assert [e["field"] for e in refused.value.errors] == [field]


def test_null_lifts_a_cap():
    assert pool.validate_settings({"max_owned_per_rep": None, "max_claims_per_day": None}) == {
        "max_owned_per_rep": None,
        "max_claims_per_day": None,
    }


def test_claim_limits_name_the_cap_that_stops_a_claim():
    settings = {"max_owned_per_rep": 3, "max_claims_per_day": 2}
    pool.check_claim_limits(settings, owned=2, claimed_today=1)
    with pytest.raises(Conflict, match="max_owned_per_rep is 3"):
        pool.check_claim_limits(settings, owned=3, claimed_today=0)
    with pytest.raises(Conflict, match="max_claims_per_day is 2"):
        pool.check_claim_limits(settings, owned=0, claimed_today=2)
    pool.check_claim_limits({"max_owned_per_rep": None, "max_claims_per_day": None}, owned=10**6, claimed_today=10**6)


def test_the_cooldown_runs_from_a_reclaim_not_from_releasing_it_oneself():
    history = [
        {"owner_id": None, "from_owner_id": "u1", "at": "2024-06-28T00:00:00.000000Z", "by": "u1", "reason": None},
        {"owner_id": "u2", "from_owner_id": None, "at": "2024-06-28T01:00:00.000000Z", "by": "u2", "reason": None},
        {"owner_id": None, "from_owner_id": "u2", "at": "2024-06-29T00:00:00.000000Z", "by": "system", "reason": "r"},
    ]
    record = contact(owner_id=None, owner_history=history)
    settings = {"reclaim_cooldown_days": 7}
    pool.check_cooldown(record, "u1", settings, NOW)  # u1 released it themselves
    with pytest.raises(Conflict, match="reclaim_cooldown_days is 7, so you may claim it again from 2024-07-06"):
        pool.check_cooldown(record, "u2", settings, NOW)
    pool.check_cooldown(record, "u2", settings, "2024-07-06T00:00:00.000001Z")
    pool.check_cooldown(record, "u2", {"reclaim_cooldown_days": 0}, NOW)


def test_a_rule_gets_its_defaults_and_needs_a_condition():
    created = pool.validate_rule({"name": "Idle", "conditions": {"no_activity_days": 30}})
    assert created["active"] is True and created["notice_days"] == 7
    assert created["conditions"] == {
        "no_activity_days": 30,
        "no_open_deal": False,
        "grade_below": None,
        "lifecycle_stages": None,
    }
    with pytest.raises(ValidationFailed) as refused:
        pool.validate_rule({"name": "Everything", "conditions": {}})
    assert refused.value.errors[0]["field"] == "conditions"


@pytest.mark.parametrize(
    "conditions,field",
    [
        ({"no_activity_days": -1}, "conditions.no_activity_days"),
        ({"no_activity_days": True}, "conditions.no_activity_days"),
        ({"no_open_deal": "yes"}, "conditions.no_open_deal"),
        ({"grade_below": "D"}, "conditions.grade_below"),
        ({"grade_below": "E"}, "conditions.grade_below"),
        ({"lifecycle_stages": []}, "conditions.lifecycle_stages"),
        ({"lifecycle_stages": ["king"]}, "conditions.lifecycle_stages"),
        ({"no_activity_days": 3, "owner": "u1"}, "conditions.owner"),
    ],
)
def test_invalid_conditions_are_refused_naming_the_condition(conditions, field):
    with pytest.raises(ValidationFailed) as refused:
        pool.validate_rule({"name": "R", "conditions": conditions})
    assert field in [e["field"] for e in refused.value.errors]


def test_a_partial_rule_update_keeps_what_it_does_not_name():
    assert pool.validate_rule({"notice_days": 3}, current={"name": "R"}) == {"notice_days": 3}
    with pytest.raises(ValidationFailed):
        pool.validate_rule({"notice_days": 1000}, current={"name": "R"})


def test_inactivity_counts_from_the_last_interaction_or_else_from_creation():
    conditions = rule(no_activity_days=30)["conditions"]
    assert pool.rule_matches(conditions, contact(), NOW)  # never active, created in January
    assert not pool.rule_matches(conditions, contact(last_activity_at="2024-06-20T00:00:00.000000Z"), NOW)
    assert pool.rule_matches(conditions, contact(last_activity_at="2024-05-01T00:00:00.000000Z"), NOW)
    assert not pool.rule_matches(conditions, contact(created_at="2024-06-25T00:00:00.000000Z"), NOW)
    assert not pool.rule_matches(conditions, contact(owner_id=None), NOW)  # the pool is nobody's to lose


def test_pool_times_keep_the_stored_shape_even_before_the_year_1000():
    assert pool.days_after(NOW, 1) == "2024-07-01T12:00:00.000000Z"
    # Four-digit years, so a far-past cut-off still compares as text with stored timestamps.
    assert pool.days_before("0999-12-31T00:00:00.000000Z", 1) == "0999-12-30T00:00:00.000000Z"
    assert pool.days_before("0999-12-31T00:00:00.000000Z", 1) < "1000-01-01T00:00:00.000000Z"


def test_deal_grade_and_stage_conditions_all_must_hold():
    conditions = rule(no_open_deal=True, grade_below="B", lifecycle_stages=["lead", "customer"])["conditions"]
    assert pool.rule_matches(conditions, contact(value_grade="C"), NOW)
    assert pool.rule_matches(conditions, contact(value_grade="D", open_deal_count=None), NOW)
    assert not pool.rule_matches(conditions, contact(value_grade="C", open_deal_count=1), NOW)
    assert not pool.rule_matches(conditions, contact(value_grade="B"), NOW)
    assert not pool.rule_matches(conditions, contact(value_grade=None), NOW)  # not graded is not graded low
    assert not pool.rule_matches(conditions, contact(value_grade="C", lifecycle_stage="loyal"), NOW)


def test_the_store_filter_selects_exactly_what_the_rule_matches(tmp_path):
    from crm_common.store import CollectionSpec

    store = open_store(f"sqlite:///{tmp_path}/rules.db", (CollectionSpec("contacts"),))
    samples = [
        contact(id="idle"),
        contact(id="recent", last_activity_at="2024-06-29T00:00:00.000000Z"),
        contact(id="old-activity", last_activity_at="2024-03-01T00:00:00.000000Z"),
        contact(id="new", created_at="2024-06-29T00:00:00.000000Z"),
        contact(id="pool", owner_id=None),
        contact(id="deal", open_deal_count=2),
        contact(id="no-count", open_deal_count=None),
        contact(id="grade-a", value_grade="A"),
        contact(id="grade-c", value_grade="C"),
        contact(id="loyal", lifecycle_stage="loyal"),
    ]
    for sample in samples:
        store["contacts"].insert(sample)
    rules = [
        rule(no_activity_days=30),
        rule(no_open_deal=True),
        rule(grade_below="B"),
        rule(lifecycle_stages=["loyal"]),
        rule(no_activity_days=30, no_open_deal=True, grade_below="A"),
    ]
    for each in rules:
        conditions = each["conditions"]
        selected = {c["id"] for c in store["contacts"].find(pool.rule_filter(conditions, NOW), limit=100).items}
        assert selected == {c["id"] for c in samples if pool.rule_matches(conditions, c, NOW)}, conditions
    store.close()


def test_a_notice_names_the_rule_and_when_the_customer_goes_back():
    notice = pool.new_notice(contact(), rule(notice_days=3, no_activity_days=30, no_open_deal=True), NOW)
    assert notice["id"] == "c1" and notice["owner_id"] == "u1" and notice["rule_id"] == "r1"
    assert notice["reclaim_at"] == "2024-07-03T12:00:00.000000Z"
    assert notice["reason"] == "reclaim rule 'Idle': no interaction for 30 days, no open deal"


def test_a_run_warns_first_then_reclaims_after_the_notice_or_clears_it():
    idle = rule(notice_days=3, no_activity_days=30)
    customer = contact()
    assert pool.decide(None, idle, customer, NOW) == "warn"
    notice = pool.new_notice(customer, idle, NOW)
    assert pool.decide(notice, idle, customer, NOW) == "wait"
    later = "2024-07-03T12:00:00.000000Z"
    assert pool.decide(notice, idle, customer, later) == "reclaim"
    active = contact(last_activity_at="2024-07-01T00:00:00.000000Z")
    assert pool.decide(notice, idle, active, later) == "clear"
    assert pool.decide(notice, idle, contact(owner_id="u2"), later) == "clear"  # changed hands
    assert pool.decide(notice, idle, None, later) == "clear"  # deleted
    assert pool.decide(notice, None, customer, later) == "clear"  # rule deleted
    assert pool.decide(notice, {**idle, "active": False}, customer, later) == "clear"
    assert pool.decide(None, idle, active, later) == "none"
