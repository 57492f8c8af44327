"""Sales rules: the default pipeline every installation starts with, and new deals."""

from crm_common.errors import ValidationFailed
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


def new_deal(fields: dict, pipeline: dict, actor: str, now: str) -> dict:
    stage_ids = [s["id"] for s in pipeline["stages"]]
    stage_id = fields.get("stage_id") or stage_ids[0]
    if stage_id not in stage_ids:
        raise ValidationFailed(
            "unknown stage", [{"field": "stage_id", "message": f"not a stage of {pipeline['name']}"}]
        )
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
        "created_by": actor,
        "stage_history": [{"stage_id": stage_id, "at": now}],
        "created_at": now,
        "updated_at": now,
    }
