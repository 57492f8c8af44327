"""Sales rules: the default pipeline every installation starts with, deals and who sees them."""

from crm_common.access import Reach, may_assign_owner, may_change_owner, owner_filter
from crm_common.caller import Caller
from crm_common.errors import Forbidden, ValidationFailed
from crm_common.ids import new_id

DEFAULT_PIPELINE_ID = "default"


def default_pipeline(now: str) -> dict:
    stages = [
        ("qualification", "Qualification", 10),
        ("needs_analysis", "Needs analysis", 25),
        ("proposal", "Proposal", 50),
        ("negotiation", "Negotiation", 75),
        ("closed_won", "Closed won", 100),
        ("closed_lost", "Closed lost", 0),
    ]
    return {
        "id": DEFAULT_PIPELINE_ID,
        "name": "Sales",
        "created_at": now,
        "updated_at": now,
        "stages": [{"id": sid, "name": name, "probability": p} for sid, name, p in stages],
    }


def _check_stage(stage_id: str, pipeline: dict) -> None:
    if stage_id not in [s["id"] for s in pipeline["stages"]]:
        raise ValidationFailed(
            "unknown stage", [{"field": "stage_id", "message": f"not a stage of {pipeline['name']}"}]
        )


def new_deal(fields: dict, pipeline: dict, actor: str, now: str) -> dict:
    stage_id = fields.get("stage_id") or pipeline["stages"][0]["id"]
    _check_stage(stage_id, pipeline)
    return {
        "id": new_id(),
        "company_id": None,
        "expected_close_date": None,
        "lost_reason": None,
        **fields,
        "pipeline_id": pipeline["id"],
        "stage_id": stage_id,
        "status": "open",
        "owner_id": fields.get("owner_id", actor),
        "shared_with": list(dict.fromkeys(fields.get("shared_with") or [])),
        "created_by": actor,
        "stage_history": [{"stage_id": stage_id, "at": now}],
        "created_at": now,
        "updated_at": now,
    }


def apply_deal_changes(deal: dict, changes: dict, pipeline: dict, now: str) -> tuple[dict, list[str]]:
    """The deal after a partial update, and the names of the fields that really changed. A new
    stage must belong to the deal's pipeline and is recorded in its stage history."""
    if "shared_with" in changes:
        changes = {**changes, "shared_with": list(dict.fromkeys(changes["shared_with"]))}
    if "stage_id" in changes:
        _check_stage(changes["stage_id"], pipeline)
    changed = [name for name, value in changes.items() if deal.get(name) != value]
    if not changed:
        return deal, []
    updated = {**deal, **changes, "updated_at": now}
    if "stage_id" in changed:
        updated["stage_history"] = [*deal.get("stage_history", []), {"stage_id": changes["stage_id"], "at": now}]
        status = stage_outcome(pipeline, changes["stage_id"])
        if status != deal.get("status"):
            updated["status"] = status
            changed.append("status")
    return updated, changed


def stage_outcome(pipeline: dict, stage_id: str) -> str:
    """A deal's status follows its stage: a stage won for certain (100%) wins it, one at 0% loses it."""
    probability = next(s["probability"] for s in pipeline["stages"] if s["id"] == stage_id)
    return "won" if probability == 100 else "lost" if probability == 0 else "open"


def stage_name(pipeline: dict, stage_id: str) -> str:
    return next((s["name"] for s in pipeline["stages"] if s["id"] == stage_id), stage_id)


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
