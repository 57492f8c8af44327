"""Churn risk: a customer whose monthly orders drop against its own history is flagged, with the evidence,
and cleared when its orders recover; the events are in the outbox (the rule, then the service on SQLite)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import BadRequest
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales import grading, valuation
from sales.service import SalesService
from sales.settings import DEFAULT_SETTINGS
from sales.store import CUSTOMER_STATS, CUSTOMERS, SPECS

ADMIN = Caller("a1", ("admin",))
CHURN = DEFAULT_SETTINGS["churn"]  # last 3 full months against the 12 before; medium from 30% down, high from 60%

# Two orders of 1 000 CNY a month from April 2023 to March 2024 (the baseline when judged in July 2024),
# then one in April and none in May or June.
STEADY = [
    (f"{year}-{month:02d}", 2) for year, month in [(2023, m) for m in range(4, 13)] + [(2024, m) for m in (1, 2, 3)]
]


def history(months: list[tuple[str, int]]) -> list[dict]:
    return [
        {"contact_id": "c1", "ordered_at": f"{month}-{day + 10:02d}T09:00:00Z", "amount": "1000.00", "currency": "CNY"}
        for month, count in months
        for day in range(count)
    ]


def monthly(orders: list[dict]) -> dict:
    return valuation.customer_figures(orders, DEFAULT_SETTINGS, datetime(2030, 1, 1, tzinfo=UTC))["monthly"]


def test_orders_falling_from_two_a_month_to_one_in_three_months_is_a_high_risk() -> None:
    orders = history([*STEADY, ("2024-04", 1)])
    judged = valuation.churn_risk(monthly(orders), "2023-04-10T09:00:00Z", datetime(2024, 7, 15, tzinfo=UTC), CHURN)
    # Baseline April 2023 - March 2024: 24 orders in 12 months, 2.0000 a month, 2 000.00 a month.
    # Recent April - June 2024: 1 order in 3 months, 0.3333 a month; 1 - 0.3333 / 2 = 0.8333 >= 0.6: high.
    assert judged["level"] == "high"
    assert judged["reason"] == (
        "orders per month down 83%: 0.3333 over the last 3 months against 2.0000 over the 12 before"
    )
    evidence = judged["evidence"]
    assert evidence["baseline"] == {"months": 12, "orders_per_month": "2.0000", "value_per_month": "2000.00"}
    assert evidence["recent"] == {"months": 3, "orders_per_month": "0.3333", "value_per_month": "333.33"}
    assert evidence["drop"] == {"orders": "0.8333", "value": "0.8333"}
    assert [(m["month"], m["count"]) for m in evidence["months"][-4:]] == [
        ("2024-03", 2),
        ("2024-04", 1),
        ("2024-05", 0),
        ("2024-06", 0),
    ]


def test_a_smaller_fall_is_a_medium_risk_and_a_steady_customer_none() -> None:
    now = datetime(2024, 7, 15, tzinfo=UTC)
    # Recent 4 orders in 3 months: 1.3333 a month, 1 - 1.3333 / 2 = 0.3333: at least 0.3, below 0.6.
    falling = history([*STEADY, ("2024-04", 2), ("2024-05", 1), ("2024-06", 1)])
    assert valuation.churn_risk(monthly(falling), "2023-04-10T09:00:00Z", now, CHURN)["level"] == "medium"
    steady = history([*STEADY, ("2024-04", 2), ("2024-05", 2), ("2024-06", 2)])
    assert valuation.churn_risk(monthly(steady), "2023-04-10T09:00:00Z", now, CHURN) | {"evidence": None} == {
        "level": None,
        "reason": None,
        "evidence": None,
    }


def test_too_little_history_is_no_signal_and_a_new_customer_is_measured_from_its_first_month() -> None:
    now = datetime(2024, 7, 15, tzinfo=UTC)
    two = history([("2024-01", 2)])  # 2 baseline orders: fewer than min_baseline_orders (3)
    assert valuation.churn_risk(monthly(two), "2024-01-10T09:00:00Z", now, CHURN)["level"] is None
    # Buying since February 2024: the baseline is February and March (2 a month), not 12 months.
    new = history([("2024-02", 2), ("2024-03", 2), ("2024-04", 2), ("2024-05", 2), ("2024-06", 2)])
    judged = valuation.churn_risk(monthly(new), "2024-02-10T09:00:00Z", now, CHURN)
    assert (judged["level"], judged["evidence"]["baseline"]["months"]) == (None, 2)


# through the service, with the clock set


class ClockedSales(SalesService):
    now = datetime(2024, 7, 15, 12, 0, tzinfo=UTC)

    def _clock(self) -> datetime:
        return ClockedSales.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    opened[CUSTOMERS].put(
        {
            "id": "contact:c1",
            "subject_type": "contact",
            "subject_id": "c1",
            "owner_id": "u1",
            "shared_with": [],
            "display_name": "Li Lei",
            "company_id": None,
            "deleted": False,
            "source_version": 1,
        }
    )
    yield opened
    opened.close()


def churn_events(store: DocumentStore) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == "churn_risk_changed"]


def test_a_churn_alert_is_raised_when_monthly_orders_drop_and_cleared_when_they_recover(store) -> None:
    ClockedSales.now = datetime(2024, 7, 15, 12, 0, tzinfo=UTC)
    sales = worker_factory(ClockedSales, store=store, caller=ADMIN)
    sales.import_orders(history([*STEADY, ("2024-04", 1)]))

    raised = churn_events(store)
    assert [(e["id"], e["churn_risk"], e["owner_id"], e["display_name"]) for e in raised] == [
        ("c1", "high", "u1", "Li Lei")
    ]
    assert raised[0]["subject_type"] == "contact"
    assert raised[0]["reason"].startswith("orders per month down 83%")
    assert raised[0]["evidence"]["recent"]["orders_per_month"] == "0.3333"
    assert store[CUSTOMER_STATS].get("contact:c1")["churn_risk"] == "high"
    listed = sales.churn_risk_report({})["data"]
    assert [(r["subject_id"], r["churn_risk"]) for r in listed] == [("c1", "high")]
    assert listed[0]["churn_evidence"]["drop"]["orders"] == "0.8333"

    # Three months on, with two orders a month again in July, August and September.
    ClockedSales.now = datetime(2024, 10, 15, 12, 0, tzinfo=UTC)
    sales.import_orders(history([("2024-07", 2), ("2024-08", 2), ("2024-09", 2)]))

    cleared = churn_events(store)[1:]
    assert [(e["id"], e["churn_risk"], e["reason"], e["owner_id"]) for e in cleared] == [("c1", None, None, "u1")]
    assert cleared[0]["previous_churn_risk"] == "high"
    assert store[CUSTOMER_STATS].get("contact:c1")["churn_risk"] is None
    assert sales.churn_risk_report({})["data"] == []


def test_the_grading_pass_raises_an_alert_when_orders_stop_and_acts_once(store) -> None:
    ClockedSales.now = datetime(2024, 4, 15, 12, 0, tzinfo=UTC)
    sales = worker_factory(ClockedSales, store=store, caller=ADMIN)
    sales.import_orders(history([*STEADY, ("2024-04", 2)]))
    assert churn_events(store) == []

    # No order since: judged in mid-July, April's two orders over three months fall 67% below the baseline.
    ClockedSales.now = datetime(2024, 7, 15, 12, 0, tzinfo=UTC)
    first = sales._grading_pass(ClockedSales.now, stale_only=True)
    again = worker_factory(ClockedSales, store=store, caller=ADMIN)._grading_pass(ClockedSales.now, stale_only=True)

    assert (first["evaluated"], first["churn_changed"]) == (1, 1)
    assert again["evaluated"] == 0  # graded today already: a second instance finds nothing to do
    assert [e["churn_risk"] for e in churn_events(store)] == ["high"]


def test_run_grading_does_what_fits_in_its_time_and_the_timer_does_the_rest(store, monkeypatch) -> None:
    ClockedSales.now = datetime(2024, 4, 15, 12, 0, tzinfo=UTC)
    sales = worker_factory(ClockedSales, store=store, caller=ADMIN)
    sales.import_orders(history([*STEADY, ("2024-04", 2)]))
    ClockedSales.now = datetime(2024, 4, 15, 13, 0, tzinfo=UTC)  # graded today already: the daily pass skips it
    monkeypatch.setattr(grading, "RUN_GRADING_SECONDS", 0.0)
    answer = sales.run_grading()
    assert (answer["evaluated"], answer["remaining"], answer["queued"]) == (0, 1, True)
    # the timer picks up what the request left: everything graded before it
    ClockedSales.now = datetime(2024, 4, 15, 14, 0, tzinfo=UTC)
    assert sales._grading_pass(ClockedSales.now, stale_only=True)["evaluated"] == 1
    assert sales._grading_pass(ClockedSales.now, stale_only=True)["evaluated"] == 0
    monkeypatch.setattr(grading, "RUN_GRADING_SECONDS", 2.0)
    ClockedSales.now = datetime(2024, 4, 15, 15, 0, tzinfo=UTC)
    answer = sales.run_grading()
    assert (answer["evaluated"], answer["remaining"], answer["queued"]) == (1, 0, False)


def test_an_order_write_merges_over_a_concurrent_regrade_instead_of_failing(store, monkeypatch) -> None:
    ClockedSales.now = datetime(2024, 7, 15, 12, 0, tzinfo=UTC)
    sales = worker_factory(ClockedSales, store=store, caller=ADMIN)
    sales.import_orders(history([("2024-06", 1)]))
    stats = store[CUSTOMER_STATS]
    real_replace = type(stats).replace
    raced = []

    def racing(self, doc, expected_version=None):
        if doc.get("id") == "contact:c1" and "graded_at" in doc and not raced:
            raced.append(1)  # a grading pass regrades the customer between our read and our write
            current = self.get("contact:c1")
            real_replace(self, {**current, "graded_at": "2024-07-15T11:59:00.000000Z"}, current["version"])
        return real_replace(self, doc, expected_version)

    monkeypatch.setattr(type(stats), "replace", racing)
    sales.import_orders(history([("2024-07", 1)]))
    assert raced == [1]
    assert store[CUSTOMER_STATS].get("contact:c1")["order_count"] == 2


def test_the_value_reports_refuse_unknown_parameters(store) -> None:
    sales = worker_factory(ClockedSales, store=store, caller=ADMIN)
    with pytest.raises(BadRequest):
        sales.customer_value_report({"grade": "A"})
    with pytest.raises(BadRequest):
        sales.churn_risk_report({"value_grade": "A"})
    assert sales.customer_value_report({"value_grade": "A", "pareto_rows": "5"})["grades"]["A"] == 0
    assert sales.churn_risk_report({"churn_risk": "high", "limit": "5"})["data"] == []
