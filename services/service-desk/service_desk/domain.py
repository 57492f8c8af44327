"""Service desk rules: new tickets, the status workflow, changes, comments and merges, and who sees
and changes them (no I/O; the SLA clocks are sla.py's)."""

from datetime import UTC, datetime, timedelta

from crm_common.access import ADMIN, MANAGER, SALES_REP, SUPPORT_AGENT, SYSTEM, Reach
from crm_common.caller import Caller
from crm_common.errors import Conflict, Forbidden, ValidationFailed
from crm_common.ids import new_id

# Who may change tickets at all; which tickets is `check_may_update`.
TICKET_UPDATERS = (ADMIN, MANAGER, SUPPORT_AGENT)
# Who may write on a ticket at all: internal notes also by the sales side who sees the ticket.
COMMENTERS = (ADMIN, MANAGER, SUPPORT_AGENT, SALES_REP)

# The status workflow. `pending` waits on the customer, `on_hold` on someone else (a supplier, a
# fix); `new` is only ever the first status; `closed` is final.
STATUSES = ("new", "open", "pending", "on_hold", "resolved", "closed", "reopened")
# Still on someone's plate: the backlog, what `least_loaded` counts and `max_open` caps.
WORKING_STATUSES = ("new", "open", "pending", "on_hold", "reopened")
# Done with: the SLA clocks stop, the survey may be answered, the report counts it resolved.
DONE_STATUSES = ("resolved", "closed")
_FROM_WORKING = ("open", "pending", "on_hold", "resolved", "closed")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    **{status: _FROM_WORKING for status in WORKING_STATUSES},
    "resolved": ("closed", "reopened"),
    "closed": (),
}
# How far back a customer's request may be dated (a phone call logged the next morning, an email
# read after a holiday): its SLA clocks start there.
RECEIVED_AT_MAX_AGE = timedelta(days=30)
# A `received_at` this little in the future is the client's clock running ahead: it reads as now.
CLOCK_SKEW = timedelta(minutes=1)


def stamp(moment: datetime) -> str:
    """The stored form of an instant: ISO 8601 UTC with microseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(value: str) -> datetime:
    """An ISO 8601 instant as written by `stamp` (or a client): naive only when it carries no zone."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def invalid(field: str, message: str) -> ValidationFailed:
    """ValidationFailed (422) naming one field."""
    return ValidationFailed(message, [{"field": field, "message": message}])


# new tickets


def received_at(value: str | None, now: datetime) -> str:
    """The instant the customer's request arrived, as stored: now when not given; else a past
    instant with a time zone, at most RECEIVED_AT_MAX_AGE ago (schema-checked as a datetime)."""
    if value is None:
        return stamp(now)
    moment = parse_stamp(value)
    if moment.tzinfo is None:
        raise invalid("received_at", "must carry a time zone (Z or an offset)")
    if moment > now + CLOCK_SKEW:
        raise invalid("received_at", "must not be in the future")
    if moment < now - RECEIVED_AT_MAX_AGE:
        raise invalid("received_at", f"must be within the last {RECEIVED_AT_MAX_AGE.days} days")
    return stamp(min(moment, now))


def check_attachments(attachments: list[dict] | None) -> None:
    """What the schema's `records` kind does not check: sizes are not negative, links are web links."""
    for i, item in enumerate(attachments or []):
        if item["size_bytes"] < 0:
            raise invalid("attachments", f"item {i + 1}: size_bytes must not be negative")
        if not item["url"].lower().startswith(("https://", "http://")):
            raise invalid("attachments", f"item {i + 1}: url must be an http(s) link")


def checked_input(fields: dict, now: datetime) -> dict:
    """Validated ticket fields with the rules beyond the schema applied: `received_at` in range and
    stored as UTC (creation only), sane attachments, a blank category read as none."""
    checked = dict(fields)
    if "received_at" in checked:
        checked["received_at"] = received_at(checked["received_at"], now)
    if "attachments" in checked:
        check_attachments(checked["attachments"])
    if "category" in checked:
        checked["category"] = (checked["category"] or "").strip() or None
    return checked


def new_ticket(fields: dict, actor: str, now: datetime) -> dict:
    """A ticket as first stored, before its SLA is matched (`_apply_sla` fills `sla` and the
    live SLA fields) and before auto-assignment."""
    created = stamp(now)
    return {
        "id": new_id(),
        "description": "",
        "kind": "inquiry",
        "channel": "web",
        "category": None,
        "company_id": None,
        "assignee_id": None,
        "team_id": None,
        "contact_owner_id": None,
        "customer_grade": None,
        "attachments": [],
        **fields,
        "priority": fields.get("priority", "normal"),
        "received_at": fields.get("received_at") or created,
        "status": "new",
        "first_responded_at": None,
        "resolved_at": None,
        "closed_at": None,
        "reopened_count": 0,
        "merged_into": None,
        "escalation_level": 0,
        "satisfaction": None,
        "sla": None,
        "breached": False,
        "first_response_due_at": None,
        "resolution_due_at": None,
        "sla_next_check_at": None,
        "created_by": actor,
        "created_at": created,
        "updated_at": created,
    }


# the status workflow


def check_transition(current: str, target: str) -> None:
    """ValidationFailed (422) for a move the workflow does not allow; staying put is no move."""
    if target == current:
        return
    if current == "closed":
        raise invalid("status", "closed tickets cannot be reopened")
    if target not in TRANSITIONS.get(current, ()):
        allowed = ", ".join(TRANSITIONS.get(current, ())) or "none"
        raise invalid("status", f"a {current} ticket cannot become {target} (allowed: {allowed})")


def status_stamps(ticket: dict, target: str, now: datetime) -> dict:
    """The fields that follow a status change: when it was resolved or closed, how often reopened.
    A reopened ticket is no longer resolved, so its `resolved_at` clears until it is again."""
    if target == ticket.get("status"):
        return {}
    if target == "resolved":
        return {"resolved_at": stamp(now)}
    if target == "closed":
        return {"closed_at": stamp(now)}
    if target == "reopened":
        return {"reopened_count": (ticket.get("reopened_count") or 0) + 1, "resolved_at": None}
    return {}


def apply_ticket_changes(ticket: dict, changes: dict, now: datetime) -> tuple[dict, list[str]]:
    """The ticket after a partial update (a new status brings its stamps), and the names of the
    fields that really changed. The SLA follows with `_apply_sla`, on the caller's side."""
    if "status" in changes:
        stamps = status_stamps(ticket, changes["status"], now)
        changes = {**changes, **{name: value for name, value in stamps.items() if name not in changes}}
    changed = [name for name, value in changes.items() if ticket.get(name) != value]
    if not changed:
        return ticket, []
    updated = {**ticket, **{name: changes[name] for name in changed}, "updated_at": stamp(now)}
    return updated, changed


def became_resolved(before: dict, after: dict) -> bool:
    return after.get("status") == "resolved" and before.get("status") != "resolved"


# comments


def new_comment(fields: dict, ticket_id: str, actor: str, now: datetime) -> dict:
    author_type = fields.get("author_type", "staff")
    return {
        "id": new_id(),
        "ticket_id": ticket_id,
        "body": fields["body"],
        # A customer's own words reached them already: their messages are never internal.
        "public": True if author_type == "customer" else fields.get("public", False),
        "author_id": actor,
        "author_type": author_type,
        "attachments": fields.get("attachments") or [],
        "merged_from": None,
        "created_at": stamp(now),
    }


def comment_effects(ticket: dict, comment: dict, now: datetime) -> dict:
    """What a new comment changes on its ticket: the first public staff reply is the first response
    (and takes a `new` ticket to `open`); a customer's message takes a ticket pending on them back
    to `open`, and a resolved one to `reopened`. Internal notes change nothing."""
    status = ticket.get("status")
    changes: dict = {}
    if comment["author_type"] == "staff":
        if comment["public"]:
            if ticket.get("first_responded_at") is None:
                changes["first_responded_at"] = stamp(now)
            if status == "new":
                changes["status"] = "open"
    elif status == "pending":
        changes["status"] = "open"
    elif status == "resolved":
        changes["status"] = "reopened"
    return changes


def check_may_comment(caller: Caller, reach: Reach, ticket: dict, comment: dict) -> None:
    """For a visible ticket: public replies and customers' messages by those who may change it;
    internal notes also by the sales side who sees it (its customer's owner and their managers).
    Only internal notes go on a closed ticket: nobody is answered there, nothing reopens it."""
    if comment["public"]:
        check_may_update(caller, reach, ticket)
        if ticket.get("status") == "closed":
            if ticket.get("merged_into"):
                raise Conflict(f"this ticket was merged into {ticket['merged_into']}: write there")
            raise Conflict("closed tickets cannot be reopened: open a new ticket")
        return
    if set(caller.roles) & set(COMMENTERS) or SYSTEM in caller.roles:
        return
    raise Forbidden("you may not write on this ticket")


# merges


def check_mergeable(survivor: dict, duplicate: dict) -> None:
    """A duplicate of the same customer, neither of them closed (closed is final)."""
    if duplicate["contact_id"] != survivor["contact_id"]:
        raise invalid("duplicate_ids", f"ticket {duplicate['id']} is another customer's")
    for ticket in (survivor, duplicate):
        if ticket.get("status") == "closed":
            raise Conflict(f"ticket {ticket['id']} is closed")


def merged_changes(survivor_id: str) -> dict:
    return {"status": "closed", "merged_into": survivor_id}


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


# the list's live `breached`


def _clock_overdue(metric: str, moment: str) -> dict:
    """A running SLA clock whose due time has passed (sla.live_view's test, in the store grammar)."""
    return {f"sla.{metric}.running_since": {"$ne": None}, f"sla.{metric}.due_at": {"$lte": moment}}


def live_breached_filter(moment: str) -> dict:
    """The store filter of `breached` as sla.live_view reads it at `moment`: stored as breached,
    or a running clock already past its due time (the SLA timer has not come round yet)."""
    return {"$or": [{"breached": True}, _clock_overdue("first_response", moment), _clock_overdue("resolution", moment)]}


def with_live_breached(flt: dict | None, moment: str) -> dict | None:
    """The list filter with each `breached` clause read live: `breached` true/false (or $eq/$ne of
    one) becomes the live condition or its negation; other operators keep the stored field."""
    if flt is None:
        return None
    out: dict = {}
    live: list[dict] = []
    for key, value in flt.items():
        if key in ("$and", "$or"):
            out[key] = [with_live_breached(sub, moment) for sub in value]
        elif key == "$not":
            out[key] = with_live_breached(value, moment)
        elif key == "breached":
            wanted = _wanted_breach(value)
            if wanted is None:
                out[key] = value
            else:
                condition = live_breached_filter(moment)
                live.append(condition if wanted else {"$not": condition})
        else:
            out[key] = value
    if not live:
        return out
    return {"$and": ([out] if out else []) + live} if out or len(live) > 1 else live[0]


def _wanted_breach(value) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((op, arg),) = value.items()
        if isinstance(arg, bool) and op in ("$eq", "$ne"):
            return arg if op == "$eq" else not arg
    return None


def follows_contact(known: dict | None, version: int) -> bool:
    """Whether a contact event of `version` is newer than the contact owner already known."""
    return known is None or known["source_version"] < version


# personal data

ERASED_TEXT = "Personal data erased"


def scrubbed_ticket(ticket: dict, now: datetime) -> tuple[dict, list[str]]:
    """A ticket of an erased contact: its subject, description, attachments and the customer's
    survey comment are the person's and go; its skeleton (kind, channel, priority, status, SLA
    times, team, assignee, the score) stays for the service reports. The fields that changed: none
    when it was scrubbed already."""
    changes: dict = {"subject": ERASED_TEXT, "description": "", "attachments": []}
    survey = ticket.get("satisfaction")
    if survey and survey.get("comment"):
        changes["satisfaction"] = {**survey, "comment": None}
    return apply_ticket_changes(ticket, changes, now)


def scrubbed_comment(comment: dict) -> dict | None:
    """A comment on an erased contact's ticket, whoever wrote it (their words, or words to them):
    the body and attachments go. None when it was scrubbed already."""
    if comment["body"] == ERASED_TEXT and not comment.get("attachments"):
        return None
    return {**comment, "body": ERASED_TEXT, "attachments": []}
