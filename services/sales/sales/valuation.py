"""Customer value rules, no I/O: a customer's figures from its orders, RFM scores and value grade, churn risk
against the customer's own history, and the Pareto (80/20) split of revenue."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from .money import ZERO, amount, converted, minor_units, ratio, text

# Orders that never brought money do not count towards a customer's value.
VOID_STATUSES = ("cancelled", "refunded")
GRADES = ("A", "B", "C", "D")
PARETO_SHARE = Decimal("0.8")


# The one timestamp pair of the sales service (valuation, lead scoring, tasks): every stored time has the
# shape of `crm_common.ids.utc_now` (UTC, microseconds, `Z`), so text order is time order.


def parse_time(value: str) -> datetime:
    """An ISO 8601 time (stored with a Z suffix) as an aware UTC datetime; one without an offset, or a bare
    date (midnight), is taken as UTC."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """As stored: UTC, microseconds, `Z` (four-digit years, also before 1000, so text order is time order)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def month_of(value: str) -> str:
    return parse_time(value).strftime("%Y-%m")


def months_before(now: datetime, count: int) -> list[str]:
    """The `count` full months before `now`'s month, oldest first ("YYYY-MM")."""
    year, month = now.year, now.month
    months = []
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        months.append(f"{year:04d}-{month:02d}")
    return months[::-1]


def counts(order: dict) -> bool:
    return order.get("status") not in VOID_STATUSES


# RFM and grade


def _score_up(value, thresholds: list) -> int:
    """1 below the first threshold, one more for each threshold reached (5 at the last)."""
    return 1 + sum(1 for threshold in thresholds if value >= threshold)


def rfm_scores(recency_days: int, frequency: int, monetary: Decimal, grading: dict) -> dict:
    """R from the days since the last order (fewer is better: within the first bound 5, beyond the last 1),
    F from the orders in the window, M from their value in the report currency."""
    recency = 5 - sum(1 for bound in grading["recency_days"] if recency_days > bound)
    frequency_score = _score_up(frequency, grading["frequency"])
    monetary_score = _score_up(monetary, [Decimal(b) for b in grading["monetary"]])
    return {
        "recency_days": recency_days,
        "frequency": frequency,
        "monetary": text(monetary),
        "r": recency,
        "f": frequency_score,
        "m": monetary_score,
        "score": recency + frequency_score + monetary_score,
    }


def value_grade(score: int, grading: dict) -> str:
    minimums = grading["grade_min_scores"]
    return next((grade for grade in ("A", "B", "C") if score >= minimums[grade]), "D")


def customer_figures(orders: Iterable[dict], settings: dict, now: datetime) -> dict:
    """What a customer's orders say about it at `now`: window totals, the monthly series (all history),
    first and last order, RFM scores and the value grade (None for a customer without a counting order)."""
    grading = settings["value_grading"]
    window_start = now - timedelta(days=grading["window_days"])
    monthly: dict[str, dict] = {}
    window_count, window_value = 0, ZERO
    first = last = None
    for order in orders:
        if not counts(order):
            continue
        value = converted(amount(order["amount"]), order["currency"], settings)
        moment = parse_time(order["ordered_at"])
        month = monthly.setdefault(moment.strftime("%Y-%m"), {"count": 0, "amount": ZERO})
        month["count"] += 1
        month["amount"] += value
        first = moment if first is None or moment < first else first
        last = moment if last is None or moment > last else last
        if moment >= window_start:
            window_count += 1
            window_value += value
    figures = {
        "order_count": window_count,
        "monetary": text(window_value),
        "monetary_minor": minor_units(window_value),
        "first_order_at": iso(first) if first else None,
        "last_order_at": iso(last) if last else None,
        "monthly": {key: {"count": m["count"], "amount": text(m["amount"])} for key, m in sorted(monthly.items())},
        "rfm": None,
        "value_grade": None,
    }
    if last is not None:
        recency_days = max(0, (now - last).days)
        figures["rfm"] = rfm_scores(recency_days, window_count, window_value, grading)
        figures["value_grade"] = value_grade(figures["rfm"]["score"], grading)
    return figures


# churn risk


def churn_risk(monthly: dict, first_order_at: str | None, now: datetime, churn: dict) -> dict:
    """The churn level (None when there is no drop worth a signal, or too little history to judge),
    why, and the evidence: the monthly series compared and the two averages.

    The last `recent_months` full months (the current month is not over) are compared with the
    `baseline_months` before them. The baseline starts no earlier than the first order's month, so
    a customer who began buying lately is measured against the months it was a customer. The drop is
    the larger of the drops in orders per month and in value per month."""
    recent_months = months_before(now, churn["recent_months"])
    baseline_all = months_before(now, churn["recent_months"] + churn["baseline_months"])[: churn["baseline_months"]]
    first_month = month_of(first_order_at) if first_order_at else None
    baseline_months = [m for m in baseline_all if first_month is not None and m >= first_month]

    def month_row(key: str) -> dict:
        found = monthly.get(key) or {}
        return {"month": key, "count": found.get("count", 0), "amount": found.get("amount", "0.00")}

    def average(keys: list[str]) -> tuple[Decimal, Decimal]:
        if not keys:
            return ZERO, ZERO
        rows = [month_row(k) for k in keys]
        return (
            Decimal(sum(r["count"] for r in rows)) / len(keys),
            sum((Decimal(r["amount"]) for r in rows), ZERO) / len(keys),
        )

    baseline_orders = sum(month_row(k)["count"] for k in baseline_months)
    base_count, base_value = average(baseline_months)
    recent_count, recent_value = average(recent_months)
    order_drop = max(ZERO, 1 - recent_count / base_count) if base_count else ZERO
    value_drop = max(ZERO, 1 - recent_value / base_value) if base_value else ZERO
    evidence = {
        "months": [month_row(k) for k in baseline_months + recent_months],
        "baseline": {
            "months": len(baseline_months),
            "orders_per_month": ratio(base_count),
            "value_per_month": text(base_value),
        },
        "recent": {
            "months": len(recent_months),
            "orders_per_month": ratio(recent_count),
            "value_per_month": text(recent_value),
        },
        "drop": {"orders": ratio(order_drop), "value": ratio(value_drop)},
    }
    if baseline_orders < churn["min_baseline_orders"]:
        return {"level": None, "reason": None, "evidence": evidence}
    drop = max(order_drop, value_drop)
    level = (
        "high" if drop >= Decimal(churn["high_drop"]) else "medium" if drop >= Decimal(churn["medium_drop"]) else None
    )
    reason = None
    if level:
        if order_drop >= value_drop:
            what, recent, base = "orders per month", ratio(recent_count), ratio(base_count)
        else:
            what, recent, base = "value per month", text(recent_value), text(base_value)
        reason = (
            f"{what} down {int((drop * 100).to_integral_value())}%: {recent} over the last {len(recent_months)} "
            f"months against {base} over the {len(baseline_months)} before"
        )
    return {"level": level, "reason": reason, "evidence": evidence}


# Pareto


def rep_totals(orders: Iterable[dict], settings: dict, since: datetime) -> dict[str, Decimal]:
    """What each order owner sold since `since`, in the report currency (void orders left out)."""
    totals: dict[str, Decimal] = {}
    for order in orders:
        if counts(order) and parse_time(order["ordered_at"]) >= since:
            value = converted(amount(order["amount"]), order["currency"], settings)
            totals[order["owner_id"]] = totals.get(order["owner_id"], ZERO) + value
    return totals


def pareto(values: Iterable[tuple[str, Decimal]], share: Decimal = PARETO_SHARE) -> dict:
    """Keys sorted by value (largest first; ties by key), each with its share and the cumulative share
    of the total, and the head: the fewest keys that together bring at least `share` of the total."""
    ranked = sorted(((key, value) for key, value in values if value > 0), key=lambda kv: (-kv[1], kv[0]))
    total = sum((value for _, value in ranked), ZERO)
    rows, running, head = [], ZERO, 0
    for key, value in ranked:
        reached_before = total and running >= total * share
        running += value
        if not reached_before:
            head += 1
        rows.append(
            {
                "id": key,
                "amount": text(value),
                "share": ratio(value / total),
                "cumulative_share": ratio(running / total),
                "in_head": not reached_before,
            }
        )
    head_value = sum((value for _, value in ranked[:head]), ZERO)
    return {
        "total": text(total),
        "count": len(rows),
        "head": {
            "count": head,
            "share_of_count": ratio(Decimal(head) / len(rows)) if rows else ratio(ZERO),
            "revenue_share": ratio(head_value / total) if total else ratio(ZERO),
        },
        "rows": rows,
    }
