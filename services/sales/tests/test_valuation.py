"""RFM scores, value grades and the Pareto split on a fixed data set, against figures computed by hand
(the pure rules, then the same data set through the service's report, on a real SQLite store)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.store import DocumentStore, open_store
from sales import valuation
from sales.service import SalesService
from sales.settings import DEFAULT_SETTINGS
from sales.store import CUSTOMERS, SPECS

NOW = datetime(2024, 7, 15, 12, 0, tzinfo=UTC)
ADMIN = Caller("a1", ("admin",))
REP = Caller("u1", ("sales_rep",), ("t-sales",))

# The fixed data set: customer -> (its owner, orders as (owner, days before now, amount, currency, status)).
# Default settings: CNY reports, USD at 7.10; window 730 days; recency bounds 30/90/180/365 days; frequency
# 2/4/8/16 orders; monetary 10 000/50 000/200 000/1 000 000 CNY; A from R+F+M 13, B from 10, C from 7.
DATA = {
    # 16 monthly orders of 50 000 CNY, the last 5 days ago, the first 455 days ago (inside the window).
    # R: 5 days <= 30 -> 5. F: 16 >= 16 -> 5. M: 800 000 >= 200 000, < 1 000 000 -> 4. 14 >= 13: A.
    "alpha": ("u1", [("u1", 5 + 30 * i, "50000.00", "CNY", "confirmed") for i in range(16)]),
    # 5 orders of 1 000 USD = 7 100 CNY each: 35 500 CNY, the last 75 days ago.
    # R: 75 <= 90 -> 4. F: 5 >= 4 -> 3. M: 35 500 >= 10 000, < 50 000 -> 2. 9 >= 7: C.
    "bravo": ("u3", [("u3", 75 + 30 * i, "1000.00", "USD", "paid") for i in range(5)]),
    # 4 orders of 60 000 CNY, the last 177 days ago; a cancelled 500 000 order 45 days ago counts for nothing
    # (not for recency either). R: 177 <= 180 -> 3. F: 4 -> 3. M: 240 000 -> 4. 10: B.
    "charlie": (
        "u2",
        [("u2", 177 + 30 * i, "60000.00", "CNY", "completed") for i in range(4)]
        + [("u3", 45, "500000.00", "CNY", "cancelled")],
    ),
    # One order 900 days ago, outside the 730-day window: R: 900 > 365 -> 1. F: 0 -> 1. M: 0 -> 1. 3: D.
    "delta": ("u4", [("u4", 900, "5000.00", "CNY", "completed")]),
    # 2 orders of 10 000 CNY, 14 and 25 days ago, by two reps. R 5, F: 2 -> 2, M: 20 000 -> 2. 9: C.
    "echo": ("u1", [("u1", 14, "10000.00", "CNY", "confirmed"), ("u4", 25, "10000.00", "CNY", "confirmed")]),
}
EXPECTED_RFM = {
    "alpha": (5, 16, "800000.00", 5, 5, 4, 14, "A"),
    "bravo": (75, 5, "35500.00", 4, 3, 2, 9, "C"),
    "charlie": (177, 4, "240000.00", 3, 3, 4, 10, "B"),
    "delta": (900, 0, "0.00", 1, 1, 1, 3, "D"),
    "echo": (14, 2, "20000.00", 5, 2, 2, 9, "C"),
}
# Customers by value in the window: alpha 800 000, charlie 240 000, bravo 35 500, echo 20 000 (delta 0: left
# out). Total 1 095 500; 80% of it is 876 400. Alpha alone (800 000) falls short, alpha + charlie (1 040 000)
# reach it: the head is 2 of 4 customers (0.5000) bringing 1 040 000 / 1 095 500 = 0.94934... -> 0.9493.
# Shares: 800 000 / 1 095 500 = 0.73026 -> 0.7303; 240 000 / 1 095 500 = 0.21908 -> 0.2191;
# 35 500 / 1 095 500 = 0.03241 -> 0.0324; 20 000 / 1 095 500 = 0.01826 -> 0.0183.
# Cumulative: 0.7303, 1 040 000 -> 0.9493, 1 075 500 / 1 095 500 = 0.98174 -> 0.9817, 1.0000.
EXPECTED_CUSTOMERS = [
    ("alpha", "800000.00", "0.7303", "0.7303", True),
    ("charlie", "240000.00", "0.2191", "0.9493", True),
    ("bravo", "35500.00", "0.0324", "0.9817", False),
    ("echo", "20000.00", "0.0183", "1.0000", False),
]
# Reps by what they sold in the window (order owners): u1 800 000 + 10 000 = 810 000; u2 240 000; u3 35 500
# (its cancelled order not counted); u4 10 000 (its 900-day-old order outside the window). Total 1 095 500;
# u1 alone (810 000) is below 876 400, u1 + u2 (1 050 000) reach it: head 2 of 4 (0.5000), bringing
# 1 050 000 / 1 095 500 = 0.95847 -> 0.9585. Shares: 0.73939 -> 0.7394; 0.21908 -> 0.2191; 0.0324; 0.00913 -> 0.0091.
EXPECTED_REPS = [
    ("u1", "810000.00", "0.7394", "0.7394", True),
    ("u2", "240000.00", "0.2191", "0.9585", True),
    ("u3", "35500.00", "0.0324", "0.9909", False),
    ("u4", "10000.00", "0.0091", "1.0000", False),
]


def orders_of(customer: str, now: datetime) -> list[dict]:
    return [
        {
            "contact_id": customer,
            "owner_id": owner,
            "ordered_at": valuation.iso(now - timedelta(days=days)),
            "amount": amount,
            "currency": currency,
            "status": status,
        }
        for owner, days, amount, currency, status in DATA[customer][1]
    ]


def rows(pareto: dict) -> list[tuple]:
    return [(r["id"], r["amount"], r["share"], r["cumulative_share"], r["in_head"]) for r in pareto["rows"]]


@pytest.mark.parametrize("customer", DATA)
def test_rfm_scores_and_grade_match_the_hand_computation(customer: str) -> None:
    figures = valuation.customer_figures(orders_of(customer, NOW), DEFAULT_SETTINGS, NOW)
    rfm = figures["rfm"]
    got = (rfm["recency_days"], rfm["frequency"], rfm["monetary"], rfm["r"], rfm["f"], rfm["m"], rfm["score"])
    assert (*got, figures["value_grade"]) == EXPECTED_RFM[customer]
    assert figures["monetary"] == EXPECTED_RFM[customer][2]


def test_a_customer_without_a_counting_order_has_no_grade() -> None:
    cancelled = [{**orders_of("echo", NOW)[0], "status": "refunded"}]
    figures = valuation.customer_figures(cancelled, DEFAULT_SETTINGS, NOW)
    assert (figures["rfm"], figures["value_grade"], figures["order_count"], figures["monthly"]) == (None, None, 0, {})


def test_the_pareto_head_of_customers_is_the_few_that_bring_80_percent() -> None:
    values = []
    for customer in DATA:
        figures = valuation.customer_figures(orders_of(customer, NOW), DEFAULT_SETTINGS, NOW)
        values.append((customer, Decimal(figures["monetary"])))
    split = valuation.pareto(values)
    assert rows(split) == EXPECTED_CUSTOMERS
    assert (split["total"], split["count"]) == ("1095500.00", 4)
    assert split["head"] == {"count": 2, "share_of_count": "0.5000", "revenue_share": "0.9493"}


def test_the_pareto_head_of_reps_counts_what_each_owner_sold_in_the_window() -> None:
    orders = [order for customer in DATA for order in orders_of(customer, NOW)]
    since = NOW - timedelta(days=730)
    split = valuation.pareto(valuation.rep_totals(orders, DEFAULT_SETTINGS, since).items())
    assert rows(split) == EXPECTED_REPS
    assert split["head"] == {"count": 2, "share_of_count": "0.5000", "revenue_share": "0.9585"}


def test_a_head_that_reaches_80_percent_exactly_stops_there() -> None:
    # 500 + 300 = 800 of 1 000: exactly 80% after two reps, so the third is outside the head.
    split = valuation.pareto([("a", Decimal(500)), ("b", Decimal(300)), ("c", Decimal(150)), ("d", Decimal(50))])
    assert [r["in_head"] for r in split["rows"]] == [True, True, False, False]
    assert split["head"] == {"count": 2, "share_of_count": "0.5000", "revenue_share": "0.8000"}


def test_thresholds_come_from_the_settings() -> None:
    # Raising A's minimum to 15 makes alpha (14) a B.
    grading = {**DEFAULT_SETTINGS["value_grading"], "grade_min_scores": {"A": 15, "B": 10, "C": 7}}
    figures = valuation.customer_figures(orders_of("alpha", NOW), {**DEFAULT_SETTINGS, "value_grading": grading}, NOW)
    assert figures["value_grade"] == "B"


# the same data set through the service


class FixedClockSales(SalesService):
    """The service judging value at NOW; return visits are helper C's and not under test here."""

    def _clock(self) -> datetime:
        return NOW


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    for customer, (owner, _) in DATA.items():
        opened[CUSTOMERS].put(
            {
                "id": f"contact:{customer}",
                "subject_type": "contact",
                "subject_id": customer,
                "owner_id": owner,
                "shared_with": [],
                "display_name": customer.title(),
                "company_id": None,
                "deleted": False,
                "source_version": 1,
            }
        )
    sales = worker_factory(FixedClockSales, store=opened, caller=ADMIN)
    sales.import_orders([order for customer in DATA for order in orders_of(customer, NOW)])
    yield opened
    opened.close()


def test_the_value_report_gives_the_hand_computed_grades_and_pareto_split(store: DocumentStore) -> None:
    report = worker_factory(FixedClockSales, store=store, caller=ADMIN).customer_value_report({})
    assert report["currency"] == "CNY"
    assert report["grades"] == {"A": 1, "B": 1, "C": 2, "D": 1, "none": 0}
    assert [(r["subject_id"], r["value_grade"], r["rfm"]["score"]) for r in report["customers"]["data"]] == [
        ("alpha", "A", 14),
        ("charlie", "B", 10),
        ("bravo", "C", 9),
        ("echo", "C", 9),
        ("delta", "D", 3),
    ]
    assert rows(report["pareto"]["customers"]) == EXPECTED_CUSTOMERS
    assert report["pareto"]["customers"]["rows"][0]["display_name"] == "Alpha"
    assert rows(report["pareto"]["reps"]) == EXPECTED_REPS


def test_a_rep_sees_the_value_of_their_own_customers_and_their_own_sales_only(store: DocumentStore) -> None:
    report = worker_factory(FixedClockSales, store=store, caller=REP).customer_value_report({})
    assert report["grades"] == {"A": 1, "B": 0, "C": 1, "D": 0, "none": 0}
    # Alpha 800 000 and echo 20 000: 800 000 / 820 000 = 0.97561 -> 0.9756, past 80% alone.
    assert rows(report["pareto"]["customers"]) == [
        ("alpha", "800000.00", "0.9756", "0.9756", True),
        ("echo", "20000.00", "0.0244", "1.0000", False),
    ]
    assert rows(report["pareto"]["reps"]) == [("u1", "810000.00", "1.0000", "1.0000", True)]
