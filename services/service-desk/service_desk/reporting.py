"""Service report figures (pure): the report query, the grouping of tickets into rows, medians and
90th percentiles of the SLA clocks' business minutes, SLA compliance and CSAT. Tickets in, a
JSON-ready answer out; the clock is always an argument."""

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from crm_common.errors import BadRequest

from . import sla
from .domain import DONE_STATUSES, WORKING_STATUSES, parse_stamp, stamp

PARAMS = ("group_by", "period", "from", "to")
ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
GROUPINGS = ("team", "agent", "category", "customer_grade", "priority", "kind", "period")
PERIODS = ("day", "week", "month")
# The field each grouping reads (`period` reads created_at).
GROUP_FIELDS = {
    "team": "team_id",
    "agent": "assignee_id",
    "category": "category",
    "customer_grade": "customer_grade",
    "priority": "priority",
    "kind": "kind",
}
DEFAULT_DAYS = 30
# A report reads every ticket created in its range: a year at most.
MAX_DAYS = 366
# Dates outside these years are typing mistakes (as for business calendars).
FIRST_YEAR, LAST_YEAR = 2000, 2100
SATISFIED_SCORE = 4  # a CSAT answer of 4 or 5 counts as satisfied
# Backlog tickets created outside the range, in a report grouped by period.
EARLIER, LATER = "earlier", "later"
# The ticket fields a report reads: nothing else is kept in memory.
REPORT_FIELDS = (
    "id",
    "status",
    "created_at",
    "first_responded_at",
    "merged_into",
    "breached",
    "satisfaction",
    "sla",
    *GROUP_FIELDS.values(),
)


@dataclass(frozen=True)
class ServiceReportQuery:
    group_by: str
    period: str
    start: date  # first day, inclusive (UTC)
    end: date  # last day, inclusive (UTC)

    @property
    def created_from(self) -> str:
        return stamp(datetime.combine(self.start, datetime.min.time(), UTC))

    @property
    def created_before(self) -> str:
        return stamp(datetime.combine(self.end + timedelta(days=1), datetime.min.time(), UTC))


def _date_param(raw: dict, name: str) -> date | None:
    value = raw.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not ISO_DAY.match(value):
        raise BadRequest(f"{name} must be a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} must be a date written YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise BadRequest(f"{name} must be a date in {FIRST_YEAR}-{LAST_YEAR}")
    return day


def _choice_param(raw: dict, name: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(name)
    if value in (None, ""):
        return default
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}")
    return value


def parse_service_query(raw: dict | None, today: date) -> ServiceReportQuery:
    """`group_by` (default period), `period` (day | week (ISO, Monday first) | month; default
    week), `from` / `to` (YYYY-MM-DD, UTC days, inclusive; default the 30 days up to today; at most
    366 days) selecting the tickets by `created_at`. Anything else is a BadRequest."""
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        raise BadRequest("a report query must be an object")
    unknown = sorted(set(raw) - set(PARAMS))
    if unknown:
        raise BadRequest(f"unknown report parameter {unknown[0]!r}; use {', '.join(PARAMS)}")
    group_by = _choice_param(raw, "group_by", GROUPINGS, "period")
    period = _choice_param(raw, "period", PERIODS, "week")
    start, end = _date_param(raw, "from"), _date_param(raw, "to")
    if end is None:
        end = today if start is None else min(today, start + timedelta(days=DEFAULT_DAYS - 1))
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise BadRequest("from must not be after to")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadRequest(f"a report spans at most {MAX_DAYS} days")
    return ServiceReportQuery(group_by, period, start, end)


# periods


def period_key(day: date, period: str) -> str:
    """`2026-11-23` (day), `2026-W48` (ISO week), `2026-11` (month)."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def period_keys(query: ServiceReportQuery) -> list[str]:
    """Every period the range touches, oldest first."""
    keys: dict[str, None] = {}
    day = query.start
    while day <= query.end:
        keys[period_key(day, query.period)] = None
        day += timedelta(days=1)
    return list(keys)


def group_key(ticket: dict, query: ServiceReportQuery) -> str | None:
    if query.group_by != "period":
        value = ticket.get(GROUP_FIELDS[query.group_by])
        return value if isinstance(value, str) or value is None else str(value)
    if not ticket.get("created_at"):
        return None
    day = parse_stamp(ticket["created_at"]).astimezone(UTC).date()
    if day < query.start:
        return EARLIER
    if day > query.end:
        return LATER
    return period_key(day, query.period)


# statistics


def median(values: list[float]) -> float | None:
    """The middle value; the mean of the two middle ones for an even count."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return _number(ordered[middle])
    return _number((ordered[middle - 1] + ordered[middle]) / 2)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value at or above which `share` of the values lie
    (p90 of 1..10 is 9; of 1..11 is 10)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered) - 1e-9))  # 0.9 * 10 must stay 9
    return _number(ordered[rank - 1])


def _number(value: float) -> float:
    return int(value) if float(value).is_integer() else round(value, 1)


def minutes_summary(values: list[float]) -> dict:
    return {"median": median(values), "p90": percentile(values, 0.9), "count": len(values)}


# what one ticket contributes


def _clock(ticket: dict, metric: str) -> dict | None:
    sla = ticket.get("sla")
    clock = sla.get(metric) if isinstance(sla, dict) else None
    return clock if isinstance(clock, dict) else None


def clock_minutes(ticket: dict, metric: str) -> float | None:
    """The business minutes the SLA clock of `metric` used, once it stopped (None before, and for
    a ticket without SLA clocks). The first-response clock also stops when a ticket is resolved or
    closed without an answer: only a ticket really answered (`first_responded_at`) has a
    first-response time."""
    if metric == "first_response" and not ticket.get("first_responded_at"):
        return None
    clock = _clock(ticket, metric)
    used = clock.get("used_minutes") if clock else None
    if clock and clock.get("stopped_at") and isinstance(used, (int, float)) and not isinstance(used, bool):
        return used
    return None


def sla_outcome(ticket: dict, now: datetime) -> str | None:
    """`breached` when the ticket reads as breached (sla.live_view: a clock breached, also a
    running clock past its due time the timer has not marked yet), `met` when the resolution clock
    stopped in time, None while undecided."""
    if sla.live_view(ticket, now).get("breached") is True:
        return "breached"
    resolution = _clock(ticket, "resolution")
    if resolution is not None and resolution.get("stopped_at"):
        return "met"
    return None


def csat_score(ticket: dict) -> int | None:
    answer = ticket.get("satisfaction")
    if not isinstance(answer, dict) or answer.get("status") != "answered":
        return None
    score = answer.get("score")
    return score if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5 else None


def slim(ticket: dict) -> dict:
    """What the report keeps of a ticket."""
    return {name: ticket.get(name) for name in REPORT_FIELDS}


# rows


class _Figures:
    def __init__(self) -> None:
        self.backlog: dict[str, int] = {status: 0 for status in WORKING_STATUSES}
        self.created = 0
        self.resolved = 0
        self.first_response: list[float] = []
        self.resolution: list[float] = []
        self.met = 0
        self.breached = 0
        self.scores: list[int] = []

    def add_created(self, ticket: dict, now: datetime) -> None:
        self.created += 1
        if ticket.get("status") in DONE_STATUSES:
            self.resolved += 1
        for metric, into in (("first_response", self.first_response), ("resolution", self.resolution)):
            minutes = clock_minutes(ticket, metric)
            if minutes is not None:
                into.append(minutes)
        outcome = sla_outcome(ticket, now)
        if outcome == "met":
            self.met += 1
        elif outcome == "breached":
            self.breached += 1
        score = csat_score(ticket)
        if score is not None:
            self.scores.append(score)

    def add_open(self, ticket: dict) -> None:
        status = ticket.get("status")
        if status in self.backlog:
            self.backlog[status] += 1

    def merge(self, other: "_Figures") -> None:
        for status, count in other.backlog.items():
            self.backlog[status] += count
        self.created += other.created
        self.resolved += other.resolved
        self.first_response += other.first_response
        self.resolution += other.resolution
        self.met += other.met
        self.breached += other.breached
        self.scores += other.scores

    def as_dict(self) -> dict:
        decided = self.met + self.breached
        responses = len(self.scores)
        return {
            "backlog": {"total": sum(self.backlog.values()), "by_status": dict(self.backlog)},
            "created": self.created,
            "resolved": self.resolved,
            "first_response_minutes": minutes_summary(self.first_response),
            "resolution_minutes": minutes_summary(self.resolution),
            "sla": {
                "met": self.met,
                "breached": self.breached,
                "compliance": round(self.met / decided, 4) if decided else None,
            },
            "csat": {
                "responses": responses,
                "average": round(sum(self.scores) / responses, 2) if responses else None,
                "distribution": {str(score): self.scores.count(score) for score in range(1, 6)},
                "satisfied_rate": (
                    round(sum(1 for s in self.scores if s >= SATISFIED_SCORE) / responses, 4) if responses else None
                ),
            },
        }


def _row_order(query: ServiceReportQuery, keys: Iterable[str | None]) -> list[str | None]:
    present = set(keys)
    if query.group_by == "period":
        ordered: list[str | None] = [EARLIER] if EARLIER in present else []
        ordered += period_keys(query)
        return ordered + [LATER] if LATER in present else ordered
    named = sorted(k for k in present if k is not None)
    return [*named, None] if None in present else named


def service_report(query: ServiceReportQuery, created: Iterable[dict], backlog: Iterable[dict], now: datetime) -> dict:
    """`created`: the tickets in reach created in the range; `backlog`: those in reach open now
    (any creation date). A merged duplicate counts in neither: its survivor carries the request.
    Rows per group key (null: no team, no agent, ...); a report by period lists every period of the
    range, and `earlier` / `later` for backlog created outside it."""
    groups: dict[str | None, _Figures] = defaultdict(_Figures)
    for ticket in created:
        if not ticket.get("merged_into"):
            groups[group_key(ticket, query)].add_created(ticket, now)
    for ticket in backlog:
        if not ticket.get("merged_into") and ticket.get("status") in WORKING_STATUSES:
            groups[group_key(ticket, query)].add_open(ticket)
    totals = _Figures()
    rows = []
    for key in _row_order(query, groups):
        figures = groups.get(key) or _Figures()
        totals.merge(figures)
        rows.append({"key": key, **figures.as_dict()})
    return {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "group_by": query.group_by,
        "period": query.period if query.group_by == "period" else None,
        "generated_at": stamp(now),
        "rows": rows,
        "totals": totals.as_dict(),
    }
