"""Contacts rules: building records, applying changes, who sees and changes a customer, and the
timeline entries they produce."""

from collections.abc import Iterable

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

# A support agent's lists reach the customers linked to their teams' tickets through an `$in` of
# ids: the most recently linked this many, so the filter stays bounded.
MAX_LINKED_SUBJECTS = 1000


def display_name(contact: dict) -> str:
    first, last = contact.get("first_name") or "", contact.get("last_name") or ""
    if first and last and (_is_cjk(first) or _is_cjk(last)):
        return f"{last}{first}"  # Chinese names read family name first, with no space
    return " ".join(p for p in (first, last) if p) or contact.get("email") or contact["id"]


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def new_company(fields: dict, actor: str, now: str) -> dict:
    return {
        "id": new_id(),
        "tax_id": None,
        "industry": None,
        "size": None,
        "custom_fields": {},
        **fields,
        "shared_with": _distinct(fields.get("shared_with") or []),
        "owner_id": fields.get("owner_id", actor),
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }


def _distinct(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def new_contact(fields: dict, actor: str, now: str) -> dict:
    contact = {
        "id": new_id(),
        "first_name": None,
        "last_name": None,
        "email": None,
        "phone": None,
        "company_id": None,
        "lifecycle_stage": "lead",
        "tags": [],
        "custom_fields": {},
        "value_grade": None,
        "churn_risk": None,
        **fields,
        "shared_with": _distinct(fields.get("shared_with") or []),
        "owner_id": fields.get("owner_id", actor),
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    if contact.get("email"):
        contact["email"] = contact["email"].strip().lower()
    contact["display_name"] = display_name(contact)
    return contact


def apply_changes(record: dict, changes: dict, now: str) -> tuple[dict, list[str]]:
    """A company (or any record) after a partial update, and the names of the fields that really changed."""
    if "shared_with" in changes:
        changes = {**changes, "shared_with": _distinct(changes["shared_with"])}
    changed = [name for name, value in changes.items() if record.get(name) != value]
    return {**record, **changes, "updated_at": now if changed else record["updated_at"]}, changed


def apply_contact_changes(contact: dict, changes: dict, now: str) -> tuple[dict, list[str]]:
    """The contact after a partial update, and the names of the fields that really changed."""
    if changes.get("email"):
        changes = {**changes, "email": changes["email"].strip().lower()}
    updated, changed = apply_changes(contact, changes, now)
    updated["display_name"] = display_name(updated)
    return updated, changed


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
