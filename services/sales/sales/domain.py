"""Sales rules: pipelines and their stages, deals (stages, won and lost, line items, rotting) and who sees them."""

import re
from datetime import datetime, timedelta

from crm_common.access import Reach, may_assign_owner, may_change_owner, owner_filter
from crm_common.caller import Caller
from crm_common.errors import Forbidden, ValidationFailed
from crm_common.ids import new_id

from . import money

DEFAULT_PIPELINE_ID = "default"
WON, LOST, OPEN = "won", "lost", "open"
# How a stage counts in the forecast; unset, it follows the stage's probability (see forecast_category).
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "closed", "omitted")
MAX_ROTTING_DAYS = 3650
MAX_STAGES = 30  # stages of a pipeline
STAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# The fields whose change a deal_updated names in `changes` (the bookkeeping ones stay out).
TRACKED_FIELDS = (
    "title",
    "amount",
    "currency",
    "line_items",
    "stage_id",
    "status",
    "lost_reason",
    "closed_at",
    "expected_close_date",
    "owner_id",
    "shared_with",
)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message if not field else f"{field} {message}", [{"field": field, "message": message}])


# pipelines


def forecast_category(probability: int) -> str:
    """The forecast category a stage takes when none is given: closed at 100%, omitted at 0%,
    commit from 75%, best case from 50%, otherwise pipeline."""
    if probability == 100:
        return "closed"
    if probability == 0:
        return "omitted"
    return "commit" if probability >= 75 else "best_case" if probability >= 50 else "pipeline"


def _stage(sid: str, name: str, probability: int, rotting_days: int | None = None) -> dict:
    return {
        "id": sid,
        "name": name,
        "probability": probability,
        "rotting_days": rotting_days,
        "forecast_category": forecast_category(probability),
    }


def default_pipeline(now: str) -> dict:
    stages = [
        _stage("qualification", "Qualification", 10),
        _stage("needs_analysis", "Needs analysis", 25),
        _stage("proposal", "Proposal", 50),
        _stage("negotiation", "Negotiation", 75),
        _stage("closed_won", "Closed won", 100),
        _stage("closed_lost", "Closed lost", 0),
    ]
    return {
        "id": DEFAULT_PIPELINE_ID,
        "name": "Sales",
        "business_line": None,
        "stages": stages,
        "created_by": None,
        "created_at": now,
        "updated_at": now,
    }


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:64]


def checked_stages(raw: list[dict]) -> list[dict]:
    """The stages as stored: ids from the names' slugs when not given, forecast categories from the
    probabilities when not given. Exactly one stage is won for certain (100%), at least one lost (0%)."""
    errors = []
    stages = []
    taken: set[str] = set()
    for i, given in enumerate(raw):
        at = f"stages[{i}]"
        probability = given["probability"]
        if not 0 <= probability <= 100:
            errors.append({"field": f"{at}.probability", "message": "must be between 0 and 100"})
        rotting_days = given.get("rotting_days")
        if rotting_days is not None and not 0 <= rotting_days <= MAX_ROTTING_DAYS:
            errors.append({"field": f"{at}.rotting_days", "message": f"must be between 0 and {MAX_ROTTING_DAYS}"})
        sid = given.get("id")
        if sid is None:
            base = slug(given["name"]) or f"stage_{i + 1}"
            sid, n = base, 2
            while sid in taken:
                sid, n = f"{base[:60]}_{n}", n + 1
        elif not STAGE_ID.match(sid):
            errors.append({"field": f"{at}.id", "message": "must be letters, digits, _ or - (at most 64)"})
        elif sid in taken:
            errors.append({"field": f"{at}.id", "message": f"repeats stage {sid}"})
        taken.add(sid)
        category = given.get("forecast_category") or forecast_category(probability)
        stages.append({**_stage(sid, given["name"], probability, rotting_days), "forecast_category": category})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid stage field(s)", errors)
    if not stages:
        raise _invalid("stages", "must hold at least a won and a lost stage")
    if sum(1 for s in stages if s["probability"] == 100) != 1:
        raise _invalid("stages", "must hold exactly one won stage (probability 100)")
    if not any(s["probability"] == 0 for s in stages):
        raise _invalid("stages", "must hold at least one lost stage (probability 0)")
    return stages


def new_pipeline(fields: dict, actor: str, now: str) -> dict:
    return {
        "id": new_id(),
        "name": fields["name"],
        "business_line": fields.get("business_line"),
        "stages": checked_stages(fields["stages"]),
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }


def apply_pipeline_changes(pipeline: dict, changes: dict, now: str) -> tuple[dict, list[str]]:
    if "stages" in changes:
        changes = {**changes, "stages": checked_stages(changes["stages"])}
    changed = [name for name, value in changes.items() if pipeline.get(name) != value]
    if not changed:
        return pipeline, []
    return {**pipeline, **changes, "updated_at": now}, changed


def stage_of(pipeline: dict, stage_id: str) -> dict | None:
    return next((s for s in pipeline["stages"] if s["id"] == stage_id), None)


def stage_outcome(pipeline: dict, stage_id: str) -> str:
    """A deal's status follows its stage: a stage won for certain (100%) wins it, one at 0% loses it."""
    probability = stage_of(pipeline, stage_id)["probability"]
    return WON if probability == 100 else LOST if probability == 0 else OPEN


def stage_name(pipeline: dict, stage_id: str) -> str:
    stage = stage_of(pipeline, stage_id)
    return stage["name"] if stage else stage_id


def stage_changes_refused(before: dict, after: dict, stages_in_use: set[str]) -> str | None:
    """Why a pipeline's new stages would strand its deals: a stage deals are in may not go, nor
    turn from open to won or lost (or back), since the deals' status follows their stage."""
    for stage in before["stages"]:
        if stage["id"] not in stages_in_use:
            continue
        if stage_of(after, stage["id"]) is None:
            return f"stage {stage['name']} ({stage['id']}) holds deals and cannot be removed"
        if stage_outcome(after, stage["id"]) != stage_outcome(before, stage["id"]):
            return f"stage {stage['name']} ({stage['id']}) holds deals: its probability cannot cross 0 or 100"
    return None


def _first_open_stage(pipeline: dict) -> str:
    return (
        next((s["id"] for s in pipeline["stages"] if stage_outcome(pipeline, s["id"]) == OPEN), None)
        or (pipeline["stages"][0]["id"])
    )


def _outcome_stage(pipeline: dict, status: str) -> str:
    return next(s["id"] for s in pipeline["stages"] if stage_outcome(pipeline, s["id"]) == status)


def funnel_order(pipeline: dict) -> list[str]:
    """The stages a deal can reach, in pipeline order: every stage but the lost ones."""
    return [s["id"] for s in pipeline["stages"] if s["probability"] != 0]


def furthest_stage(pipeline: dict, stage_ids: list[str]) -> str:
    """The furthest stage in pipeline order among `stage_ids` (a lost stage never counts); the first
    reachable stage when none of them is (a deal opened straight into a lost stage)."""
    order = funnel_order(pipeline) or [pipeline["stages"][0]["id"]]
    reached = [order.index(s) for s in stage_ids if s in order]
    return order[max(reached)] if reached else order[0]


# deals


def plus_days(moment: str, days: int) -> str:
    """A store timestamp (`...T...Z`, microseconds) `days` later, in the same form."""
    shifted = datetime.fromisoformat(moment.replace("Z", "+00:00")) + timedelta(days=days)
    return shifted.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plus_seconds(moment: str, seconds: float) -> str:
    """A store timestamp `seconds` later (earlier when negative), in the same form."""
    shifted = datetime.fromisoformat(moment.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return shifted.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rotting_at(pipeline: dict, stage_id: str, entered_at: str, status: str) -> str | None:
    """When an open deal starts rotting in its stage: entered + the stage's rotting days; never when
    the stage has none or the deal is closed."""
    stage = stage_of(pipeline, stage_id)
    days = stage.get("rotting_days") if stage else None
    return plus_days(entered_at, days) if days is not None and status == OPEN else None


def is_rotting(deal: dict, now: str) -> bool:
    """An open deal past its rotting time and not yet flagged (the flag is raised once per stage entry)."""
    due = deal.get("rotting_at")
    return deal.get("status") == OPEN and not deal.get("rotting") and due is not None and due <= now


def _target_stage(deal: dict | None, changes: dict, pipeline: dict) -> str:
    """The stage a write puts the deal in: the stage given, or the one the status given calls for
    (won: the won stage; lost: the first lost stage; open again: the last open stage it was in)."""
    stage_id, status = changes.get("stage_id"), changes.get("status")
    if stage_id is not None and stage_of(pipeline, stage_id) is None:
        raise _invalid("stage_id", f"not a stage of {pipeline['name']}")
    current = deal["stage_id"] if deal else None
    if status is None:
        return stage_id or current or _first_open_stage(pipeline)
    if stage_id is not None:
        if stage_outcome(pipeline, stage_id) != status:
            made = stage_outcome(pipeline, stage_id)
            raise _invalid("status", f"does not match stage {stage_id}, which makes a deal {made}")
        return stage_id
    if deal is not None and deal.get("status") == status:
        return current
    if status in (WON, LOST):
        return _outcome_stage(pipeline, status)
    history = [h["stage_id"] for h in (deal or {}).get("stage_history", [])]
    reopened = [s for s in reversed(history) if stage_of(pipeline, s) and stage_outcome(pipeline, s) == OPEN]
    return reopened[0] if reopened else _first_open_stage(pipeline)


def _settle(deal: dict | None, merged: dict, changes: dict, pipeline: dict, now: str) -> dict:
    """The deal after a write: its stage, status (from the stage), lost reason, close time, stage
    history, furthest stage reached, rotting time and flag, and amount from the line items."""
    stage_id = _target_stage(deal, changes, pipeline)
    status = stage_outcome(pipeline, stage_id)
    previous_status = deal["status"] if deal else None
    if status == LOST:
        if not (merged.get("lost_reason") or "").strip():
            raise _invalid("lost_reason", "is required when a deal is lost")
    elif changes.get("lost_reason") is not None:
        raise _invalid("lost_reason", "only a lost deal has a lost reason")
    settled = {
        **merged,
        "stage_id": stage_id,
        "status": status,
        "lost_reason": merged.get("lost_reason") if status == LOST else None,
        "line_items": money.line_items(merged.get("line_items")),
    }
    settled["amount"] = money.settled_amount(
        settled["line_items"], changes.get("amount"), deal["amount"] if deal else None
    )
    if status != previous_status:
        settled["closed_at"] = now if status != OPEN else None
    elif status != OPEN and not settled.get("closed_at"):
        settled["closed_at"] = closed_at(settled)  # closed before closed_at was kept
    if deal is None or stage_id != deal["stage_id"]:
        history = (deal or {}).get("stage_history", [])
        settled["stage_history"] = [*history, {"stage_id": stage_id, "at": now}]
        settled["stage_entered_at"] = now
        settled["rotting"] = False
    settled["stage_entered_at"] = entered_at(settled)
    settled["rotting"] = bool(settled.get("rotting"))
    reached = [settled.get("furthest_stage_id") or furthest_stage(pipeline, _history_ids(settled)), stage_id]
    settled["furthest_stage_id"] = furthest_stage(pipeline, [s for s in reached if s])
    settled["rotting_at"] = rotting_at(pipeline, stage_id, settled["stage_entered_at"], status)
    return settled


def _history_ids(deal: dict) -> list[str]:
    return [h["stage_id"] for h in deal.get("stage_history", [])]


def entered_at(deal: dict) -> str:
    """When the deal entered its stage (deals written before this was kept: its last history entry)."""
    if deal.get("stage_entered_at"):
        return deal["stage_entered_at"]
    history = deal.get("stage_history") or []
    return history[-1]["at"] if history else deal["created_at"]


def closed_at(deal: dict) -> str | None:
    """When a closed deal closed: `closed_at`, or for a deal closed before that was kept, when it
    entered its closed stage (its stage history); None for an open deal."""
    if deal.get("status", OPEN) == OPEN:
        return None
    return deal.get("closed_at") or entered_at(deal)


def new_deal(fields: dict, pipeline: dict, actor: str, now: str) -> dict:
    fields = {**fields}
    if "line_items" in fields:
        fields["line_items"] = money.line_items(fields["line_items"])
    merged = {
        "id": new_id(),
        "company_id": None,
        "expected_close_date": None,
        "lost_reason": None,
        "closed_at": None,
        **fields,
        "pipeline_id": pipeline["id"],
        "owner_id": fields.get("owner_id", actor),
        "shared_with": list(dict.fromkeys(fields.get("shared_with") or [])),
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    return _settle(None, merged, fields, pipeline, now)


def apply_deal_changes(deal: dict, changes: dict, pipeline: dict, now: str) -> tuple[dict, list[str]]:
    """The deal after a partial update, and the names of the fields that really changed. A new
    stage must belong to the deal's pipeline and is recorded in its stage history; the status
    follows the stage (or picks it), a lost deal needs a reason, a reopened one drops it."""
    if "shared_with" in changes:
        changes = {**changes, "shared_with": list(dict.fromkeys(changes["shared_with"]))}
    merged = {**deal, **changes, "updated_at": now}
    if "line_items" in changes:
        merged["line_items"] = changes["line_items"] or []
    settled = _settle(deal, merged, changes, pipeline, now)
    changed = [name for name in TRACKED_FIELDS if _tracked(settled, name) != _tracked(deal, name)]
    if not changed:
        return deal, []
    return settled, changed


def _tracked(deal: dict, name: str):
    value = deal.get(name)
    return value or [] if name == "line_items" else value


def with_new_rotting_days(deal: dict, pipeline: dict) -> dict:
    """A deal after its stage's rotting days changed: its rotting time follows them. The flag stays
    as it is: a deal is flagged once per stage entry (its next stage entry lowers it)."""
    due = rotting_at(pipeline, deal["stage_id"], entered_at(deal), deal["status"])
    return {**deal, "rotting_at": due, "rotting": bool(deal.get("rotting"))}


# who sees and changes a deal: its owner's reach and whom it is shared with; deals have no pool


def deal_in_reach(reach: Reach, deal: dict) -> bool:
    return reach.sees_owner(deal.get("owner_id"), deal.get("shared_with") or (), poolable=False)


def deal_filter(reach: Reach) -> dict | None:
    """The store-side twin of `deal_in_reach`; None when the caller sees everything."""
    return owner_filter(reach, pool=False)


def check_new_owner(caller: Caller, owner_id: str | None) -> None:
    if not may_assign_owner(caller, owner_id):
        raise Forbidden("you may not give a deal to that owner")


def check_owner_change(caller: Caller, deal: dict, changes: dict) -> None:
    if "owner_id" in changes and not may_change_owner(caller, deal.get("owner_id"), changes["owner_id"]):
        raise Forbidden("you may not give this deal to that owner")
