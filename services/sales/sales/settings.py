"""Sales settings: one document of report currency and rates, value grading, churn, return-visit
and lead-scoring thresholds; every section falls back to its defaults (a mixin of SalesService)."""

import copy

from .store import SETTINGS

SETTINGS_ID = "settings"

DEFAULT_SETTINGS: dict = {
    # Reports and value grading add money up in one currency, at fixed rates set by an admin.
    "report_currency": "CNY",
    # One unit of the currency in report-currency units.
    "exchange_rates": {
        "CNY": "1",
        "USD": "7.10",
        "EUR": "7.70",
        "GBP": "9.00",
        "JPY": "0.048",
        "HKD": "0.91",
        "SGD": "5.30",
    },
    "value_grading": {
        "window_days": 730,  # orders older than this do not count towards frequency and monetary
        "recency_days": [30, 90, 180, 365],  # last order within 30 days: R 5; 90: 4; 180: 3; 365: 2; else 1
        "frequency": [2, 4, 8, 16],  # orders in the window: at least 16: F 5; 8: 4; 4: 3; 2: 2; else 1
        "monetary": ["10000", "50000", "200000", "1000000"],  # report currency in the window, likewise
        "grade_min_scores": {"A": 13, "B": 10, "C": 7},  # R + F + M; below C's: D
    },
    "churn": {
        "recent_months": 3,  # the months compared ...
        "baseline_months": 12,  # ... against the customer's own monthly average before them
        "medium_drop": "0.3",  # orders or value down by at least 30%: medium
        "high_drop": "0.6",  # by at least 60%: high
        "min_baseline_orders": 3,  # fewer orders in the baseline: too little history to judge
    },
    "return_visits": {"A": 30, "B": 60, "C": 90, "D": None},  # days between return visits per grade; None: none
    "lead_scoring": {"marketing_qualified": 40, "sales_qualified": 70},  # score that moves a lead's stage
}


def settings_with_defaults(stored: dict | None) -> dict:
    """The stored settings over the defaults, section by section."""
    merged = copy.deepcopy(DEFAULT_SETTINGS)
    for name, value in (stored or {}).items():
        if isinstance(merged.get(name), dict) and isinstance(value, dict):
            merged[name].update(value)
        elif name in merged:
            merged[name] = value
    return merged


class SettingsRpc:
    """Reading and changing the sales settings."""

    def _settings(self, source=None) -> dict:
        """The settings in force (from `source`, a transaction, or the store)."""
        return settings_with_defaults((source or self.store)[SETTINGS].get(SETTINGS_ID))
