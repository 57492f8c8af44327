"""Service desk rules: new tickets, their first SLA targets, changes, and who sees and changes them."""

from datetime import UTC, datetime, timedelta

from crm_common.access import ADMIN, MANAGER, SUPPORT_AGENT, SYSTEM, Reach
from crm_common.caller import Caller
from crm_common.errors import Forbidden, ValidationFailed
from crm_common.ids import new_id

# Who may change tickets at all; which tickets is `check_may_update`.
TICKET_UPDATERS = (ADMIN, MANAGER, SUPPORT_AGENT)

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
        "contact_owner_id": None,
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


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def apply_ticket_changes(ticket: dict, changes: dict, now: datetime) -> tuple[dict, list[str]]:
    """The ticket after a partial update, and the names of the fields that really changed. A new
    priority moves the SLA targets, counted from when the ticket was opened."""
    changed = [name for name, value in changes.items() if ticket.get(name) != value]
    if not changed:
        return ticket, []
    updated = {**ticket, **changes, "updated_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if "priority" in changed:
        opened = _parse(ticket["created_at"])
        updated["first_response_due_at"] = _due(opened, FIRST_RESPONSE_HOURS[changes["priority"]])
        updated["resolution_due_at"] = _due(opened, RESOLUTION_HOURS[changes["priority"]])
    return updated, changed


# who sees and changes a ticket


def ticket_in_reach(reach: Reach, ticket: dict) -> bool:
    """Its service team is the caller's, it is assigned to them, or its customer's owner is in
    their reach; a pool customer's ticket is for the service teams (and admins) only."""
    if reach.sees_team(ticket.get("team_id")):
        return True
    if ticket.get("assignee_id") is not None and ticket["assignee_id"] == reach.user_id:
        return True
    return reach.sees_owner(ticket.get("contact_owner_id"), poolable=False)


def ticket_filter(reach: Reach) -> dict | None:
    """The store-side twin of `ticket_in_reach`; None when the caller sees everything."""
    if reach.everything:
        return None
    alternatives: list[dict] = [{"assignee_id": reach.user_id}]
    if reach.team_ids:
        alternatives.append({"team_id": {"$in": sorted(reach.team_ids)}})
    if reach.owner_ids:
        alternatives.append({"contact_owner_id": {"$in": sorted(reach.owner_ids)}})
    return alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}


def _only_agent(caller: Caller) -> bool:
    roles = set(caller.roles)
    return SUPPORT_AGENT in roles and not roles & {ADMIN, MANAGER, SYSTEM}


def ticket_team(caller: Caller, requested: str | None) -> str | None:
    """A support agent files tickets for their own teams (the first one unless told); others for any."""
    if not _only_agent(caller):
        return requested
    if requested is None:
        if not caller.team_ids:
            raise ValidationFailed("you belong to no team", [{"field": "team_id", "message": "give a team"}])
        return caller.team_ids[0]
    if requested not in caller.team_ids:
        raise ValidationFailed("not one of your teams", [{"field": "team_id", "message": "not one of your teams"}])
    return requested


def checks_contact_as_system(caller: Caller) -> bool:
    """A support agent takes calls from customers they cannot see yet: whether the contact exists
    is checked as the platform (ids are random 64-bit, so this reveals nothing guessable). Every
    other role checks it as itself: a contact out of their reach is unknown to them."""
    return SUPPORT_AGENT in caller.roles


def check_may_update(caller: Caller, reach: Reach, ticket: dict) -> None:
    """For a visible ticket: admins, the managers of its team and the support agents who see it
    change it; anyone else who sees it (its customer's manager, say) is Forbidden."""
    roles = set(caller.roles)
    if roles & {ADMIN, SYSTEM}:
        return
    if MANAGER in roles and ticket.get("team_id") in caller.managed_team_ids:
        return
    if SUPPORT_AGENT in roles and ticket_in_reach(reach, ticket):
        return
    raise Forbidden("you may not change this ticket")


def follows_contact(known: dict | None, version: int) -> bool:
    """Whether a contact event of `version` is newer than the contact owner already known."""
    return known is None or known["source_version"] < version


# personal data

ERASED_TEXT = "Personal data erased"


def scrubbed_ticket(ticket: dict, now: datetime) -> tuple[dict, list[str]]:
    """A ticket of an erased contact: its subject and description are the person's words and go;
    its skeleton (kind, channel, priority, status, SLA times, team, assignee) stays for the
    service reports. The fields that changed: none when it was scrubbed already."""
    changes = {"subject": ERASED_TEXT, "description": ""}
    return apply_ticket_changes(ticket, changes, now)
