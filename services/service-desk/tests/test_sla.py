"""SLA clock rules with a controllable clock: business minutes, pauses, stops, re-matching,
escalation steps, breaches at the exact minute, and what the timer owes a ticket."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from service_desk import domain, sla
from service_desk.business_time import BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 09:00-18:00 Monday to Friday in Shanghai.
OFFICE_DOC = {
    "time_zone": "Asia/Shanghai",
    "working_hours": {
        **{day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "sat": [],
        "sun": [],
    },
}
OFFICE = BusinessCalendar.from_document(OFFICE_DOC)
ROUND_THE_CLOCK = BusinessCalendar.from_document(None)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in December 2026, Shanghai time (Friday the 4th, Monday the 7th)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI)


def stamp(moment: datetime) -> str:
    return domain.stamp(moment)


def policy(**overrides) -> dict:
    base = {
        "id": "p-office",
        "name": "Office hours",
        "position": 1,
        "active": True,
        "conditions": {},
        "calendar_id": "cal-office",
        "pause_statuses": ["pending"],
        "targets": {
            "urgent": {"first_response_minutes": 30, "resolution_minutes": 240},
            "high": {"first_response_minutes": 60, "resolution_minutes": 540},
            "normal": {"first_response_minutes": 120, "resolution_minutes": 1080},
            "low": {"first_response_minutes": 540, "resolution_minutes": 2700},
        },
        "escalations": [],
    }
    return {**base, **overrides}


def ticket(received: datetime, **fields) -> dict:
    return {
        "id": "t1",
        "status": "new",
        "priority": "high",
        "kind": "incident",
        "category": None,
        "customer_grade": None,
        "company_id": None,
        "first_responded_at": None,
        "received_at": stamp(received),
        "created_at": stamp(received),
        **fields,
    }


def created(received: datetime, now: datetime | None = None, the_policy: dict | None = None, **fields) -> dict:
    return sla.apply_clocks(ticket(received, **fields), None, the_policy or policy(), OFFICE, now or received)


def changed(current: dict, now: datetime, calendar=OFFICE, **changes) -> dict:
    """A write of `changes` at `now`, keeping the policy snapshot."""
    return sla.apply_clocks({**current, **changes}, current["sla"], None, calendar, now)


# clocks in business time


def test_a_first_response_clock_started_on_friday_evening_runs_out_on_monday_morning() -> None:
    t = created(at(4, 17, 30))
    assert t["sla"]["first_response"]["running_since"] == stamp(at(4, 17, 30))
    # 30 minutes on Friday, nothing over the weekend, 30 on Monday.
    assert t["first_response_due_at"] == stamp(at(7, 9, 30))
    # 540 business minutes: 30 on Friday, 510 on Monday (the Monday is 540 long).
    assert t["resolution_due_at"] == stamp(at(7, 17, 30))
    assert t["breached"] is False
    assert t["sla_next_check_at"] == stamp(at(7, 9, 30))


def test_clocks_start_when_the_request_arrived_not_when_the_ticket_was_filed() -> None:
    t = created(at(7, 9, 0), now=at(7, 9, 45))
    assert t["first_response_due_at"] == stamp(at(7, 10, 0))
    assert t["sla"]["first_response"]["used_minutes"] == 0


def test_without_received_at_the_clocks_start_at_created_at() -> None:
    fields = ticket(at(7, 9, 0))
    del fields["received_at"]
    t = sla.apply_clocks(fields, None, policy(), OFFICE, at(7, 9, 0))
    assert t["first_response_due_at"] == stamp(at(7, 10, 0))


def test_a_first_response_stops_its_clock_and_meets_the_target() -> None:
    t = created(at(7, 9, 0))
    t = changed(t, at(7, 9, 40), status="open", first_responded_at=stamp(at(7, 9, 40)))
    clock = t["sla"]["first_response"]
    assert (clock["used_minutes"], clock["running_since"], clock["stopped_at"]) == (40, None, stamp(at(7, 9, 40)))
    assert clock["due_at"] == stamp(at(7, 10, 0))  # kept once stopped
    assert clock["breached_at"] is None and t["breached"] is False
    assert t["sla_next_check_at"] == t["resolution_due_at"]


def test_pending_on_the_customer_pauses_both_clocks_and_open_resumes_them() -> None:
    t = created(at(7, 9, 0))
    t = changed(t, at(7, 11, 0), status="pending")
    for metric in sla.METRICS:
        clock = t["sla"][metric]
        assert (clock["used_minutes"], clock["running_since"], clock["due_at"]) == (120, None, None)
    assert (t["first_response_due_at"], t["resolution_due_at"]) == (None, None)
    # The first response was due at 10:00 and the clock paused at 11:00: a breach, at 10:00, which
    # the timer has yet to announce.
    assert t["sla"]["first_response"]["breached_at"] == stamp(at(7, 10, 0))
    assert t["sla_next_check_at"] == stamp(at(7, 10, 0))
    assert t["breached"] is True
    t = changed(t, at(8, 10, 0), status="open")
    resolution = t["sla"]["resolution"]
    assert (resolution["used_minutes"], resolution["running_since"]) == (120, stamp(at(8, 10, 0)))
    # 420 minutes left from Tuesday 10:00.
    assert t["resolution_due_at"] == stamp(at(8, 17, 0))


def test_a_status_a_policy_does_not_pause_on_keeps_the_clocks_running() -> None:
    t = created(at(7, 9, 0))
    t = changed(t, at(7, 9, 30), status="on_hold")
    assert t["sla"]["resolution"]["running_since"] == stamp(at(7, 9, 0))
    paused_on_hold = created(at(7, 9, 0), the_policy=policy(pause_statuses=["pending", "on_hold"]))
    paused_on_hold = changed(paused_on_hold, at(7, 9, 30), status="on_hold")
    assert paused_on_hold["sla"]["resolution"]["running_since"] is None


def test_resolving_stops_the_resolution_clock_and_reopening_resumes_it_with_the_minutes_used() -> None:
    t = created(at(7, 9, 0))
    t = changed(t, at(7, 9, 20), status="open", first_responded_at=stamp(at(7, 9, 20)))
    t = changed(t, at(7, 12, 0), status="resolved")
    resolution = t["sla"]["resolution"]
    assert (resolution["used_minutes"], resolution["stopped_at"]) == (180, stamp(at(7, 12, 0)))
    assert resolution["due_at"] == stamp(at(7, 18, 0))  # kept: the target it met
    assert t["sla_next_check_at"] is None
    t = changed(t, at(8, 9, 0), status="reopened")
    resolution = t["sla"]["resolution"]
    assert (resolution["used_minutes"], resolution["running_since"], resolution["stopped_at"]) == (
        180,
        stamp(at(8, 9, 0)),
        None,
    )
    assert t["resolution_due_at"] == stamp(at(8, 15, 0))  # 360 minutes left
    assert t["sla"]["first_response"]["stopped_at"] == stamp(at(7, 9, 20))  # the first response stays given


def test_closing_without_a_response_stops_the_first_response_clock_too() -> None:
    t = created(at(7, 9, 0))
    t = changed(t, at(7, 9, 10), status="closed")
    assert t["sla"]["first_response"]["stopped_at"] == stamp(at(7, 9, 10))
    assert t["sla_next_check_at"] is None


# matching again


def test_raising_the_priority_mid_way_keeps_the_minutes_used_under_the_new_targets() -> None:
    t = created(at(7, 9, 0), priority="low")
    t = changed(t, at(7, 10, 0), status="pending")  # 60 minutes used, paused
    t = changed(t, at(7, 14, 0), status="open")
    before = {**t}
    raised = sla.apply_clocks({**t, "priority": "high"}, before["sla"], policy(), OFFICE, at(7, 15, 0))
    resolution = raised["sla"]["resolution"]
    assert (resolution["target_minutes"], resolution["used_minutes"]) == (540, 60)
    assert resolution["running_since"] == stamp(at(7, 14, 0))
    assert raised["resolution_due_at"] == stamp(at(8, 13, 0))  # 480 left from Monday 14:00: 240 + 240
    assert sla.needs_match(before, {**t, "priority": "high"})
    assert not sla.needs_match(before, {**t, "status": "open", "subject": "other"})
    assert not sla.needs_match(before, {**t, "priority": "high", "status": "resolved"})  # finished: kept


def test_a_shorter_target_already_used_up_is_a_breach_the_timer_reports_at_once() -> None:
    t = created(at(7, 9, 0), priority="low")
    # 100 minutes in: the urgent first response (30 minutes) ran out at 09:30.
    raised = sla.apply_clocks({**t, "priority": "urgent"}, t["sla"], policy(), OFFICE, at(7, 10, 40))
    assert raised["first_response_due_at"] == stamp(at(7, 9, 30))
    assert sla.due_alerts(raised, at(7, 10, 40)) == [
        {"kind": "breach", "metric": "first_response", "due_at": stamp(at(7, 9, 30))}
    ]


def test_a_re_match_keeps_fired_steps_of_the_same_id_fired() -> None:
    steps = [
        {"id": "warn", "metric": "first_response", "when": "before", "minutes": 10, "actions": []},
        {"id": "late", "metric": "first_response", "when": "after", "minutes": 0, "actions": []},
    ]
    t = created(at(7, 9, 0), the_policy=policy(escalations=steps))
    alerts = sla.due_alerts(t, at(7, 9, 51))
    assert [a["step"]["id"] for a in alerts] == ["warn"]
    t = sla.mark_fired(t, alerts, at(7, 9, 51))
    other = policy(id="p-vip", name="VIP", escalations=[{**steps[0], "minutes": 5}])
    matched = sla.apply_clocks({**t, "customer_grade": "A"}, t["sla"], other, OFFICE, at(7, 9, 52))
    assert matched["sla"]["policy_id"] == "p-vip"
    assert [(s["id"], s["fired_at"]) for s in matched["sla"]["steps"]] == [("warn", stamp(at(7, 9, 51)))]
    assert matched["sla"]["first_response"]["used_minutes"] == 0  # still running since 09:00


# steps, breaches and the timer


def office_policy_with_ladder() -> dict:
    return policy(
        escalations=[
            {
                "id": "warn",
                "metric": "first_response",
                "when": "before",
                "minutes": 30,
                "actions": [{"type": "notify", "recipients": ["assignee"]}],
            },
            {
                "id": "manager",
                "metric": "first_response",
                "when": "after",
                "minutes": 60,
                "actions": [{"type": "notify", "recipients": ["team_managers"]}],
            },
        ]
    )


def test_a_warning_fires_business_minutes_before_the_due_time_across_the_weekend() -> None:
    t = created(at(4, 17, 50), the_policy=office_policy_with_ladder())
    # due Monday 09:50 (10 minutes on Friday, 50 on Monday); the warning 30 business minutes before.
    assert t["first_response_due_at"] == stamp(at(7, 9, 50))
    warn, manager = t["sla"]["steps"]
    assert warn["fire_at"] == stamp(at(7, 9, 20))
    assert manager["fire_at"] == stamp(at(7, 10, 50))
    assert t["sla_next_check_at"] == stamp(at(7, 9, 20))


def test_a_warning_whose_moment_fell_in_closed_hours_fires_at_the_last_open_minute_before() -> None:
    t = created(at(4, 17, 30), the_policy=office_policy_with_ladder())  # due Monday 09:30
    assert t["sla"]["steps"][0]["fire_at"] == stamp(at(4, 18, 0))


def test_the_timer_records_a_breach_at_the_due_minute_not_when_it_noticed() -> None:
    t = created(at(7, 9, 0), the_policy=office_policy_with_ladder())
    assert sla.due_alerts(t, at(7, 9, 29)) == []
    late = at(7, 10, 7)  # the timer runs late
    alerts = sla.due_alerts(t, late)
    assert [a["kind"] for a in alerts] == ["step", "breach"]
    assert alerts[0]["step"]["id"] == "warn" and alerts[0]["due_at"] == stamp(at(7, 10, 0))
    assert alerts[1] == {"kind": "breach", "metric": "first_response", "due_at": stamp(at(7, 10, 0))}
    t = sla.mark_fired(t, alerts, late)
    clock = t["sla"]["first_response"]
    assert (clock["breached_at"], clock["breach_announced_at"]) == (stamp(at(7, 10, 0)), stamp(late))
    assert t["sla"]["steps"][0]["fired_at"] == stamp(late)
    assert t["breached"] is True
    assert t["sla_next_check_at"] == stamp(at(7, 11, 0))  # the manager step, an hour after the due time


def test_a_breach_and_a_step_at_the_same_minute_come_breach_first() -> None:
    at_breach = policy(
        escalations=[{"id": "s1", "metric": "first_response", "when": "after", "minutes": 0, "actions": []}]
    )
    t = created(at(7, 9, 0), the_policy=at_breach)
    assert [a["kind"] for a in sla.due_alerts(t, at(7, 10, 0))] == ["breach", "step"]


def test_live_view_shows_a_breach_before_the_timer_has_run() -> None:
    t = created(at(7, 9, 0))
    assert t["breached"] is False
    assert sla.live_view(t, at(7, 9, 59))["breached"] is False
    assert sla.live_view(t, at(7, 10, 0))["breached"] is True
    assert t["breached"] is False  # the stored ticket is untouched
    paused = changed(t, at(7, 9, 30), status="pending")
    assert sla.live_view(paused, at(9, 10, 0))["breached"] is False  # a paused clock does not run out


def test_due_alerts_and_mark_fired_are_idempotent() -> None:
    t = created(at(7, 9, 0), the_policy=office_policy_with_ladder())
    now = at(7, 11, 5)
    alerts = sla.due_alerts(t, now)
    assert [a.get("step", {}).get("id", a["kind"]) for a in alerts] == ["warn", "breach", "manager"]
    once = sla.mark_fired(t, alerts, now)
    assert sla.due_alerts(once, now) == []
    assert sla.due_alerts(once, now + timedelta(hours=6)) == []  # the resolution is due at 18:00
    twice = sla.mark_fired(once, alerts, now + timedelta(minutes=5))
    assert twice == once
    # the resolution clock still owes its due time
    assert once["sla_next_check_at"] == once["resolution_due_at"]


def test_a_clock_paused_past_its_due_time_leaves_the_breach_for_the_timer_to_announce_once() -> None:
    t = created(at(7, 9, 0), the_policy=office_policy_with_ladder())
    t = changed(t, at(7, 10, 30), status="pending")  # before the timer saw the 10:00 breach
    assert t["breached"] is True and t["sla"]["first_response"]["breached_at"] == stamp(at(7, 10, 0))
    assert t["sla_next_check_at"] == stamp(at(7, 10, 0))
    alerts = sla.due_alerts(t, at(7, 10, 31))
    assert [a["kind"] for a in alerts] == ["breach"]  # warnings lapse while paused
    t = sla.mark_fired(t, alerts, at(7, 10, 31))
    assert sla.due_alerts(t, at(8, 10, 0)) == [] and t["sla_next_check_at"] is None


def test_a_step_after_the_due_time_that_was_due_survives_a_stop_and_others_lapse() -> None:
    t = created(at(7, 9, 0), the_policy=office_policy_with_ladder())
    t = changed(t, at(7, 11, 30), status="open", first_responded_at=stamp(at(7, 11, 30)))
    steps = {s["id"]: s for s in t["sla"]["steps"]}
    assert steps["manager"]["fire_at"] == stamp(at(7, 11, 0))  # due at 11:00, still owed
    assert steps["warn"]["fire_at"] is None
    early = created(at(7, 9, 0), the_policy=office_policy_with_ladder())
    early = changed(early, at(7, 9, 10), status="open", first_responded_at=stamp(at(7, 9, 10)))
    assert all(s["fire_at"] is None for s in early["sla"]["steps"])


# which policy


def test_the_built_in_default_applies_when_no_policy_matches() -> None:
    vip = policy(conditions={"customer_grade": ["A"]})
    chosen = sla.matching_policy([vip], ticket(at(7, 9, 0), customer_grade="C"))
    assert chosen is sla.DEFAULT_POLICY
    t = sla.apply_clocks(ticket(at(7, 9, 0), priority="urgent"), None, chosen, ROUND_THE_CLOCK, at(7, 9, 0))
    assert t["sla"]["policy_id"] is None and t["sla"]["calendar_id"] is None
    assert t["first_response_due_at"] == stamp(at(7, 10, 0))
    assert t["resolution_due_at"] == stamp(at(7, 17, 0))
    warning = next(s for s in t["sla"]["steps"] if s["when"] == "before")
    assert (warning["metric"], warning["fire_at"]) == ("resolution", stamp(at(7, 16, 30)))
    normal = sla.apply_clocks(ticket(at(7, 9, 0), priority="normal"), None, chosen, ROUND_THE_CLOCK, at(7, 9, 0))
    assert normal["resolution_due_at"] == stamp(at(10, 9, 0))  # 72 hours


def test_the_first_active_matching_policy_by_position_wins_and_all_its_conditions_must_hold() -> None:
    policies = [
        policy(id="p3", position=3, conditions={}),
        policy(id="p1", position=1, conditions={"priority": ["urgent"], "kind": ["incident"]}),
        policy(id="p2", position=2, conditions={"category": ["Billing "]}),
        policy(id="p0", position=0, active=False),
    ]
    urgent_incident = ticket(at(7, 9, 0), priority="urgent", kind="incident", category="billing")
    assert sla.matching_policy(policies, urgent_incident)["id"] == "p1"
    urgent_request = {**urgent_incident, "kind": "request"}
    assert sla.matching_policy(policies, urgent_request)["id"] == "p2"  # category compares without case
    assert sla.matching_policy(policies, {**urgent_request, "category": None})["id"] == "p3"
    company = policy(id="pc", position=0, conditions={"company_id": ["co-1"], "customer_grade": ["A", "B"]})
    assert sla.matching_policy([company], {**urgent_request, "company_id": "co-1", "customer_grade": "B"})["id"] == "pc"
    assert sla.matching_policy([company], {**urgent_request, "company_id": "co-1"}) is sla.DEFAULT_POLICY


def test_a_ticket_from_before_slas_gets_its_clocks_on_its_next_write() -> None:
    legacy = ticket(at(7, 9, 0))
    assert sla.needs_match(legacy, {**legacy, "status": "open"})
    assert sla.live_view(legacy, at(9, 9, 0)) is legacy
    assert sla.due_alerts(legacy, at(9, 9, 0)) == []
