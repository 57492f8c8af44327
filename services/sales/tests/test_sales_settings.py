"""The sales settings: everyone in sales reads them, admins change them section by section, every
section is validated whole (SQLite, no broker)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import Forbidden, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore, open_store
from sales.service import SalesService
from sales.settings import DEFAULT_SETTINGS
from sales.store import SPECS

ADMIN = Caller("a1", ("admin",))
REP = Caller("u1", ("sales_rep",), ("t1",))
AGENT = Caller("s1", ("support_agent",), ("t2",))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    yield opened
    opened.close()


def sales(store: DocumentStore, caller: Caller) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller)


def test_the_defaults_are_read_by_sales_roles_at_version_0(store) -> None:
    current = sales(store, REP).get_sales_settings()
    assert (current["version"], current["value_grading"]) == (0, DEFAULT_SETTINGS["value_grading"])
    with pytest.raises(Forbidden):
        sales(store, AGENT).get_sales_settings()


def test_an_admin_changes_one_key_of_a_section_and_the_rest_stays(store) -> None:
    changed = sales(store, ADMIN).update_sales_settings({"churn": {"recent_months": 2}}, 0)
    assert changed["churn"] == {**DEFAULT_SETTINGS["churn"], "recent_months": 2}
    assert (changed["version"], changed["updated_by"]) == (1, "a1")
    with pytest.raises(PreconditionFailed):
        sales(store, ADMIN).update_sales_settings({"churn": {"recent_months": 4}}, 0)
    with pytest.raises(Forbidden):
        sales(store, REP).update_sales_settings({"churn": {"recent_months": 4}})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"version": 3}, "version"),
        ({"churn": 3}, "churn"),
        ({"churn": {"window": 3}}, "churn.window"),
        ({"churn": {"medium_drop": "0.7"}}, "churn.high_drop"),  # high must stay above medium
        ({"churn": {"recent_months": 0}}, "churn.recent_months"),
        ({"value_grading": {"recency_days": [30, 20, 180, 365]}}, "value_grading.recency_days"),
        ({"value_grading": {"monetary": ["1", "2", "3"]}}, "value_grading.monetary"),
        ({"value_grading": {"grade_min_scores": {"A": 9, "B": 10, "C": 7}}}, "value_grading.grade_min_scores"),
        ({"value_grading": {"window_days": 1.5}}, "value_grading.window_days"),
        ({"return_visits": {"A": -1}}, "return_visits.A"),
        ({"lead_scoring": {"sales_qualified": 10}}, "lead_scoring.sales_qualified"),
        ({"exchange_rates": {"USD": "0"}}, "exchange_rates.USD"),
        ({"exchange_rates": {"USD": "999999999999999"}}, "exchange_rates.USD"),  # conversions could overflow
        ({"exchange_rates": {"XYZ": "1"}}, "exchange_rates.XYZ"),
        ({"report_currency": "USD"}, "exchange_rates"),  # the rates are still in CNY units
    ],
)
def test_invalid_settings_are_refused_with_the_field(store, change: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        sales(store, ADMIN).update_sales_settings(change)
    assert field in [e["field"] for e in caught.value.errors]
    assert sales(store, ADMIN).get_sales_settings()["version"] == 0


def test_a_new_report_currency_comes_with_rates_in_its_units(store) -> None:
    rates = {"USD": "1", "CNY": "0.14", "EUR": "1.08", "GBP": "1.27", "JPY": "0.0068", "HKD": "0.13", "SGD": "0.75"}
    changed = sales(store, ADMIN).update_sales_settings({"report_currency": "USD", "exchange_rates": rates})
    assert (changed["report_currency"], changed["exchange_rates"]["CNY"]) == ("USD", "0.14")
