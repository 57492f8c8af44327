"""Quotas and the forecast, funnel and leaderboard reports, on a real SQLite store holding a fixed set of
deal rollups, against figures worked out by hand; and who sees which figures."""

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore, open_store
from sales import domain, reporting
from sales.service import SalesService
from sales.store import DEAL_ROLLUPS, PIPELINES, QUOTAS, SPECS

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2"))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2"))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
TEAMS = {
    "t-sales": {"name": "Sales", "member_ids": ["m1", "u1", "u2"]},
    "t-east": {"name": "East", "member_ids": ["u3"]},
}

RENEWALS = {
    "id": "renewals",
    "name": "Renewals",
    "stages": [
        {"id": "renew", "name": "Renewal due", "probability": 40, "forecast_category": "commit"},
        {"id": "renewed", "name": "Renewed", "probability": 100},
        {"id": "churned", "name": "Churned", "probability": 0},
    ],
}


def forecast_bucket(period, owner, pipeline, stage, currency, count, amount) -> dict:
    return {
        "id": f"forecast|{period}|{owner}|{pipeline}|{stage}|{currency}",
        "kind": "forecast",
        "period": period,
        "owner_id": owner,
        "pipeline_id": pipeline,
        "stage_id": stage,
        "currency": currency,
        "count": count,
        "amount": amount,
    }


def outcome_bucket(period, owner, pipeline, status, currency, count, amount, cycle_days) -> dict:
    return {
        "id": f"outcome|{period}|{owner}|{pipeline}|{status}|{currency}",
        "kind": "outcome",
        "period": period,
        "owner_id": owner,
        "pipeline_id": pipeline,
        "status": status,
        "currency": currency,
        "count": count,
        "amount": amount,
        "cycle_days": cycle_days,
    }


def funnel_bucket(period, owner, pipeline, furthest, status, count) -> dict:
    return {
        "id": f"funnel|{period}|{owner}|{pipeline}|{furthest}|{status}",
        "kind": "funnel",
        "period": period,
        "owner_id": owner,
        "pipeline_id": pipeline,
        "furthest_stage_id": furthest,
        "status": status,
        "count": count,
    }


ROLLUPS = [
    # open deals by month of expected close; the default pipeline's probabilities: proposal 50,
    # negotiation 75, qualification 10, needs analysis 25
    forecast_bucket("2024-04", "u1", "default", "proposal", "CNY", 2, "1000.00"),
    forecast_bucket("2024-05", "u1", "default", "negotiation", "USD", 1, "100.00"),  # 710.00 CNY
    forecast_bucket("2024-06", "u2", "default", "qualification", "CNY", 3, "3000.00"),
    forecast_bucket("2024-05", "u3", "renewals", "renew", "CNY", 1, "500.00"),
    forecast_bucket("2024-07", "u1", "default", "proposal", "CNY", 1, "999.00"),  # after the quarter
    forecast_bucket("none", "u1", "default", "qualification", "CNY", 1, "200.00"),  # no expected close date
    forecast_bucket("2024-05", "u2", "default", "needs_analysis", "CNY", 0, "0.00"),  # emptied by moves
    # closed deals by month of closing
    outcome_bucket("2024-04", "u1", "default", "won", "CNY", 2, "2000.00", 30),
    outcome_bucket("2024-05", "u1", "default", "lost", "CNY", 1, "400.00", 10),
    outcome_bucket("2024-06", "u2", "default", "won", "EUR", 1, "100.00", 45),  # 770.00 CNY
    outcome_bucket("2024-05", "u3", "renewals", "won", "CNY", 1, "600.00", 20),
    outcome_bucket("2024-05", "u3", "renewals", "lost", "CNY", 3, "900.00", 60),
    outcome_bucket("2024-03", "u1", "default", "won", "CNY", 5, "5000.00", 50),  # before the quarter
    # deals by month of creation and the furthest stage they reached
    funnel_bucket("2024-04", "u1", "default", "closed_won", "won", 2),
    funnel_bucket("2024-04", "u1", "default", "proposal", "lost", 1),
    funnel_bucket("2024-05", "u2", "default", "negotiation", "open", 1),
    funnel_bucket("2024-05", "u2", "default", "qualification", "open", 4),
    funnel_bucket("2024-06", "u1", "default", "needs_analysis", "lost", 2),
    funnel_bucket("2024-02", "u1", "default", "closed_won", "won", 9),  # before the quarter
    funnel_bucket("2024-05", "u3", "renewals", "renew", "open", 3),
    funnel_bucket("2024-05", "u3", "renewals", "renewed", "won", 1),
]

QUOTAS_SEEDED = [
    ("q-u1", "u1", "2024-Q2", "5000.00", "CNY"),
    ("q-u2-04", "u2", "2024-04", "1000.00", "CNY"),
    ("q-u2-05", "u2", "2024-05", "1000.00", "CNY"),
    ("q-u2-06", "u2", "2024-06", "1000.00", "CNY"),
    ("q-u3", "u3", "2024-Q2", "1000.00", "USD"),  # 7100.00 CNY
    ("q-u4", "u4", "2024-04", "100.00", "CNY"),  # nothing sold yet
]
Q2 = {"from": "2024-04"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    opened[PIPELINES].insert(domain.default_pipeline("t0"))
    opened[PIPELINES].insert(RENEWALS)
    opened[DEAL_ROLLUPS].insert_many(ROLLUPS)
    for quota_id, owner, period, amount, currency in QUOTAS_SEEDED:
        opened[QUOTAS].insert(
            {"id": quota_id, "owner_id": owner, "period": period, "amount": amount, "currency": currency}
        )
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller)


def figures(row: dict) -> tuple:
    return (
        row["pipeline"],
        row["weighted"],
        row["commit"],
        row["best_case"],
        row["closed_won"],
        row["open_count"],
        row["won_count"],
        row["quota"],
        row["attainment"],
    )


# Forecast

# (pipeline, weighted, commit, best case, closed won, open, won, quota, attainment) in Q2 2024:
# u1: open 1000 at 50% (best case) + 710 at 75% (commit); won 2000; quota 5000
# u2: open 3000 at 10%; won 770; quota 3 x 1000 monthly
# u3: open 500 at 40% in a commit stage; won 600; quota 1000 USD = 7100
# u4: nothing but a 100 quota for April
U1 = ("1710.00", "1032.50", "2710.00", "3710.00", "2000.00", 3, 2, "5000.00", "0.4000")
U2 = ("3000.00", "300.00", "770.00", "770.00", "770.00", 3, 1, "3000.00", "0.2567")
U3 = ("500.00", "200.00", "1100.00", "1100.00", "600.00", 1, 1, "7100.00", "0.0845")
U4 = ("0.00", "0.00", "0.00", "0.00", "0.00", 0, 0, "100.00", "0.0000")


def test_the_forecast_by_owner_adds_up_the_quarter_by_hand(store: DocumentStore) -> None:
    report = service(store, ADMIN).forecast_report({**Q2, "group_by": "owner"}, TEAMS)
    assert (report["currency"], report["period"], report["from"], report["to"]) == (
        "CNY",
        "quarter",
        "2024-04",
        "2024-06",
    )
    assert [(row["owner_id"], row["period"], figures(row)) for row in report["rows"]] == [
        ("u1", "2024-Q2", U1),
        ("u2", "2024-Q2", U2),
        ("u3", "2024-Q2", U3),
        ("u4", "2024-Q2", U4),
    ]
    [total] = report["totals"]
    assert figures(total) == ("5210.00", "1532.50", "4580.00", "5580.00", "3370.00", 7, 4, "15200.00", "0.2217")
    assert report["unscheduled"] == {"pipeline": "200.00", "weighted": "20.00", "open_count": 1}


def test_the_forecast_by_month_counts_monthly_quotas_and_never_splits_a_quarterly_one(store: DocumentStore) -> None:
    report = service(store, ADMIN).forecast_report({"period": "month", "from": "2024-04", "to": "2024-06"}, TEAMS)
    assert [(row["period"], figures(row)) for row in report["rows"]] == [
        ("2024-04", ("1000.00", "500.00", "2000.00", "3000.00", "2000.00", 2, 2, "1100.00", "1.8182")),
        ("2024-05", ("1210.00", "732.50", "1810.00", "1810.00", "600.00", 2, 1, "1000.00", "0.6000")),
        ("2024-06", ("3000.00", "300.00", "770.00", "770.00", "770.00", 3, 1, "1000.00", "0.7700")),
    ]
    assert report["rows"] == report["totals"]


def test_the_forecast_by_team_sums_the_members_figures_and_quotas(store: DocumentStore) -> None:
    report = service(store, ADMIN).forecast_report({**Q2, "group_by": "team"}, TEAMS)
    assert [(row["team_id"], row["name"], figures(row)) for row in report["rows"]] == [
        ("t-east", "East", U3),
        ("t-sales", "Sales", ("4710.00", "1332.50", "3480.00", "4480.00", "2770.00", 6, 3, "8000.00", "0.3462")),
    ]


def test_the_forecast_by_pipeline_and_for_one_pipeline(store: DocumentStore) -> None:
    sales = service(store, ADMIN)
    report = sales.forecast_report({**Q2, "group_by": "pipeline"}, TEAMS)
    assert [
        (row["pipeline_id"], row["name"], row["pipeline"], row["weighted"], row["closed_won"]) for row in report["rows"]
    ] == [
        ("default", "Sales", "4710.00", "1332.50", "2770.00"),
        ("renewals", "Renewals", "500.00", "200.00", "600.00"),
    ]
    assert all(row["quota"] is None and row["attainment"] is None for row in report["rows"])
    [total] = sales.forecast_report({**Q2, "pipeline_id": "renewals"}, TEAMS)["totals"]
    assert (total["pipeline"], total["closed_won"]) == ("500.00", "600.00")


def test_the_forecast_converts_at_the_rates_in_the_settings(store: DocumentStore) -> None:
    store["sales_settings"].insert({"id": "settings", "report_currency": "USD", "exchange_rates": {"CNY": "0.14"}})
    report = service(store, REP).forecast_report(Q2, TEAMS)
    # u1: 1000 CNY x 0.14 + 100 USD open; 2000 CNY won; quota 5000 CNY
    assert report["currency"] == "USD"
    assert figures(report["totals"][0]) == (
        "240.00", "145.00", "380.00", "520.00", "280.00", 3, 2, "700.00", "0.4000"
    )  # fmt: skip


def test_each_role_sees_the_figures_of_the_owners_in_its_reach(store: DocumentStore) -> None:
    by_owner = {**Q2, "group_by": "owner"}
    manager = service(store, MANAGER).forecast_report(by_owner, TEAMS)
    assert [(row["owner_id"], figures(row)) for row in manager["rows"]] == [("u1", U1), ("u2", U2)]
    assert figures(manager["totals"][0])[:5] == ("4710.00", "1332.50", "3480.00", "4480.00", "2770.00")
    assert manager["unscheduled"]["pipeline"] == "200.00"
    rep = service(store, REP).forecast_report(by_owner, TEAMS)
    assert [(row["owner_id"], figures(row)) for row in rep["rows"]] == [("u1", U1)]
    assert figures(rep["totals"][0]) == U1
    viewer = service(store, VIEWER).forecast_report(by_owner, TEAMS)
    assert [row["owner_id"] for row in viewer["rows"]] == ["u1", "u2"]  # their team's reps


def test_a_rep_asking_for_someone_elses_figures_gets_none(store: DocumentStore) -> None:
    report = service(store, REP).forecast_report({**Q2, "owner_id": "u2", "group_by": "owner"}, TEAMS)
    assert report["rows"] == []
    assert figures(report["totals"][0]) == ("0.00", "0.00", "0.00", "0.00", "0.00", 0, 0, None, None)
    board = service(store, REP).leaderboard_report({**Q2, "team_id": "t-sales"}, TEAMS)
    assert [row["owner_id"] for row in board["data"]] == ["u1"]


def test_a_team_out_of_reach_is_no_team(store: DocumentStore) -> None:
    with pytest.raises(BadRequest):
        service(store, MANAGER).forecast_report({**Q2, "team_id": "t-east"}, TEAMS)
    report = service(store, ADMIN).forecast_report({**Q2, "team_id": "t-east"}, TEAMS)
    assert figures(report["totals"][0]) == U3


def test_support_agents_read_no_sales_report(store: DocumentStore) -> None:
    sales = service(store, AGENT)
    for report in (sales.forecast_report, sales.funnel_report, sales.leaderboard_report):
        with pytest.raises(Forbidden):
            report(Q2, TEAMS)
    with pytest.raises(Forbidden):
        sales.list_quotas({})


@pytest.mark.parametrize(
    "query",
    [
        {"period": "week"},
        {"from": "2024-13"},
        {"from": "2024-4"},
        {"from": "2024-06", "to": "2024-01", "period": "month"},
        {"from": "2020-01", "to": "2024-01"},
        {"group_by": "stage"},
        {"colour": "red"},
    ],
)
def test_a_malformed_report_query_is_a_bad_request(store: DocumentStore, query: dict) -> None:
    with pytest.raises(BadRequest):
        service(store, ADMIN).forecast_report(query, TEAMS)


def test_funnel_and_leaderboard_take_no_grouping(store: DocumentStore) -> None:
    with pytest.raises(BadRequest):
        service(store, ADMIN).funnel_report({"group_by": "owner"}, TEAMS)


# Funnel


def stages(pipeline: dict) -> list[tuple]:
    return [(s["stage_id"], s["reached"], s["conversion_to_next"]) for s in pipeline["stages"]]


def outcomes(row: dict) -> tuple:
    return (
        row["won_count"],
        row["lost_count"],
        row["won_amount"],
        row["win_rate"],
        row["average_deal_size"],
        row["average_cycle_days"],
    )


def test_the_funnel_counts_each_deal_at_every_stage_up_to_its_furthest(store: DocumentStore) -> None:
    report = service(store, ADMIN).funnel_report(Q2, TEAMS)
    renewals, default = report["pipelines"]
    assert (default["pipeline_id"], default["deals"], default["open"], default["won"], default["lost"]) == (
        "default",
        10,
        5,
        2,
        3,
    )
    # created in Q2: 2 won, 1 lost after proposal, 1 open in negotiation, 4 in qualification,
    # 2 lost after needs analysis
    assert stages(default) == [
        ("qualification", 10, "0.6000"),
        ("needs_analysis", 6, "0.6667"),
        ("proposal", 4, "0.7500"),
        ("negotiation", 3, "0.6667"),
        ("closed_won", 2, None),
    ]
    # closed in Q2: won 2000 (2 deals, 30 days together) and 770 (45 days), lost 1
    assert outcomes(default) == (3, 1, "2770.00", "0.7500", "923.33", "25.0")
    assert stages(renewals) == [("renew", 4, "0.2500"), ("renewed", 1, None)]
    assert outcomes(renewals) == (1, 3, "600.00", "0.2500", "600.00", "20.0")
    assert report["totals"] == {
        "deals": 14,
        "won_count": 4,
        "lost_count": 4,
        "won_amount": "3370.00",
        "win_rate": "0.5000",
        "average_deal_size": "842.50",
        "average_cycle_days": "23.8",
    }


def test_a_reps_funnel_holds_only_their_own_deals(store: DocumentStore) -> None:
    [default] = service(store, REP).funnel_report(Q2, TEAMS)["pipelines"]
    assert default["deals"] == 5
    assert stages(default) == [
        ("qualification", 5, "1.0000"),
        ("needs_analysis", 5, "0.6000"),
        ("proposal", 3, "0.6667"),
        ("negotiation", 2, "1.0000"),
        ("closed_won", 2, None),
    ]
    assert outcomes(default) == (2, 1, "2000.00", "0.6667", "1000.00", "15.0")


def test_a_funnel_for_a_pipeline_without_deals_shows_its_empty_stages(store: DocumentStore) -> None:
    report = service(store, ADMIN).funnel_report({"from": "2023-01", "pipeline_id": "renewals"}, TEAMS)
    [renewals] = report["pipelines"]
    assert stages(renewals) == [("renew", 0, None), ("renewed", 0, None)]
    assert outcomes(renewals) == (0, 0, "0.00", None, None, None)


# Leaderboard


def test_the_leaderboard_ranks_owners_by_won_amount(store: DocumentStore) -> None:
    board = service(store, ADMIN).leaderboard_report(Q2, TEAMS)
    assert [(r["rank"], r["owner_id"], *outcomes(r), r["quota"], r["attainment"]) for r in board["data"]] == [
        (1, "u1", 2, 1, "2000.00", "0.6667", "1000.00", "15.0", "5000.00", "0.4000"),
        (2, "u2", 1, 0, "770.00", "1.0000", "770.00", "45.0", "3000.00", "0.2567"),
        (3, "u3", 1, 3, "600.00", "0.2500", "600.00", "20.0", "7100.00", "0.0845"),
        (4, "u4", 0, 0, "0.00", None, None, None, "100.00", "0.0000"),
    ]
    manager = service(store, MANAGER).leaderboard_report(Q2, TEAMS)
    assert [r["owner_id"] for r in manager["data"]] == ["u1", "u2"]


def test_equal_figures_share_a_rank() -> None:
    query = reporting.parse_report_query({"from": "2024-04"}, date(2024, 5, 1), reporting.LEADERBOARD_PARAMS)
    settings = {"report_currency": "CNY", "exchange_rates": {"CNY": "1"}}
    buckets = [
        outcome_bucket("2024-04", owner, "default", "won", "CNY", 1, amount, 1)
        for owner, amount in (("a", "10.00"), ("b", "30.00"), ("c", "10.00"), ("d", "5.00"))
    ]
    board = reporting.leaderboard(query, buckets, {}, settings)
    assert [(row["rank"], row["owner_id"]) for row in board["data"]] == [(1, "b"), (2, "a"), (2, "c"), (4, "d")]


# Periods and quotas (pure)


def test_a_report_defaults_to_the_current_quarter_and_widens_to_whole_quarters() -> None:
    parse = reporting.parse_report_query
    today = date(2024, 5, 17)
    assert parse({}, today, reporting.FORECAST_PARAMS).months == ("2024-04", "2024-05", "2024-06")
    assert parse({"period": "month"}, today, reporting.FORECAST_PARAMS).months == ("2024-05",)
    widened = parse({"from": "2024-02", "to": "2024-04"}, today, reporting.FORECAST_PARAMS)
    assert widened.months[0] == "2024-01" and widened.months[-1] == "2024-06"
    assert widened.periods == ["2024-Q1", "2024-Q2"]
    assert parse({"to": "2023-12", "period": "month"}, today, reporting.FORECAST_PARAMS).months == ("2023-12",)


def test_a_quarterly_quota_counts_only_for_the_whole_quarter() -> None:
    quotas = {"2024-Q2": Decimal("900"), "2024-07": Decimal("50"), "2024-05": Decimal("7")}
    assert reporting.quota_for(quotas, ["2024-04", "2024-05", "2024-06"]) == Decimal("900")
    assert reporting.quota_for(quotas, ["2024-05"]) == Decimal("7")
    assert reporting.quota_for(quotas, ["2024-04"]) is None
    assert reporting.quota_for(quotas, ["2024-04", "2024-05", "2024-06", "2024-07"]) == Decimal("950")


def test_a_stage_without_a_forecast_category_falls_into_one_by_its_probability() -> None:
    category = reporting.forecast_category
    assert [category({"probability": p}) for p in (10, 49, 50, 74, 75, 90)] == [
        "pipeline",
        "pipeline",
        "best_case",
        "best_case",
        "commit",
        "commit",
    ]
    assert category({"probability": 90, "forecast_category": "omitted"}) == "omitted"


def test_an_open_deal_in_an_omitted_stage_counts_in_the_pipeline_but_not_in_commit() -> None:
    pipeline = {"id": "p", "stages": [{"id": "s", "probability": 80, "forecast_category": "omitted"}]}
    query = reporting.parse_report_query({"from": "2024-04"}, date(2024, 5, 1), reporting.FORECAST_PARAMS)
    settings = {"report_currency": "CNY", "exchange_rates": {"CNY": "1"}}
    bucket = forecast_bucket("2024-04", "u1", "p", "s", "CNY", 1, "100.00")
    [total] = reporting.forecast(query, [bucket], [], {"p": pipeline}, {}, {}, settings)["totals"]
    assert (total["pipeline"], total["weighted"], total["commit"], total["best_case"]) == (
        "100.00",
        "80.00",
        "0.00",
        "0.00",
    )


# Quotas


def test_managers_set_quotas_for_their_members_only(store: DocumentStore) -> None:
    new = {"owner_id": "u2", "period": "2024-Q3", "amount": "4000.00", "currency": "CNY"}
    created = service(store, MANAGER).create_quota(new)
    assert (created["owner_id"], created["period"], created["amount"], created["created_by"]) == (
        "u2",
        "2024-Q3",
        "4000.00",
        "m1",
    )
    with pytest.raises(Forbidden):
        service(store, MANAGER).create_quota({**new, "owner_id": "u3"})
    for caller in (REP, VIEWER, AGENT):
        with pytest.raises(Forbidden):
            service(store, caller).create_quota({**new, "period": "2024-Q4"})
    assert service(store, ADMIN).create_quota({**new, "owner_id": "u3"})["owner_id"] == "u3"


def test_one_quota_per_owner_and_period(store: DocumentStore) -> None:
    with pytest.raises(Conflict) as caught:
        service(store, ADMIN).create_quota({"owner_id": "u1", "period": "2024-Q2", "amount": "1.00", "currency": "CNY"})
    assert [m["id"] for m in caught.value.matches] == ["q-u1"]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"period": "2024-Q5"}, "period"),
        ({"period": "2024/05"}, "period"),
        ({"amount": 100}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"currency": "BTC"}, "currency"),
        ({"id": "mine"}, "id"),
    ],
)
def test_an_invalid_quota_is_refused_field_by_field(store: DocumentStore, change: dict, field: str) -> None:
    new = {"owner_id": "u2", "period": "2024-Q3", "amount": "4000.00", "currency": "CNY", **change}
    with pytest.raises(ValidationFailed) as caught:
        service(store, ADMIN).create_quota(new)
    assert [e["field"] for e in caught.value.errors] == [field]


def test_quotas_are_read_within_reach(store: DocumentStore) -> None:
    def listed(caller: Caller, query: dict | None = None) -> set[str]:
        return {q["id"] for q in service(store, caller).list_quotas(query or {})["data"]}

    everything = {q[0] for q in QUOTAS_SEEDED}
    assert listed(ADMIN) == everything
    assert listed(MANAGER) == {"q-u1", "q-u2-04", "q-u2-05", "q-u2-06"}
    assert listed(REP) == {"q-u1"}
    assert listed(ADMIN, {"where": {"period": "2024-Q2"}}) == {"q-u1", "q-u3"}
    assert service(store, REP).get_quota("q-u1")["amount"] == "5000.00"
    with pytest.raises(NotFound):
        service(store, REP).get_quota("q-u3")
    with pytest.raises(NotFound):
        service(store, REP).get_quota("missing")


def test_a_quota_changes_its_amount_but_keeps_its_owner_and_period(store: DocumentStore) -> None:
    sales = service(store, MANAGER)
    changed = sales.update_quota("q-u1", {"amount": "6000.00"}, 1)
    assert (changed["amount"], changed["version"]) == ("6000.00", 2)
    with pytest.raises(PreconditionFailed):
        sales.update_quota("q-u1", {"amount": "7000.00"}, 1)
    with pytest.raises(ValidationFailed) as caught:
        sales.update_quota("q-u1", {"period": "2024-Q3", "owner_id": "u2"})
    assert {e["field"] for e in caught.value.errors} == {"period", "owner_id"}
    with pytest.raises(NotFound):
        sales.update_quota("q-u3", {"amount": "1.00"})
    with pytest.raises(Forbidden):
        service(store, REP).update_quota("q-u1", {"amount": "1.00"})
    report = service(store, ADMIN).forecast_report({**Q2, "owner_id": "u1"}, TEAMS)
    assert report["totals"][0]["quota"] == "6000.00"


def test_a_quota_is_deleted_by_who_may_set_it(store: DocumentStore) -> None:
    with pytest.raises(Forbidden):
        service(store, REP).delete_quota("q-u1")
    with pytest.raises(NotFound):
        service(store, MANAGER).delete_quota("q-u3")
    with pytest.raises(PreconditionFailed):
        service(store, MANAGER).delete_quota("q-u1", 7)
    service(store, MANAGER).delete_quota("q-u1", 1)
    with pytest.raises(NotFound):
        service(store, ADMIN).get_quota("q-u1")
