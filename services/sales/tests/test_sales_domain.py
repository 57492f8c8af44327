"""Sales rules, without any I/O: pipelines and their stages, deals won and lost, line items, rotting
and the rollup buckets a deal counts in."""

import pytest

from crm_common.errors import ValidationFailed
from sales import domain, rollups

T0 = "2024-05-01T09:00:00.000000Z"
T1 = "2024-05-03T09:00:00.000000Z"
T2 = "2024-06-10T18:00:00.000000Z"
PIPELINE = domain.default_pipeline(T0)
NEW = {"title": "X", "amount": "10.00", "currency": "CNY", "contact_id": "c"}


def _fields_in_error(caught) -> list[str]:
    return [e["field"] for e in caught.value.errors]


def test_the_default_pipeline_has_ordered_stages_with_win_probabilities():
    assert PIPELINE["id"] == domain.DEFAULT_PIPELINE_ID
    assert [s["probability"] for s in PIPELINE["stages"]] == [10, 25, 50, 75, 100, 0]
    assert [s["forecast_category"] for s in PIPELINE["stages"]] == [
        "pipeline",
        "pipeline",
        "best_case",
        "commit",
        "closed",
        "omitted",
    ]


def test_stages_get_ids_from_their_names_and_categories_from_their_probabilities():
    stages = domain.checked_stages(
        [
            {"name": "First call", "probability": 20, "rotting_days": 7},
            {"name": "First call", "probability": 60},
            {"name": "签约", "probability": 100},
            {"id": "gone", "name": "Gone", "probability": 0, "forecast_category": "omitted"},
        ]
    )
    assert [s["id"] for s in stages] == ["first_call", "first_call_2", "stage_3", "gone"]
    assert [s["forecast_category"] for s in stages] == ["pipeline", "best_case", "closed", "omitted"]
    assert stages[0]["rotting_days"] == 7 and stages[1]["rotting_days"] is None


@pytest.mark.parametrize(
    "stages,field",
    [
        ([{"name": "A", "probability": 50}, {"name": "L", "probability": 0}], "stages"),  # no won stage
        (
            [{"name": "W", "probability": 100}, {"name": "W2", "probability": 100}, {"name": "L", "probability": 0}],
            "stages",
        ),
        ([{"name": "W", "probability": 100}], "stages"),  # no lost stage
        ([{"name": "W", "probability": 101}, {"name": "L", "probability": 0}], "stages[0].probability"),
        (
            [{"name": "W", "probability": 100, "rotting_days": -1}, {"name": "L", "probability": 0}],
            "stages[0].rotting_days",
        ),
        ([{"id": "a b", "name": "W", "probability": 100}, {"name": "L", "probability": 0}], "stages[0].id"),
        ([{"id": "x", "name": "W", "probability": 100}, {"id": "x", "name": "L", "probability": 0}], "stages[1].id"),
    ],
)
def test_a_pipeline_needs_one_won_stage_at_least_one_lost_and_sane_figures(stages, field):
    with pytest.raises(ValidationFailed) as caught:
        domain.checked_stages(stages)
    assert field in _fields_in_error(caught)


def test_a_stage_with_deals_may_neither_go_nor_change_its_outcome():
    fewer = {**PIPELINE, "stages": [s for s in PIPELINE["stages"] if s["id"] != "proposal"]}
    assert "Proposal" in domain.stage_changes_refused(PIPELINE, fewer, {"proposal"})
    assert domain.stage_changes_refused(PIPELINE, fewer, {"qualification"}) is None
    lost_now = {
        **PIPELINE,
        "stages": [{**s, "probability": 0} if s["id"] == "proposal" else s for s in PIPELINE["stages"]],
    }
    assert "probability" in domain.stage_changes_refused(PIPELINE, lost_now, {"proposal"})
    likelier = {
        **PIPELINE,
        "stages": [{**s, "probability": 60} if s["id"] == "proposal" else s for s in PIPELINE["stages"]],
    }
    assert domain.stage_changes_refused(PIPELINE, likelier, {"proposal"}) is None


def test_a_new_deal_starts_open_in_the_first_stage_with_its_history():
    deal = domain.new_deal(NEW, PIPELINE, "usr-1", T0)
    assert deal["status"] == "open" and deal["stage_id"] == "qualification" and deal["owner_id"] == "usr-1"
    assert deal["stage_history"] == [{"stage_id": "qualification", "at": T0}]
    assert (deal["closed_at"], deal["lost_reason"], deal["line_items"], deal["rotting"]) == (None, None, [], False)
    assert deal["furthest_stage_id"] == "qualification" and deal["stage_entered_at"] == T0


def test_a_stage_outside_the_pipeline_is_refused():
    with pytest.raises(ValidationFailed) as caught:
        domain.new_deal({**NEW, "stage_id": "moon"}, PIPELINE, "u", T0)
    assert _fields_in_error(caught) == ["stage_id"]


def test_the_amount_is_the_sum_of_the_line_items_when_there_are_some():
    lines = [
        {"product": "Seat", "quantity": "3", "unit_price": "100.50"},
        {"product": "Setup", "sku": "S-1", "quantity": "1", "unit_price": "99.5"},
    ]
    deal = domain.new_deal({**{k: v for k, v in NEW.items() if k != "amount"}, "line_items": lines}, PIPELINE, "u", T0)
    assert deal["amount"] == "401.00"
    assert deal["line_items"][0] == {"product": "Seat", "sku": None, "quantity": "3", "unit_price": "100.50"}
    assert domain.new_deal({**NEW, "amount": "401", "line_items": lines}, PIPELINE, "u", T0)["amount"] == "401.00"
    with pytest.raises(ValidationFailed) as caught:
        domain.new_deal({**NEW, "amount": "400.00", "line_items": lines}, PIPELINE, "u", T0)
    assert _fields_in_error(caught) == ["amount"]
    with pytest.raises(ValidationFailed) as caught:
        domain.new_deal({k: v for k, v in NEW.items() if k != "amount"}, PIPELINE, "u", T0)
    assert _fields_in_error(caught) == ["amount"]
    changed, names = domain.apply_deal_changes(deal, {"line_items": lines[:1]}, PIPELINE, T1)
    assert changed["amount"] == "301.50" and names == ["amount", "line_items"]
    with pytest.raises(ValidationFailed):
        domain.apply_deal_changes(deal, {"amount": "5.00"}, PIPELINE, T1)  # the lines decide the amount


def test_winning_moves_the_deal_to_the_won_stage_and_stamps_the_close():
    deal = domain.new_deal(NEW, PIPELINE, "u", T0)
    won, changed = domain.apply_deal_changes(deal, {"status": "won"}, PIPELINE, T1)
    assert (won["stage_id"], won["status"], won["closed_at"], won["rotting_at"]) == ("closed_won", "won", T1, None)
    assert changed == ["stage_id", "status", "closed_at"]
    assert won["furthest_stage_id"] == "closed_won"
    assert domain.apply_deal_changes(won, {"status": "won"}, PIPELINE, T2) == (won, [])
    by_stage, changed = domain.apply_deal_changes(deal, {"stage_id": "closed_won"}, PIPELINE, T1)
    assert by_stage["status"] == "won" and "status" in changed


def test_losing_needs_a_reason_and_reopening_drops_it():
    deal = domain.new_deal(NEW, PIPELINE, "u", T0)
    deal, _ = domain.apply_deal_changes(deal, {"stage_id": "proposal"}, PIPELINE, T0)
    for changes in ({"status": "lost"}, {"stage_id": "closed_lost"}, {"status": "lost", "lost_reason": "  "}):
        with pytest.raises(ValidationFailed) as caught:
            domain.apply_deal_changes(deal, changes, PIPELINE, T1)
        assert _fields_in_error(caught) == ["lost_reason"]
    with pytest.raises(ValidationFailed) as caught:
        domain.apply_deal_changes(deal, {"lost_reason": "price"}, PIPELINE, T1)  # an open deal has none
    assert _fields_in_error(caught) == ["lost_reason"]
    lost, changed = domain.apply_deal_changes(deal, {"status": "lost", "lost_reason": "price"}, PIPELINE, T1)
    assert (lost["stage_id"], lost["status"], lost["lost_reason"], lost["closed_at"]) == (
        "closed_lost",
        "lost",
        "price",
        T1,
    )
    assert lost["furthest_stage_id"] == "proposal"  # the lost stage never counts as reached
    reopened, changed = domain.apply_deal_changes(lost, {"status": "open"}, PIPELINE, T2)
    assert (reopened["stage_id"], reopened["lost_reason"], reopened["closed_at"]) == ("proposal", None, None)
    assert set(changed) == {"stage_id", "status", "lost_reason", "closed_at"}
    with pytest.raises(ValidationFailed) as caught:
        domain.apply_deal_changes(deal, {"status": "won", "stage_id": "negotiation"}, PIPELINE, T1)
    assert _fields_in_error(caught) == ["status"]


def test_a_deal_rots_once_its_stage_rotting_days_have_passed():
    pipeline = {
        **PIPELINE,
        "stages": [{**s, "rotting_days": 2} if s["id"] == "proposal" else s for s in PIPELINE["stages"]],
    }
    deal = domain.new_deal(NEW, pipeline, "u", T0)
    assert deal["rotting_at"] is None  # qualification has no rotting days
    deal, _ = domain.apply_deal_changes(deal, {"stage_id": "proposal"}, pipeline, T0)
    assert deal["rotting_at"] == T1
    assert not domain.is_rotting(deal, "2024-05-03T08:59:59.999999Z")
    assert domain.is_rotting(deal, T1)
    assert not domain.is_rotting({**deal, "rotting": True}, T2)  # flagged once per stage entry
    moved, _ = domain.apply_deal_changes({**deal, "rotting": True}, {"stage_id": "negotiation"}, pipeline, T2)
    assert (moved["rotting"], moved["rotting_at"]) == (False, None)
    longer = {
        **pipeline,
        "stages": [{**s, "rotting_days": 30} if s["id"] == "proposal" else s for s in pipeline["stages"]],
    }
    kept = domain.with_new_rotting_days({**deal, "rotting": True}, longer)
    # Flagged once per stage entry: longer rotting days move the time, the flag stays (no second alert).
    assert (kept["rotting_at"], kept["rotting"]) == ("2024-05-31T09:00:00.000000Z", True)
    assert not domain.is_rotting(kept, "2024-06-30T00:00:00.000000Z")


def test_a_deal_counts_in_a_forecast_bucket_while_open_then_in_an_outcome_bucket():
    deal = domain.new_deal({**NEW, "expected_close_date": "2024-07-15", "owner_id": "u1"}, PIPELINE, "u1", T0)
    forecast, funnel = rollups.contributions(deal, PIPELINE)
    assert forecast["id"] == "forecast|2024-07|u1|default|qualification|CNY"
    assert (forecast["count"], forecast["amount"]) == (1, "10.00")
    assert funnel["id"] == "funnel|2024-05|u1|default|qualification|open" and "amount" not in funnel
    won, _ = domain.apply_deal_changes(deal, {"status": "won"}, PIPELINE, T2)
    outcome, funnel = rollups.contributions(won, PIPELINE)
    assert outcome["id"] == "outcome|2024-06|u1|default|won|CNY"
    assert outcome["cycle_days"] == 40
    assert funnel["id"] == "funnel|2024-05|u1|default|closed_won|won"
    assert rollups.contributions({**deal, "expected_close_date": None}, PIPELINE)[0]["period"] == "none"


def test_moving_a_deal_changes_only_the_buckets_it_leaves_and_enters():
    deal = domain.new_deal(NEW, PIPELINE, "u1", T0)
    renamed, _ = domain.apply_deal_changes(deal, {"title": "Y"}, PIPELINE, T1)
    assert rollups.deltas(rollups.contributions(deal, PIPELINE), rollups.contributions(renamed, PIPELINE)) == {}
    bigger, _ = domain.apply_deal_changes(deal, {"amount": "12.50"}, PIPELINE, T1)
    (delta,) = rollups.deltas(rollups.contributions(deal, PIPELINE), rollups.contributions(bigger, PIPELINE)).values()
    assert (delta["count"], delta["amount"]) == (0, "2.50")
    bucket = rollups.applied(None, rollups.contributions(deal, PIPELINE)[0])
    assert rollups.applied(bucket, delta) == {**bucket, "amount": "12.50"}
    gone = {**rollups.contributions(deal, PIPELINE)[0], "count": -1, "amount": "-10.00"}
    assert rollups.applied(bucket, gone) is None


def test_rollups_sum_amounts_exactly_in_each_currency():
    deals = [
        domain.new_deal({**NEW, "amount": amount, "currency": currency}, PIPELINE, "u1", T0)
        for amount, currency in (("0.10", "CNY"), ("0.20", "CNY"), ("1.015", "USD"))
    ]
    buckets = rollups.totals((d, PIPELINE) for d in deals)
    assert buckets["forecast|none|u1|default|qualification|CNY"]["amount"] == "0.30"
    assert buckets["forecast|none|u1|default|qualification|USD"]["amount"] == "1.02"  # stored rounded to cents
    assert buckets["funnel|2024-05|u1|default|qualification|open"]["count"] == 3


def test_deal_amounts_round_to_cents_like_orders():
    thirds = [{"product": "X", "quantity": "3", "unit_price": "0.111"}]
    deal = domain.new_deal({**NEW, "amount": "0.333", "line_items": thirds}, PIPELINE, "u", T0)
    assert deal["amount"] == "0.33"  # the given amount rounds to the rounded total
    assert domain.new_deal({**NEW, "amount": "0.125"}, PIPELINE, "u", T0)["amount"] == "0.12"


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"product": "X", "quantity": "999999999999999", "unit_price": "999999999999999"}], "line_items[0]"),
        ([{"product": "X", "quantity": "1", "unit_price": "999999999999999"}] * 2, "line_items"),
    ],
)
def test_line_items_too_big_are_a_422_naming_the_field(items, field):
    with pytest.raises(ValidationFailed) as caught:
        domain.new_deal({**NEW, "line_items": items}, PIPELINE, "u", T0)
    assert caught.value.errors[0]["field"] == field


def test_a_closed_deal_without_closed_at_counts_when_it_entered_its_closed_stage():
    deal = domain.new_deal(NEW, PIPELINE, "u1", T0)
    won, _ = domain.apply_deal_changes(deal, {"status": "won"}, PIPELINE, T2)
    legacy = {**won, "closed_at": None, "updated_at": "2030-01-01T00:00:00.000000Z"}  # a merge moved updated_at
    (outcome, _) = rollups.contributions(legacy, PIPELINE)
    assert outcome["period"] == T2[:7]
    assert rollups.contributions(legacy, PIPELINE) == rollups.contributions(won, PIPELINE)
    renamed, _ = domain.apply_deal_changes(legacy, {"title": "Z"}, PIPELINE, "2030-02-01T00:00:00.000000Z")
    assert renamed["closed_at"] == T2  # filled once from the stage history
