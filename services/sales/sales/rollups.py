"""Deal rollups: the buckets each deal counts in (forecast, outcome, funnel), which the reports sum
instead of reading the deals. Pure: the service adds a deal's contributions and takes away its old ones.

- forecast: open deals, by month of expected close ("none" without one), owner, pipeline, stage, currency
- outcome: won and lost deals, by month of closing, owner, pipeline, status, currency, with cycle_days
  (the sum over the deals of whole days from creation to closing)
- funnel: every deal, by month of creation, owner, pipeline, furthest stage reached, status (counts only)
Amounts stay in the deals' own currencies and are summed exactly; the reports convert them.
"""

from datetime import datetime
from decimal import Decimal

from . import domain


def _month(moment: str | None) -> str | None:
    return moment[:7] if moment else None


def cycle_days(created_at: str, closed_at: str) -> int:
    """Whole days from a deal's creation to its closing."""
    start = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    end = datetime.fromisoformat(closed_at.replace("Z", "+00:00"))
    return max((end - start).days, 0)


def contributions(deal: dict, pipeline: dict | None) -> list[dict]:
    """The buckets `deal` counts in, each as {id, kind, period, ..., count: 1, amount, ...}. The
    pipeline orders the stages for the furthest stage of deals written before it was kept."""
    owner, pipeline_id, currency = deal.get("owner_id"), deal["pipeline_id"], deal["currency"]
    status = deal.get("status", domain.OPEN)
    buckets = []
    if status == domain.OPEN:
        period = _month(deal.get("expected_close_date")) or "none"
        buckets.append(
            {
                "id": f"forecast|{period}|{owner}|{pipeline_id}|{deal['stage_id']}|{currency}",
                "kind": "forecast",
                "period": period,
                "owner_id": owner,
                "pipeline_id": pipeline_id,
                "stage_id": deal["stage_id"],
                "currency": currency,
                "count": 1,
                "amount": deal["amount"],
            }
        )
    else:
        closed_at = domain.closed_at(deal)  # never updated_at: other writes (merges) move that
        period = _month(closed_at)
        buckets.append(
            {
                "id": f"outcome|{period}|{owner}|{pipeline_id}|{status}|{currency}",
                "kind": "outcome",
                "period": period,
                "owner_id": owner,
                "pipeline_id": pipeline_id,
                "status": status,
                "currency": currency,
                "count": 1,
                "amount": deal["amount"],
                "cycle_days": cycle_days(deal["created_at"], closed_at),
            }
        )
    furthest = deal.get("furthest_stage_id")
    if furthest is None:
        history = [h["stage_id"] for h in deal.get("stage_history", [])] or [deal["stage_id"]]
        furthest = domain.furthest_stage(pipeline, history) if pipeline else deal["stage_id"]
    period = _month(deal["created_at"])
    buckets.append(
        {
            "id": f"funnel|{period}|{owner}|{pipeline_id}|{furthest}|{status}",
            "kind": "funnel",
            "period": period,
            "owner_id": owner,
            "pipeline_id": pipeline_id,
            "furthest_stage_id": furthest,
            "status": status,
            "count": 1,
        }
    )
    return buckets


def deltas(before: list[dict], after: list[dict]) -> dict[str, dict]:
    """What moving a deal from the `before` buckets to the `after` ones changes, by bucket id; the
    buckets it stays in with the same figures are left out (nothing to write)."""
    moved: dict[str, dict] = {}
    for sign, buckets in ((-1, before), (1, after)):
        for bucket in buckets:
            delta = moved.setdefault(bucket["id"], {**bucket, "count": 0, **_zero_figures(bucket)})
            delta["count"] += sign * bucket["count"]
            if "amount" in bucket:
                delta["amount"] = str(Decimal(delta["amount"]) + sign * Decimal(bucket["amount"]))
            if "cycle_days" in bucket:
                delta["cycle_days"] += sign * bucket["cycle_days"]
    return {key: d for key, d in moved.items() if d["count"] or Decimal(d.get("amount", 0)) or d.get("cycle_days")}


def _zero_figures(bucket: dict) -> dict:
    zeros: dict = {}
    if "amount" in bucket:
        zeros["amount"] = "0"
    if "cycle_days" in bucket:
        zeros["cycle_days"] = 0
    return zeros


def applied(bucket: dict | None, delta: dict) -> dict | None:
    """The bucket after a delta; None once no deal counts in it any more."""
    if bucket is None:
        bucket = {**delta, "count": 0, **_zero_figures(delta)}
        bucket.pop("version", None)
    count = bucket["count"] + delta["count"]
    if count <= 0:
        return None
    result = {**bucket, "count": count}
    if "amount" in delta:
        result["amount"] = str(Decimal(bucket["amount"]) + Decimal(delta["amount"]))
    if "cycle_days" in delta:
        result["cycle_days"] = bucket["cycle_days"] + delta["cycle_days"]
    return result


def totals(deals_with_pipelines) -> dict[str, dict]:
    """Every bucket from scratch, for (deal, pipeline) pairs: what `rebuild_deal_rollups` stores."""
    buckets: dict[str, dict] = {}
    for deal, pipeline in deals_with_pipelines:
        add_to(buckets, contributions(deal, pipeline))
    return buckets


def add_to(buckets: dict[str, dict], contributions_: list[dict]) -> None:
    """Apply contributions (or negated ones) to `buckets` in place; a bucket nobody counts in goes."""
    for contribution in contributions_:
        bucket = applied(buckets.get(contribution["id"]), contribution)
        if bucket is None:
            buckets.pop(contribution["id"], None)
        else:
            buckets[contribution["id"]] = bucket


def compact(contribution: dict) -> tuple:
    """What a rebuild keeps of a deal's contribution to take it out again: (id, amount, cycle_days)."""
    return (contribution["id"], contribution.get("amount"), contribution.get("cycle_days"))


def negated(kept: tuple) -> dict:
    """The delta that takes a `compact` contribution out of its bucket."""
    bucket_id, amount, days = kept
    delta: dict = {"id": bucket_id, "count": -1}
    if amount is not None:
        delta["amount"] = str(-Decimal(amount))
    if days is not None:
        delta["cycle_days"] = -days
    return delta
