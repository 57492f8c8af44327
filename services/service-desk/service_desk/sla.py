"""SLA clocks: which policy a ticket falls under, its first-response and resolution clocks counted
in business minutes (running, paused, stopped, resumed), the escalation steps they schedule, and
what the SLA timer owes a ticket now. Pure: the calendar and the policies are passed in."""

import copy
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from .domain import DONE_STATUSES, parse_stamp, stamp
from .schemas import PRIORITIES

METRICS = ("first_response", "resolution")
# Both clocks stop at domain.DONE_STATUSES; a reopened ticket's resolution clock resumes with the
# minutes it had used.
# What a policy may pause its clocks on (the customer owes an answer; parked on purpose).
PAUSABLE_STATUSES = ("pending", "on_hold")
# The ticket fields a policy's conditions test: a change of any of them matches the ticket again.
MATCH_FIELDS = ("priority", "kind", "category", "customer_grade", "company_id")

# In force when no active policy matches: round the clock, targets by priority.
DEFAULT_POLICY: dict = {
    "id": None,
    "name": "Built-in default",
    "calendar_id": None,
    "pause_statuses": ["pending"],
    "targets": {
        "urgent": {"first_response_minutes": 60, "resolution_minutes": 480},
        "high": {"first_response_minutes": 240, "resolution_minutes": 1440},
        "normal": {"first_response_minutes": 480, "resolution_minutes": 4320},
        "low": {"first_response_minutes": 1440, "resolution_minutes": 10080},
    },
    "escalations": [
        {
            "id": "resolution_warning",
            "metric": "resolution",
            "when": "before",
            "minutes": 30,
            "actions": [{"type": "notify", "recipients": ["assignee"]}],
        },
        {
            "id": "first_response_breach",
            "metric": "first_response",
            "when": "after",
            "minutes": 0,
            "actions": [{"type": "notify", "recipients": ["assignee", "team_managers"]}],
        },
        {
            "id": "resolution_breach",
            "metric": "resolution",
            "when": "after",
            "minutes": 0,
            "actions": [{"type": "notify", "recipients": ["assignee", "team_managers"]}],
        },
    ],
}


class Calendar(Protocol):
    """What the clocks need of a business calendar (business_time.BusinessCalendar)."""

    def add_minutes(self, start: datetime, minutes: int) -> datetime: ...

    def minutes_between(self, start: datetime, end: datetime) -> int: ...


# which policy


def policy_matches(policy: dict, ticket: dict) -> bool:
    """Every condition the policy gives holds (a missing or null condition holds for every ticket);
    categories compare without case or surrounding spaces."""
    for name, allowed in (policy.get("conditions") or {}).items():
        if not allowed:
            continue
        value = ticket.get(name)
        if name == "category":
            if not isinstance(value, str) or value.strip().casefold() not in {a.strip().casefold() for a in allowed}:
                return False
        elif value not in allowed:
            return False
    return True


def matching_policy(policies: Iterable[dict], ticket: dict) -> dict:
    """The first active policy by position (then id) whose conditions the ticket meets, else the default."""
    ordered = sorted((p for p in policies if p.get("active", True)), key=lambda p: (p["position"], p["id"]))
    return next((p for p in ordered if policy_matches(p, ticket)), DEFAULT_POLICY)


def needs_match(before: dict | None, after: dict) -> bool:
    """Whether the ticket must be matched against the policies (again): new, without clocks yet,
    or a matched field changed while it is being worked on (a resolved or closed ticket keeps the
    SLA it finished under, for the reports)."""
    if before is None or not before.get("sla"):
        return True
    if after.get("status") in DONE_STATUSES:
        return False
    return any(before.get(name) != after.get(name) for name in MATCH_FIELDS)


# the clocks


def _new_clock(target: int, start: str) -> dict:
    return {
        "target_minutes": target,
        "used_minutes": 0,
        "running_since": start,
        "due_at": None,
        "stopped_at": None,
        "breached_at": None,
        # When the timer announced the breach (ticket_sla_breached): a clock that pauses or stops
        # past its due time records the breach at once and leaves the announcement to the timer.
        "breach_announced_at": None,
    }


def _clock_start(ticket: dict, now: datetime) -> str:
    start = ticket.get("received_at") or ticket.get("created_at")
    return stamp(parse_stamp(start) if start else now)


def _snapshot(policy: dict, ticket: dict, previous: dict | None, now: datetime) -> dict:
    """The ticket's SLA under `policy`: its targets and steps; clocks (used minutes, state, breach)
    and the fired steps of the same id carried over from `previous`."""
    priority = ticket.get("priority") if ticket.get("priority") in PRIORITIES else "normal"
    targets = policy["targets"][priority]
    sla: dict = {
        "policy_id": policy.get("id"),
        "policy_name": policy["name"],
        "calendar_id": policy.get("calendar_id"),
        "pause_statuses": list(policy.get("pause_statuses") or []),
    }
    start = _clock_start(ticket, now)
    for metric in METRICS:
        target = targets[f"{metric}_minutes"]
        old = previous.get(metric) if previous else None
        sla[metric] = (
            {**_new_clock(target, start), **old, "target_minutes": target} if old else _new_clock(target, start)
        )
    old_steps = {step["id"]: step for step in (previous or {}).get("steps", [])}
    sla["steps"] = []
    for escalation in policy.get("escalations") or []:
        old = old_steps.get(escalation["id"], {})
        sla["steps"].append(
            {
                "id": escalation["id"],
                "metric": escalation["metric"],
                "when": escalation["when"],
                "minutes": escalation["minutes"],
                "actions": copy.deepcopy(escalation["actions"]),
                "fire_at": old.get("fire_at"),
                "fired_at": old.get("fired_at"),
            }
        )
    return sla


def _wanted(metric: str, sla: dict, ticket: dict, now: datetime) -> tuple[str, datetime]:
    """What the clock should be doing: "run", "pause" or "stop", and since when (a first response
    stops its clock at `first_responded_at`)."""
    if metric == "first_response" and ticket.get("first_responded_at"):
        return "stop", parse_stamp(ticket["first_responded_at"])
    status = ticket.get("status")
    if status in DONE_STATUSES:
        return "stop", now
    if status in sla["pause_statuses"]:
        return "pause", now
    return "run", now


def _halt(clock: dict, steps: list[dict], calendar: Calendar, at: datetime, stopping: bool) -> None:
    """A running clock pauses or stops at `at`: the minutes it ran are banked; when its due time has
    passed the breach is recorded (at the due minute). Its warnings lapse (they come again on
    resuming); steps after the due time that were due already stay for the timer."""
    start = parse_stamp(clock["running_since"])
    end = max(at, start)
    if clock["breached_at"] is None and clock["due_at"] and parse_stamp(clock["due_at"]) <= end:
        clock["breached_at"] = clock["due_at"]
    clock["used_minutes"] += calendar.minutes_between(start, end) if end > start else 0
    clock["running_since"] = None
    if stopping:
        clock["stopped_at"] = stamp(end)
    else:
        clock["due_at"] = None
    for step in steps:
        if step["when"] == "before" or step["fire_at"] is None or parse_stamp(step["fire_at"]) > end:
            step["fire_at"] = None


def _after(calendar: Calendar, start: datetime, minutes: int) -> str | None:
    """`minutes` business minutes after `start`; None when the calendar never holds that much open time."""
    try:
        return stamp(calendar.add_minutes(start, minutes))
    except ValueError:
        return None


def _schedule(clock: dict, steps: list[dict], calendar: Calendar) -> None:
    """A running clock's due time and its unfired steps' times, in business minutes from when it
    resumed. A time already passed before it resumed is that moment (the step fires at once)."""
    start = parse_stamp(clock["running_since"])
    remaining = clock["target_minutes"] - clock["used_minutes"]
    if remaining >= 0:
        clock["due_at"] = _after(calendar, start, remaining)
    else:  # the target was passed before it last resumed (a re-match to a shorter target, say)
        clock["due_at"] = clock["breached_at"] or stamp(start)
    for step in steps:
        offset = remaining + (step["minutes"] if step["when"] == "after" else -step["minutes"])
        step["fire_at"] = _after(calendar, start, offset) if offset > 0 else stamp(start)


def _settle(sla: dict, ticket: dict, calendar: Calendar, now: datetime) -> None:
    """Bring each clock to what the ticket's status and first response call for, at `now`."""
    for metric in METRICS:
        clock = sla[metric]
        steps = [s for s in sla["steps"] if s["metric"] == metric and s["fired_at"] is None]
        state, at = _wanted(metric, sla, ticket, now)
        if clock["running_since"] and state != "run":
            _halt(clock, steps, calendar, at, stopping=state == "stop")
        if state == "run":
            if not clock["running_since"]:
                clock["running_since"], clock["stopped_at"] = stamp(now), None
            _schedule(clock, steps, calendar)
        elif state == "stop":
            clock["stopped_at"] = clock["stopped_at"] or stamp(at)
            for step in steps:
                if step["when"] == "before":
                    step["fire_at"] = None
        else:
            clock["stopped_at"], clock["due_at"] = None, None


def next_check_at(sla: dict) -> str | None:
    """When the timer next owes the ticket something: a running clock's due time, a recorded breach
    not yet announced, an unfired step's time."""
    times = []
    for metric in METRICS:
        clock = sla[metric]
        if clock["breached_at"] is None and clock["running_since"] and clock["due_at"]:
            times.append(clock["due_at"])
        elif clock["breached_at"] and not clock.get("breach_announced_at"):
            times.append(clock["breached_at"])
    times += [s["fire_at"] for s in sla["steps"] if s["fire_at"] and s["fired_at"] is None]
    return stamp(min(parse_stamp(t) for t in times)) if times else None


def _with_live_fields(ticket: dict, sla: dict) -> dict:
    return {
        **ticket,
        "sla": sla,
        "first_response_due_at": sla["first_response"]["due_at"],
        "resolution_due_at": sla["resolution"]["due_at"],
        "breached": any(sla[m]["breached_at"] for m in METRICS),
        "sla_next_check_at": next_check_at(sla),
    }


def apply_clocks(ticket: dict, previous: dict | None, policy: dict | None, calendar: Calendar, now: datetime) -> dict:
    """`ticket` with its SLA brought up to date at `now`. `policy` is the policy it (re)matched,
    None to keep the snapshot in `previous` (the SLA the ticket had before the change); `calendar`
    is the one the SLA counts in (the policy's)."""
    if policy is None and previous is None:
        raise ValueError("a ticket without an SLA needs a policy")
    sla = _snapshot(policy, ticket, previous, now) if policy is not None else copy.deepcopy(previous)
    _settle(sla, ticket, calendar, now)
    return _with_live_fields(ticket, sla)


# reads and the timer


def _overdue(clock: dict, now: datetime) -> bool:
    return bool(clock["running_since"] and clock["due_at"] and parse_stamp(clock["due_at"]) <= now)


def live_view(ticket: dict, now: datetime) -> dict:
    """The ticket as read at `now`: `breached` also when a running clock is past its due time,
    before the timer has recorded it."""
    sla = ticket.get("sla")
    if not sla or ticket.get("breached"):
        return ticket
    return {**ticket, "breached": any(_overdue(sla[m], now) for m in METRICS)}


def due_alerts(ticket: dict, now: datetime) -> list[dict]:
    """What the timer owes the ticket at `now`, in time order (at one time, a breach before the steps):
    {"kind": "breach", "metric", "due_at"} and {"kind": "step", "step", "metric", "due_at" (the clock's)}."""
    sla = ticket.get("sla")
    if not sla:
        return []
    found: list[tuple[datetime, int, dict]] = []
    for metric in METRICS:
        clock = sla[metric]
        if clock["breached_at"] is None and _overdue(clock, now):
            found.append(
                (parse_stamp(clock["due_at"]), 0, {"kind": "breach", "metric": metric, "due_at": clock["due_at"]})
            )
        elif clock["breached_at"] and not clock.get("breach_announced_at") and parse_stamp(clock["breached_at"]) <= now:
            at = clock["breached_at"]
            found.append((parse_stamp(at), 0, {"kind": "breach", "metric": metric, "due_at": at}))
    for step in sla["steps"]:
        if step["fired_at"] is None and step["fire_at"] and parse_stamp(step["fire_at"]) <= now:
            due_at = sla[step["metric"]]["due_at"]
            alert = {"kind": "step", "step": copy.deepcopy(step), "metric": step["metric"], "due_at": due_at}
            found.append((parse_stamp(step["fire_at"]), 1, alert))
    return [alert for _, _, alert in sorted(found, key=lambda item: (item[0], item[1]))]


def mark_fired(ticket: dict, alerts: list[dict], now: datetime) -> dict:
    """The ticket after the timer acted on `alerts`: each breach recorded at its due minute and
    announced, each step fired at `now`. Marking again changes nothing."""
    sla = ticket.get("sla")
    if not sla:
        return ticket
    sla = copy.deepcopy(sla)
    steps = {step["id"]: step for step in sla["steps"]}
    for alert in alerts:
        if alert["kind"] == "breach":
            clock = sla[alert["metric"]]
            clock["breached_at"] = clock["breached_at"] or alert["due_at"]
            clock["breach_announced_at"] = clock.get("breach_announced_at") or stamp(now)
        elif alert["step"]["id"] in steps:
            step = steps[alert["step"]["id"]]
            step["fired_at"] = step["fired_at"] or stamp(now)
    return _with_live_fields(ticket, sla)
