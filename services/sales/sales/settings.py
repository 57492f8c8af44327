"""Sales settings: one document of report currency and rates, value grading, churn, return-visit
and lead-scoring thresholds; every section falls back to its defaults (a mixin of SalesService)."""

import copy
from decimal import Decimal
from typing import Any

from nameko.rpc import rpc

from crm_common.access import ADMIN, MANAGER, SALES_REP, VIEWER, require_role
from crm_common.errors import Conflict, PreconditionFailed, ValidationFailed
from crm_common.ids import utc_now
from crm_common.schema import DECIMAL

from .money import CURRENCIES, MAX_RATE
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


# validation: every section is checked whole, as it would be after the change

SETTINGS_READERS = (ADMIN, MANAGER, SALES_REP, VIEWER)
GRADE_KEYS = ("A", "B", "C", "D")


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _decimal(value: Any) -> Decimal | None:
    return Decimal(value) if isinstance(value, str) and DECIMAL.match(value) else None


def _rising(values: Any, parse, count: int = 4) -> bool:
    """`count` values, each valid and each above the one before."""
    if not isinstance(values, list) or len(values) != count:
        return False
    parsed = [parse(v) for v in values]
    return None not in parsed and all(a < b for a, b in zip(parsed, parsed[1:], strict=False))


def _keys(section: dict, allowed: tuple, prefix: str) -> list[dict]:
    return [{"field": f"{prefix}.{k}", "message": "is not a known setting"} for k in section if k not in allowed]


def _check_rates(settings: dict) -> list[dict]:
    rates = settings["exchange_rates"]
    errors = _keys(rates, CURRENCIES, "exchange_rates")
    for currency, rate in rates.items():
        if currency in CURRENCIES and not 0 < (_decimal(rate) or 0) <= MAX_RATE:
            errors.append(
                {
                    "field": f"exchange_rates.{currency}",
                    "message": f'must be a positive decimal string ("7.10"), at most {MAX_RATE}',
                }
            )
    report = settings["report_currency"]
    if report not in CURRENCIES:
        errors.append({"field": "report_currency", "message": f"must be one of {', '.join(CURRENCIES)}"})
    elif _decimal(rates.get(report)) != 1:
        errors.append(
            {
                "field": "exchange_rates",
                "message": f'rates are units of the report currency: {report} must be at "1" (restate the others)',
            }
        )
    return errors


def _check_grading(grading: dict) -> list[dict]:
    names = ("window_days", "recency_days", "frequency", "monetary", "grade_min_scores")
    errors = _keys(grading, names, "value_grading")
    if not _whole(grading.get("window_days"), 1, 3650):
        errors.append({"field": "value_grading.window_days", "message": "must be a whole number of days, 1-3650"})
    for name in ("recency_days", "frequency"):
        if not _rising(grading.get(name), lambda v: v if _whole(v, 1, 100_000) else None):
            errors.append({"field": f"value_grading.{name}", "message": "must be 4 rising whole numbers above 0"})
    if not _rising(grading.get("monetary"), _decimal):
        errors.append({"field": "value_grading.monetary", "message": "must be 4 rising decimal strings"})
    minimums = grading.get("grade_min_scores")
    if (
        not isinstance(minimums, dict)
        or sorted(minimums) != ["A", "B", "C"]
        or not all(_whole(minimums[g], 3, 15) for g in "ABC")
        or not minimums["A"] > minimums["B"] > minimums["C"]
    ):
        errors.append(
            {
                "field": "value_grading.grade_min_scores",
                "message": "must give A, B and C a minimum R+F+M score (3-15), A above B above C",
            }
        )
    return errors


def _check_churn(churn: dict) -> list[dict]:
    names = ("recent_months", "baseline_months", "medium_drop", "high_drop", "min_baseline_orders")
    errors = _keys(churn, names, "churn")
    for name, high in (("recent_months", 12), ("baseline_months", 36), ("min_baseline_orders", 1000)):
        if not _whole(churn.get(name), 1, high):
            errors.append({"field": f"churn.{name}", "message": f"must be a whole number, 1-{high}"})
    medium, high_drop = _decimal(churn.get("medium_drop")), _decimal(churn.get("high_drop"))
    if medium is None or not 0 < medium <= 1:
        errors.append({"field": "churn.medium_drop", "message": 'must be a decimal string above 0, at most 1 ("0.3")'})
    if high_drop is None or not 0 < high_drop <= 1 or (medium is not None and high_drop <= medium):
        errors.append({"field": "churn.high_drop", "message": "must be a decimal string above medium_drop, at most 1"})
    return errors


def _check_return_visits(visits: dict) -> list[dict]:
    errors = _keys(visits, GRADE_KEYS, "return_visits")
    for grade in GRADE_KEYS:
        if visits.get(grade) is not None and not _whole(visits[grade], 1, 3650):
            errors.append(
                {"field": f"return_visits.{grade}", "message": "must be days between visits (1-3650) or null"}
            )
    return errors


def _check_lead_scoring(thresholds: dict) -> list[dict]:
    names = ("marketing_qualified", "sales_qualified")
    errors = _keys(thresholds, names, "lead_scoring")
    for name in names:
        if not _whole(thresholds.get(name), 0, 1000):
            errors.append({"field": f"lead_scoring.{name}", "message": "must be a whole number, 0-1000"})
    if not errors and thresholds["marketing_qualified"] >= thresholds["sales_qualified"]:
        errors.append({"field": "lead_scoring.sales_qualified", "message": "must be above marketing_qualified"})
    return errors


def changed_settings(current: dict, data: Any) -> dict:
    """The settings after a partial change (`data`: sections, each partial), or ValidationFailed listing
    every problem of every section the change touches."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
    errors = []
    for name, value in data.items():
        if name in ("id", "version", "updated_at", "updated_by"):
            errors.append({"field": name, "message": "is set by the server and cannot be written"})
        elif name not in DEFAULT_SETTINGS:
            errors.append({"field": name, "message": "is not a known setting"})
        elif isinstance(DEFAULT_SETTINGS[name], dict) and not isinstance(value, dict):
            errors.append({"field": name, "message": "must be an object"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid setting(s)", errors)
    changed = settings_with_defaults(current)
    for name, value in data.items():
        changed[name] = {**changed[name], **value} if isinstance(value, dict) else value
    checks = {
        "report_currency": _check_rates,
        "exchange_rates": _check_rates,
        "value_grading": lambda s: _check_grading(s["value_grading"]),
        "churn": lambda s: _check_churn(s["churn"]),
        "return_visits": lambda s: _check_return_visits(s["return_visits"]),
        "lead_scoring": lambda s: _check_lead_scoring(s["lead_scoring"]),
    }
    for check in dict.fromkeys(checks[name] for name in data):
        errors += check(changed)
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid setting(s)", errors)
    return changed


class SettingsRpc:
    """Reading and changing the sales settings."""

    def _settings(self, source=None) -> dict:
        """The settings in force (from `source`, a transaction, or the store)."""
        return settings_with_defaults((source or self.store)[SETTINGS].get(SETTINGS_ID))

    def _settings_document(self, source) -> dict:
        stored = source[SETTINGS].get(SETTINGS_ID)
        meta = {"version": 0, "updated_at": None, "updated_by": None}
        if stored is not None:
            meta = {k: stored.get(k) for k in meta}
        return {**settings_with_defaults(stored), **meta}

    @rpc
    def get_sales_settings(self) -> dict:
        """The settings in force with `version` (0 until an admin first changes them)."""
        require_role(self.caller, SETTINGS_READERS, "read the sales settings")
        return self._settings_document(self.store)

    @rpc
    def update_sales_settings(self, data: dict, expected_version: int | None = None) -> dict:
        """A partial change (sections, each partial) by an admin. Grades and churn levels follow at the
        next grading pass (daily), or at once with `run_grading`."""
        require_role(self.caller, (ADMIN,), "change the sales settings")
        with self.store.transaction() as tx:
            current = tx[SETTINGS].get(SETTINGS_ID)
            version = current["version"] if current else 0
            if expected_version is not None and expected_version != version:
                raise PreconditionFailed(f"the sales settings are at version {version}")
            doc = {**changed_settings(current, data), "id": SETTINGS_ID, "updated_at": utc_now()}
            doc["updated_by"] = self.caller.user_id
            if current is None:
                try:
                    tx[SETTINGS].insert(doc)
                except Conflict:
                    raise PreconditionFailed("the sales settings changed meanwhile") from None
            else:
                tx[SETTINGS].replace(doc, version)
            return self._settings_document(tx)
