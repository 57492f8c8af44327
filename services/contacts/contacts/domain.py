"""Contacts rules: building records, applying changes, and the timeline entries they produce."""

from crm_common.ids import new_id


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
        "owner_id": fields.get("owner_id", actor),
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }


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
        "owner_id": fields.get("owner_id", actor),
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    if contact.get("email"):
        contact["email"] = contact["email"].strip().lower()
    contact["display_name"] = display_name(contact)
    return contact


def apply_contact_changes(contact: dict, changes: dict, now: str) -> tuple[dict, list[str]]:
    """The contact after a partial update, and the names of the fields that really changed."""
    if changes.get("email"):
        changes = {**changes, "email": changes["email"].strip().lower()}
    changed = [name for name, value in changes.items() if contact.get(name) != value]
    updated = {**contact, **changes, "updated_at": now if changed else contact["updated_at"]}
    updated["display_name"] = display_name(updated)
    return updated, changed


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
) -> dict:
    # The id is derived from the event so that a replayed event cannot add a second entry.
    return {
        "id": f"{subject_id}:{event_id}",
        "subject_type": subject_type,
        "subject_id": subject_id,
        "kind": kind,
        "source": source,
        "summary": summary,
        "ref": {"type": ref_type, "id": ref_id},
        "occurred_at": occurred_at,
    }


def public_timeline_entry(entry: dict) -> dict:
    return {k: entry[k] for k in ("id", "kind", "occurred_at", "source", "summary", "ref")}
