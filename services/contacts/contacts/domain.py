"""Contacts rules: building records, applying changes, who sees and changes a customer, and the
timeline entries they produce."""

from collections.abc import Iterable
from datetime import UTC, datetime

from crm_common.access import (
    ADMIN,
    MANAGER,
    SYSTEM,
    Reach,
    may_assign_owner,
    may_change_owner,
    owner_filter,
    record_tokens,
    tokens_filter,
)
from crm_common.caller import Caller
from crm_common.errors import Forbidden
from crm_common.ids import new_id

from .matching import is_cjk

# A support agent's lists reach the customers linked to their teams' tickets through an `$in` of
# ids: the most recently linked this many, so the filter stays bounded.
MAX_LINKED_SUBJECTS = 1000


def utc_timestamp(value: str) -> str:
    """An ISO 8601 date or time as the store keeps timestamps (UTC, microseconds, Z), so they
    compare as text; a date is its first moment, a time without an offset is UTC. ValueError if
    invalid, also for a moment whose UTC form falls outside years 1-9999."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        # isoformat pads the year to four digits (strftime's %Y does not, for years before 1000).
        return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    except OverflowError:
        raise ValueError(f"{value} is out of range") from None


def display_name(contact: dict) -> str:
    first, last = contact.get("first_name") or "", contact.get("last_name") or ""
    if first and last and any(is_cjk(ch) for ch in first + last):
        return f"{last}{first}"  # Chinese names read family name first, with no space
    return " ".join(p for p in (first, last) if p) or contact.get("email") or contact["id"]


def new_company(fields: dict, actor: str, now: str) -> dict:
    company = {
        "id": new_id(),
        "tax_id": None,
        "account_number": None,
        "industry": None,
        "size": None,
        "business_scope": None,
        "credit_rating": None,
        "website": None,
        **_common_defaults(),
        **fields,
    }
    return _server_fields(company, fields, actor, now)


def new_contact(fields: dict, actor: str, now: str) -> dict:
    contact = {
        "id": new_id(),
        "first_name": None,
        "last_name": None,
        "other_emails": [],
        "other_phones": [],
        "company_id": None,
        "title": None,
        "birthday": None,
        "preferred_language": None,
        "lifecycle_stage": "lead",
        "interests": [],
        "preferences": {},
        "lead_score": None,
        **_common_defaults(),
        **fields,
    }
    contact = _server_fields(contact, fields, actor, now)
    contact["lifecycle_history"] = [{"stage": contact["lifecycle_stage"], "from_stage": None, "at": now, "by": actor}]
    contact["display_name"] = display_name(contact)
    return contact


def _common_defaults() -> dict:
    return {
        "local_name": None,
        "email": None,
        "phone": None,
        "addresses": [],
        "source_channel": None,
        "source_campaign": None,
        "tags": [],
        "custom_fields": {},
        "value_grade": None,
        "churn_risk": None,
        "last_activity_at": None,
        "open_deal_count": 0,
    }


def _server_fields(record: dict, fields: dict, actor: str, now: str) -> dict:
    owner_id = fields.get("owner_id", actor)
    record.update(
        shared_with=_distinct(fields.get("shared_with") or []),
        custom_fields=_without_nulls(fields.get("custom_fields") or {}),
        owner_id=owner_id,
        owner_history=[],
        pool=None if owner_id else {"entered_at": now, "reason": "created in the pool", "previous_owner_id": None},
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    if record.get("email"):
        record["email"] = record["email"].strip().lower()
    if record.get("other_emails"):
        record["other_emails"] = _distinct(e.strip().lower() for e in record["other_emails"])
    return record


def _distinct(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _without_nulls(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def apply_changes(record: dict, changes: dict, now: str, actor: str = "system") -> tuple[dict, list[str]]:
    """A company or contact after a partial update, and the names of the fields that really changed.
    `custom_fields` merges key by key (a null value removes the key); a new lifecycle stage is
    added to the lifecycle history."""
    changes = dict(changes)
    if "shared_with" in changes:
        changes["shared_with"] = _distinct(changes["shared_with"])
    if "custom_fields" in changes:
        changes["custom_fields"] = _without_nulls({**record.get("custom_fields", {}), **changes["custom_fields"]})
    if changes.get("email"):
        changes["email"] = changes["email"].strip().lower()
    if changes.get("other_emails"):
        changes["other_emails"] = _distinct(e.strip().lower() for e in changes["other_emails"])
    changed = [name for name, value in changes.items() if record.get(name) != value]
    updated = {**record, **changes, "updated_at": now if changed else record["updated_at"]}
    if "lifecycle_stage" in changed:
        step = {
            "stage": updated["lifecycle_stage"],
            "from_stage": record.get("lifecycle_stage"),
            "at": now,
            "by": actor,
        }
        updated["lifecycle_history"] = [*record.get("lifecycle_history", []), step]
    if "first_name" in updated:
        updated["display_name"] = display_name(updated)
    return updated, changed


def change_owner(record: dict, new_owner_id: str | None, actor: str, reason: str | None, now: str) -> dict:
    """The record handed to `new_owner_id` (None: the pool), with the hand-over in its owner
    history; its history stays with the customer, whoever owns it next."""
    previous = record.get("owner_id")
    step = {"owner_id": new_owner_id, "from_owner_id": previous, "at": now, "by": actor, "reason": reason}
    pool = None
    if new_owner_id is None:
        pool = {"entered_at": now, "reason": reason, "previous_owner_id": previous}
    return {
        **record,
        "owner_id": new_owner_id,
        "owner_history": [*record.get("owner_history", []), step],
        "pool": pool,
        "updated_at": now,
    }


def describe_changes(before: dict, after: dict, changed: list[str]) -> str:
    """A timeline line for a change: short values shown as from -> to, the rest by name."""
    parts = []
    for name in changed:
        old, new = before.get(name), after.get(name)
        if isinstance(old, (str, int, type(None))) and isinstance(new, (str, int, type(None))):
            shown = [v if v is not None else "none" for v in (old, new)]
            if all(len(str(v)) <= 60 for v in shown):
                parts.append(f"{name} {shown[0]} -> {shown[1]}")
                continue
        parts.append(name)
    return "Changed " + ", ".join(parts)


def snapshot(subject_type: str, record: dict, at: str, deleted_by: str | None = None) -> dict:
    """One version of a company or contact as it was from `at`: what `as_of` reads back. A delete
    leaves a last snapshot marked deleted, so the history and who may read it survive."""
    return {
        "id": f"{record['id']}:{record['version']:010d}",
        "subject_type": subject_type,
        "subject_id": record["id"],
        "record_version": record["version"],  # the store owns the document's own `version`
        "valid_from": at,
        "deleted_by": deleted_by,
        "record": record,
    }


# who sees and changes a customer (the visibility table of the API)


def customer_in_reach(reach: Reach, record: dict, linked_team_ids: Iterable[str] = ()) -> bool:
    """Owned in reach, shared with the caller, in the pool for those who see it, or linked to a
    ticket of one of the caller's service teams."""
    if reach.sees_owner(record.get("owner_id"), record.get("shared_with") or ()):
        return True
    return any(reach.sees_team(team_id) for team_id in linked_team_ids)


def customer_filter(reach: Reach, linked_ids: Iterable[str] = ()) -> dict | None:
    """The store-side twin of `customer_in_reach`; `linked_ids` are the customers linked to the
    caller's teams' tickets. None when the caller sees everything."""
    owned = owner_filter(reach)
    linked = sorted(set(linked_ids))
    if owned is None or not linked:
        return owned
    return {"$or": [owned, {"id": {"$in": linked}}]}


def check_new_owner(caller: Caller, owner_id: str | None) -> None:
    if not may_assign_owner(caller, owner_id):
        raise Forbidden("you may not give a record to that owner")


def check_may_change(caller: Caller, reach: Reach, record: dict, changes: dict) -> None:
    """For a visible record and a caller whose role writes customers: Forbidden when the record
    is in the pool (claimed first, not edited), seen only through a team's tickets (read-only),
    or the owner change is not theirs to make."""
    owner_id = record.get("owner_id")
    if owner_id is None and not set(caller.roles) & {ADMIN, MANAGER, SYSTEM}:
        raise Forbidden("a customer in the pool must be claimed before it is changed")
    if not reach.sees_owner(owner_id, record.get("shared_with") or ()):
        raise Forbidden("a customer linked to your team's tickets is read-only for you")
    if "owner_id" in changes and not may_change_owner(caller, owner_id, changes["owner_id"]):
        raise Forbidden("you may not give this record to that owner")


def link_id(subject_type: str, subject_id: str, team_id: str) -> str:
    return f"{subject_type}:{subject_id}:{team_id}"


def service_links(ticket: dict, linked_at: str) -> list[dict]:
    """The customers a ticket links to its service team: its contact and its company."""
    team_id = ticket.get("team_id")
    if not team_id:
        return []
    return [
        {
            "id": link_id(subject_type, ticket[key], team_id),
            "subject_type": subject_type,
            "subject_id": ticket[key],
            "team_id": team_id,
            "linked_at": linked_at,
        }
        for subject_type, key in (("contact", "contact_id"), ("company", "company_id"))
        if ticket.get(key)
    ]


def deal_access(deal: dict) -> list[str]:
    """Who may see a deal's timeline entries: who may see the deal (deals have no pool)."""
    return record_tokens(deal.get("owner_id"), deal.get("shared_with") or (), poolable=False)


def ticket_access(ticket: dict) -> list[str]:
    """Who may see a ticket's timeline entries: its team, its assignee and its customer's owner
    (not the pool: pool customers' tickets are for the service teams)."""
    return record_tokens(
        ticket.get("contact_owner_id"),
        team_ids=[ticket.get("team_id")],
        user_ids=[ticket.get("assignee_id")],
        poolable=False,
    )


def interaction_access(interaction: dict) -> list[str]:
    """Who may see an interaction's timeline entries: who sees its customer's owner and shares."""
    return record_tokens(interaction.get("owner_id"), interaction.get("shared_with") or ())


def order_access(order: dict) -> list[str]:
    """Who may see an order's timeline entries: who may see the order (its owner, no pool)."""
    return record_tokens(order.get("owner_id"), order.get("shared_with") or (), poolable=False)


def deal_change_summary(deal: dict, changes: list[str]) -> str | None:
    """A timeline line for a deal's stage move or outcome; None for changes the story skips."""
    if "status" in changes and deal.get("status") == "won":
        return f"Deal {deal['title']} won ({deal['amount']} {deal['currency']})"
    if "status" in changes and deal.get("status") == "lost":
        reason = f": {deal['lost_reason']}" if deal.get("lost_reason") else ""
        return f"Deal {deal['title']} lost{reason}"
    if "stage_id" in changes:
        return f"Deal {deal['title']} moved to {deal.get('stage_name') or deal['stage_id']}"
    return None


def ticket_change_summary(ticket: dict, changes: list[str]) -> str | None:
    if "status" in changes:
        return f"Ticket {ticket['subject']} is now {ticket['status']}"
    if "priority" in changes:
        return f"Ticket {ticket['subject']} priority is now {ticket['priority']}"
    return None


def timeline_filter(reach: Reach) -> dict | None:
    """Entries the caller may see on a subject they see: the subject's own (no tokens) and those
    whose tokens meet theirs. None when the caller sees everything."""
    tokens = tokens_filter(reach)
    return None if tokens is None else {"$or": [{"access": None}, tokens]}


def timeline_entry(
    subject_type: str,
    subject_id: str,
    kind: str,
    source: str,
    summary: str,
    ref_type: str,
    ref_id: str,
    occurred_at: str,
    event_id: str,
    access: list[str] | None = None,
    ref_version: int | None = None,
) -> dict:
    """An entry about another record (a deal, a ticket) carries that record's access tokens, as of
    `ref_version`; an entry about the subject itself carries none."""
    # The id is derived from the event so that a replayed event cannot add a second entry.
    entry = {
        "id": f"{subject_id}:{event_id}",
        "subject_type": subject_type,
        "subject_id": subject_id,
        "kind": kind,
        "source": source,
        "summary": summary,
        "ref": {"type": ref_type, "id": ref_id},
        "occurred_at": occurred_at,
    }
    if access is not None:
        entry["access"] = access
        entry["ref_version"] = ref_version
    return entry


def public_timeline_entry(entry: dict) -> dict:
    return {k: entry[k] for k in ("id", "kind", "occurred_at", "source", "summary", "ref")}
