"""Service desk rules: new tickets and their first SLA targets."""

from datetime import UTC, datetime, timedelta

from crm_common.ids import new_id

# Calendar-hour targets per priority until SLA policies and business calendars arrive.
FIRST_RESPONSE_HOURS = {"urgent": 1, "high": 4, "normal": 8, "low": 24}
RESOLUTION_HOURS = {"urgent": 8, "high": 24, "normal": 72, "low": 168}


def _due(now: datetime, hours: int) -> str:
    return (now + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_ticket(fields: dict, actor: str, now: datetime) -> dict:
    priority = fields.get("priority", "normal")
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": new_id(),
        "description": "",
        "kind": "inquiry",
        "channel": "web",
        "company_id": None,
        "assignee_id": None,
        "team_id": None,
        **fields,
        "priority": priority,
        "status": "new",
        "breached": False,
        "first_response_due_at": _due(now, FIRST_RESPONSE_HOURS[priority]),
        "resolution_due_at": _due(now, RESOLUTION_HOURS[priority]),
        "created_by": actor,
        "created_at": stamp,
        "updated_at": stamp,
    }
