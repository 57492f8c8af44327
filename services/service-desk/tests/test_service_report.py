"""The service report on a real SQLite store, no broker: medians and 90th percentiles computed by
hand on a fixed set of tickets, SLA compliance, CSAT, the backlog, grouping by team and by period,
the caller's reach, and the query's bounds."""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import BadRequest
from crm_common.store import DocumentStore, open_store
from service_desk import reporting
from service_desk.service import ServiceDeskService
from service_desk.store import SPECS, TICKETS

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday
ADMIN = Caller("a1", ("admin",))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1", "s2"))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("u1",))
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-22"}


def clock(used: int = 0, stopped: str | None = None, running: str | None = None, due: str | None = None, breached=None):
    return {
        "target_minutes": 480,
        "used_minutes": used,
        "running_since": running,
        "due_at": due,
        "stopped_at": stopped,
        "breached_at": breached,
    }


def done(used: int, breached: str | None = None) -> dict:
    return clock(used, stopped="2026-11-20T00:00:00.000000Z", breached=breached)


FUTURE = "2026-11-30T00:00:00.000000Z"
RUNNING = clock(running="2026-11-12T08:00:00.000000Z", due=FUTURE)
PAUSED = clock(used=30)
PAST_DUE = clock(running="2026-11-12T08:00:00Z", due="2026-11-12T16:00:00Z")


def answered(score: int) -> dict:
    return {"status": "answered", "score": score, "requested_at": None, "answered_at": "2026-11-21T00:00:00Z"}


# id: (team, assignee, owner, created day, status, first response clock, resolution clock, satisfaction)
SEEDED = {
    "h1": ("t-help", "s2", "u9", "2026-11-02", "resolved", done(10), done(100), answered(5)),
    "h2": ("t-help", "s2", "u9", "2026-11-03", "closed", done(20), done(200), answered(4)),
    "h3": ("t-help", "s2", "u9", "2026-11-10", "resolved", done(30), done(300, "2026-11-11T00:00:00Z"), answered(1)),
    "h4": ("t-help", "s2", "u9", "2026-11-11", "open", done(40), RUNNING, None),
    # the first response is past due: breached, though the timer has not marked it yet
    "h5": ("t-help", "s2", "u9", "2026-11-12", "pending", PAST_DUE, PAUSED, None),
    "v1": ("t-vip", "s3", "u9", "2026-11-04", "resolved", done(5), done(50), answered(3)),
    "v2": ("t-vip", "s3", "u9", "2026-11-05", "new", RUNNING, RUNNING, None),
    "v3": ("t-vip", "s3", "u9", "2026-10-20", "open", done(1), RUNNING, None),  # before the range
    "x1": ("t-vip", "s3", "u9", "2026-11-23", "open", RUNNING, RUNNING, None),  # after it
    "r1": (None, None, "u1", "2026-11-06", "resolved", done(60), done(600), answered(2)),
}


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch) -> None:
    monkeypatch.setattr(ServiceDeskService, "_now", lambda self: NOW)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    for ticket_id, (team, assignee, owner, day, status, first, resolution, csat) in SEEDED.items():
        opened[TICKETS].insert(
            {
                "id": ticket_id,
                "subject": ticket_id,
                "contact_id": "c1",
                "kind": "incident",
                "priority": "normal",
                "category": "billing" if ticket_id in ("h1", "v1") else None,
                "customer_grade": None,
                "team_id": team,
                "assignee_id": assignee,
                "contact_owner_id": owner,
                "status": status,
                "breached": bool(first["breached_at"] or resolution["breached_at"]),  # as sla.py keeps it
                # a stopped first-response clock here is an answer (none stops at resolution below)
                "first_responded_at": first["stopped_at"],
                "sla": {"policy_id": None, "first_response": first, "resolution": resolution, "steps": []},
                "satisfaction": csat,
                "merged_into": None,
                "created_at": f"{day}T08:00:00.000000Z",
            }
        )
    # a duplicate merged into h1 counts nowhere: its survivor carries the request
    opened[TICKETS].insert(
        {
            "id": "dup",
            "team_id": "t-help",
            "status": "closed",
            "merged_into": "h1",
            "sla": {"first_response": done(1), "resolution": done(1)},
            "satisfaction": answered(1),
            "created_at": "2026-11-07T08:00:00.000000Z",
        }
    )
    yield opened
    opened.close()


def report(store: DocumentStore, caller: Caller, **query) -> dict:
    return worker_factory(ServiceDeskService, store=store, caller=caller).service_report(query)


def backlog(total: int, new: int = 0, open: int = 0, pending: int = 0) -> dict:
    return {"total": total, "by_status": {"new": new, "open": open, "pending": pending, "on_hold": 0, "reopened": 0}}


def test_the_totals_of_an_admin_hand_computed(store: DocumentStore) -> None:
    totals = report(store, ADMIN, **NOVEMBER)["totals"]
    assert totals["created"] == 8 and totals["resolved"] == 5
    # first responses 5 10 20 30 40 60: median (20+30)/2, p90 the 6th of 6 (nearest rank)
    assert totals["first_response_minutes"] == {"median": 25, "p90": 60, "count": 6}
    # resolutions 50 100 200 300 600: median the 3rd, p90 the 5th of 5
    assert totals["resolution_minutes"] == {"median": 200, "p90": 600, "count": 5}
    # met h1 h2 v1 r1; breached h3 (resolution) and h5 (first response past due); h4 v2 undecided
    assert totals["sla"] == {"met": 4, "breached": 2, "compliance": 0.6667}
    assert totals["csat"] == {
        "responses": 5,
        "average": 3.0,
        "distribution": {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1},
        "satisfied_rate": 0.4,
    }
    # open now, created whenever: h4 h5 v2 v3 x1
    assert totals["backlog"] == backlog(5, new=1, open=3, pending=1)


def test_rows_by_team_for_an_admin(store: DocumentStore) -> None:
    answer = report(store, ADMIN, group_by="team", **NOVEMBER)
    assert (answer["from"], answer["to"], answer["group_by"], answer["period"]) == (
        "2026-11-01",
        "2026-11-22",
        "team",
        None,
    )
    help_row, vip_row, no_team = answer["rows"]
    assert (help_row["key"], vip_row["key"], no_team["key"]) == ("t-help", "t-vip", None)
    # first responses 10 20 30 40: median 25, p90 the 4th of 4; resolutions 100 200 300
    assert help_row["first_response_minutes"] == {"median": 25, "p90": 40, "count": 4}
    assert help_row["resolution_minutes"] == {"median": 200, "p90": 300, "count": 3}
    assert (help_row["created"], help_row["resolved"]) == (5, 3)
    assert help_row["sla"] == {"met": 2, "breached": 2, "compliance": 0.5}
    assert (help_row["csat"]["average"], help_row["csat"]["satisfied_rate"]) == (3.33, 0.6667)
    assert help_row["backlog"] == backlog(2, open=1, pending=1)
    assert vip_row["backlog"] == backlog(3, new=1, open=2)
    assert vip_row["first_response_minutes"] == {"median": 5, "p90": 5, "count": 1}
    assert (vip_row["sla"]["compliance"], vip_row["csat"]["satisfied_rate"]) == (1.0, 0.0)
    assert (no_team["created"], no_team["csat"]["distribution"]["2"], no_team["backlog"]["total"]) == (1, 1, 0)


def test_an_agent_sees_only_the_rows_of_their_team(store: DocumentStore) -> None:
    answer = report(store, AGENT, group_by="team", **NOVEMBER)
    assert [row["key"] for row in answer["rows"]] == ["t-help"]
    assert answer["totals"]["created"] == 5 and answer["totals"]["backlog"]["total"] == 2


def test_a_sales_rep_sees_only_the_tickets_of_their_customers(store: DocumentStore) -> None:
    answer = report(store, REP, group_by="agent", **NOVEMBER)
    [row] = answer["rows"]
    assert row["key"] is None  # r1 has no assignee
    assert (row["created"], row["resolution_minutes"]["median"], row["csat"]["average"]) == (1, 600, 2.0)


def test_rows_by_week_list_every_week_and_the_backlog_outside_the_range(store: DocumentStore) -> None:
    answer = report(store, ADMIN, group_by="period", period="week", **NOVEMBER)
    assert answer["period"] == "week"
    rows = {row["key"]: row for row in answer["rows"]}
    assert list(rows) == ["earlier", "2026-W44", "2026-W45", "2026-W46", "2026-W47", "later"]
    assert [rows[k]["created"] for k in rows] == [0, 0, 5, 3, 0, 0]
    assert (rows["earlier"]["backlog"]["total"], rows["later"]["backlog"]["total"]) == (1, 1)
    # resolutions in W45: 50 (v1) 100 (h1) 200 (h2) 600 (r1)
    assert rows["2026-W45"]["resolution_minutes"] == {"median": 150, "p90": 600, "count": 4}
    assert rows["2026-W44"]["sla"]["compliance"] is None and rows["2026-W44"]["csat"]["average"] is None


def test_rows_by_category_day_and_month(store: DocumentStore) -> None:
    by_category = report(store, ADMIN, group_by="category", **NOVEMBER)
    assert [(row["key"], row["created"]) for row in by_category["rows"]] == [("billing", 2), (None, 6)]
    by_day = report(store, ADMIN, group_by="period", period="day", **{"from": "2026-11-02", "to": "2026-11-04"})
    assert [(row["key"], row["created"]) for row in by_day["rows"] if row["key"][0] == "2"] == [
        ("2026-11-02", 1),
        ("2026-11-03", 1),
        ("2026-11-04", 1),
    ]
    by_month = report(store, ADMIN, group_by="period", period="month", **{"from": "2026-10-15", "to": "2026-11-22"})
    assert [(row["key"], row["created"]) for row in by_month["rows"]] == [
        ("2026-10", 1),
        ("2026-11", 8),
        ("later", 0),
    ]


def test_the_default_is_the_last_30_days_by_week(store: DocumentStore) -> None:
    answer = report(store, ADMIN)
    assert (answer["from"], answer["to"], answer["group_by"], answer["period"]) == (
        "2026-10-25",
        "2026-11-23",
        "period",
        "week",
    )
    assert answer["totals"]["created"] == 9  # x1 of today too; v3 (2026-10-20) is older
    assert answer["generated_at"] == "2026-11-23T09:30:00.000000Z"


@pytest.mark.parametrize(
    "query",
    [
        {"owner_id": "u1"},
        {"group_by": "owner"},
        {"period": "quarter"},
        {"group_by": ["team"]},
        {"from": "2026-11-31"},
        {"from": "23/11/2026"},
        {"from": "2026-W48-1"},
        {"to": 20261122},
        {"from": "2026-11-22", "to": "2026-11-01"},
        {"from": "2025-01-01", "to": "2026-01-02"},
    ],
)
def test_bad_queries_are_bad_requests(store: DocumentStore, query: dict) -> None:
    with pytest.raises(BadRequest):
        report(store, ADMIN, **query)


def test_a_query_that_is_not_an_object_is_a_bad_request(store: DocumentStore) -> None:
    with pytest.raises(BadRequest):
        worker_factory(ServiceDeskService, store=store, caller=ADMIN).service_report(["group_by"])


def test_a_range_of_366_days_is_allowed() -> None:
    parsed = reporting.parse_service_query({"from": "2024-01-01", "to": "2024-12-31"}, date(2026, 1, 1))
    assert (parsed.start, parsed.end) == (date(2024, 1, 1), date(2024, 12, 31))


def test_from_alone_spans_30_days_up_to_today_at_most() -> None:
    parsed = reporting.parse_service_query({"from": "2026-11-20"}, date(2026, 11, 23))
    assert (parsed.start, parsed.end) == (date(2026, 11, 20), date(2026, 11, 23))
    parsed = reporting.parse_service_query({"from": "2026-01-01"}, date(2026, 11, 23))
    assert parsed.end == date(2026, 1, 30)


@pytest.mark.parametrize(
    "values,median,p90",
    [([], None, None), ([7], 7, 7), ([3, 1, 2], 2, 3), ([1, 2, 3, 4], 2.5, 4), (list(range(1, 11)), 5.5, 9)],
)
def test_median_and_nearest_rank_p90(values: list, median, p90) -> None:
    assert (reporting.median(values), reporting.percentile(values, 0.9)) == (median, p90)


def test_a_ticket_resolved_without_an_answer_has_no_first_response_time(store: DocumentStore) -> None:
    # Resolving stops the first-response clock too: its minutes are no first response.
    unanswered = {**store[TICKETS].get("h1"), "id": "h6", "first_responded_at": None}
    unanswered["sla"] = {**unanswered["sla"], "first_response": done(7)}
    store[TICKETS].insert({k: v for k, v in unanswered.items() if k != "version"})
    totals = report(store, ADMIN, **NOVEMBER)["totals"]
    assert totals["created"] == 9
    assert totals["first_response_minutes"]["count"] == 6  # h6's 7 minutes are not among them
    assert totals["resolution_minutes"]["count"] == 6


@pytest.mark.parametrize(
    "bounds",
    [{"from": "9999-12-01", "to": "9999-12-31"}, {"from": "9999-12-31"}, {"to": "0001-01-01"}, {"from": "1999-12-31"}],
)
def test_dates_outside_2000_to_2100_are_bad_requests(store: DocumentStore, bounds: dict) -> None:
    with pytest.raises(BadRequest, match="2000-2100"):
        report(store, ADMIN, **bounds)
