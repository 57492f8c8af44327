"""Webhook rules, no I/O: the catalog of event types a subscription may take, its validation, field
filters, and the delivery a matching event makes."""

import re
import secrets
import urllib.parse
from dataclasses import dataclass
from typing import Any

from crm_common.errors import ValidationFailed
from crm_common.ids import new_id
from crm_common.schema import Field, validate

from . import delivery_rules


@dataclass(frozen=True)
class EventKind:
    """What an event type is about: the record type and where its id and customer are in the payload
    (dotted paths), for the per-record order and for an erased customer's events to go nowhere."""

    record_type: str
    record_id: str = "id"
    contact_id: str | None = "contact_id"
    description: str = ""


# `<source service>.<event type>`: the events a subscription may take. Payloads as each source
# service's README states them ("Events published").
CATALOG: dict[str, EventKind] = {
    "contacts.contact_created": EventKind("contact", contact_id="id", description="a contact was created"),
    "contacts.contact_updated": EventKind(
        "contact", contact_id="id", description="a contact changed (`changes`: the field names)"
    ),
    "contacts.contact_deleted": EventKind("contact", contact_id="id", description="a contact was deleted"),
    "contacts.company_created": EventKind("company", contact_id=None, description="a company was created"),
    "contacts.company_updated": EventKind(
        "company", contact_id=None, description="a company changed (`changes`: the field names)"
    ),
    "contacts.company_deleted": EventKind("company", contact_id=None, description="a company was deleted"),
    "sales.deal_created": EventKind("deal", description="a deal was opened"),
    "sales.deal_updated": EventKind("deal", description="a deal changed (`changes`, `stage_name`): won, lost, moved"),
    "sales.order_created": EventKind("order", description="an order was recorded"),
    "sales.order_updated": EventKind("order", description="an order changed (`changes`)"),
    "sales.task_created": EventKind("task", description="a task was created"),
    "sales.task_updated": EventKind("task", description="a task changed (`changes`): done, reassigned"),
    "service_desk.ticket_created": EventKind("ticket", description="a ticket was raised"),
    "service_desk.ticket_updated": EventKind("ticket", description="a ticket changed (`changes`): status, assignee"),
    "service_desk.ticket_commented": EventKind(
        "ticket",
        record_id="ticket.id",
        contact_id="ticket.contact_id",
        description="a comment on a ticket (`comment`, `ticket`): public replies and internal notes",
    ),
    "service_desk.ticket_sla_breached": EventKind("ticket", description="a ticket missed an SLA target"),
    "service_desk.ticket_satisfaction_rated": EventKind(
        "ticket", description="a customer rated the service on a ticket (`score`, `comment`)"
    ),
}

# A filter key: a dotted path into the payload, at most four levels.
FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$")
MAX_FILTERS, MAX_FILTER_TEXT, MAX_FILTER_CHOICES = 20, 1000, 50
SCALARS = (str, int, float, bool, type(None))

WEBHOOK_FIELDS = {
    "url": Field("text", required=True, max_length=2000),
    "event_types": Field("choices", required=True, nullable=False, choices=tuple(CATALOG)),
    "description": Field("text", max_length=500),
    "active": Field("bool", nullable=False),
}
WEBHOOK_SERVER_OWNED = (
    "id",
    "secret",
    "disabled_reason",
    "disabled_at",
    "consecutive_failures",
    "created_by",
    "created_at",
    "updated_at",
    "version",
)


def url_problem(url: str) -> str | None:
    """An absolute http(s) URL with a host; no credentials in it (they would show in the delivery
    log: the signature is how a receiver knows the sender)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        return "must be a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (receivers check the signature instead)"
    if any(c.isspace() for c in url.strip()):
        return "must not contain spaces"
    return None


def filters_problem(filters: Any) -> str | None:
    """Field filters: `{path: value}`, a scalar or a list of scalars (any of them)."""
    if not isinstance(filters, dict):
        return "must be an object"
    if len(filters) > MAX_FILTERS:
        return f"must hold at most {MAX_FILTERS} conditions"
    for key, value in filters.items():
        if not FILTER_KEY.match(key):
            return f"has an invalid field path {key!r} (dotted identifiers, at most four levels)"
        choices = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not 0 < len(value) <= MAX_FILTER_CHOICES:
            return f"value of {key!r} must list 1 to {MAX_FILTER_CHOICES} values"
        for choice in choices:
            if not isinstance(choice, SCALARS):
                return f"value of {key!r} must be a scalar or a list of scalars"
            if isinstance(choice, str) and len(choice) > MAX_FILTER_TEXT:
                return f"value of {key!r} must be at most {MAX_FILTER_TEXT} characters"
    return None


def checked_fields(data: Any, partial: bool = False) -> dict:
    """The accepted fields of a create (`partial` False) or an update, or ValidationFailed listing them."""
    # `filters` keys are dotted paths, which the shared `object` field refuses: checked here.
    has_filters = isinstance(data, dict) and "filters" in data
    rest = {name: value for name, value in data.items() if name != "filters"} if has_filters else data
    errors = []
    try:
        fields = validate(rest, WEBHOOK_FIELDS, partial=partial, server_owned=WEBHOOK_SERVER_OWNED)
    except ValidationFailed as exc:
        fields, errors = {}, list(exc.errors)
    if has_filters:
        problem = filters_problem(data["filters"])
        if problem:
            errors.append({"field": "filters", "message": problem})
        else:
            fields["filters"] = data["filters"]
    if "url" in fields:
        problem = url_problem(fields["url"])
        if problem:
            errors.append({"field": "url", "message": problem})
        fields["url"] = fields["url"].strip()
    if "event_types" in fields:
        if not fields["event_types"]:
            errors.append({"field": "event_types", "message": "must name at least one event type"})
        fields["event_types"] = list(dict.fromkeys(fields["event_types"]))
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)
    return fields


def new_secret() -> str:
    return secrets.token_hex(32)


def new_webhook(fields: dict, created_by: str, now: str) -> dict:
    return {
        "id": new_id(),
        "url": fields["url"],
        "event_types": fields["event_types"],
        "filters": fields.get("filters") or {},
        "description": fields.get("description"),
        "active": fields.get("active", True),
        "disabled_reason": None,
        "disabled_at": None,
        "consecutive_failures": 0,
        "secret": new_secret(),
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
    }


def apply_changes(current: dict, changes: dict, now: str) -> tuple[dict, list[str]]:
    """The webhook after an update and the names of the fields that changed. Switching a disabled
    webhook back on clears its failure count and reason: it starts afresh."""
    changed = [name for name, value in changes.items() if current.get(name) != value]
    if not changed:
        return current, []
    updated = {**current, **changes, "updated_at": now}
    if "active" in changed and updated["active"]:
        updated.update(consecutive_failures=0, disabled_reason=None, disabled_at=None)
    return updated, changed


def public(webhook: dict) -> dict:
    """A webhook as reads show it: the secret only ever leaves the service in create's answer."""
    return {name: value for name, value in webhook.items() if name != "secret"}


def value_at(payload: Any, path: str) -> Any:
    for name in path.split("."):
        if not isinstance(payload, dict):
            return None
        payload = payload.get(name)
    return payload


def _comparable(expected: Any, actual: Any) -> bool:
    # JSON numbers compare across int and float, but true is not 1 (as Python would have it).
    return type(expected) is type(actual) or (
        isinstance(expected, (int, float))
        and isinstance(actual, (int, float))
        and not isinstance(expected, bool)
        and not isinstance(actual, bool)
    )


def _holds(expected: Any, actual: Any) -> bool:
    if isinstance(actual, list):  # a list field (changes, tags) matches when it holds the value
        return any(_holds(expected, item) for item in actual)
    return _comparable(expected, actual) and expected == actual


def matches(filters: dict, payload: dict) -> bool:
    """Every condition holds: the payload's value at the path equals the filter's value (one of
    them, for a list); a list in the payload matches when it holds the value. A missing field is null."""
    for path, expected in (filters or {}).items():
        actual = value_at(payload, path)
        choices = expected if isinstance(expected, list) else [expected]
        if not any(_holds(choice, actual) for choice in choices):
            return False
    return True


def record_of(event_type: str, payload: dict) -> tuple[str, str, str | None]:
    """(record type, record id, contact id or None) of an event of a catalog type."""
    kind = CATALOG[event_type]
    record_id = value_at(payload, kind.record_id)
    contact_id = value_at(payload, kind.contact_id) if kind.contact_id else None
    return kind.record_type, str(record_id or ""), contact_id if isinstance(contact_id, str) else None


def delivery(webhook: dict, event_type: str, event, now: str) -> dict:
    """The delivery of one event to one subscription (a row of the delivery log, channel webhook):
    `payload` is the JSON body POSTed. One per event and subscription (`dedupe_key`); the deliveries
    of one record to one subscription go out in creation order (`order_key`)."""
    record_type, record_id, contact_id = record_of(event_type, event.payload)
    queued = delivery_rules.new_delivery(
        channel="webhook",
        to=webhook["url"],
        dedupe_key=f"{event.event_id}:{webhook['id']}",
        kind=event_type,
        created_at=now,
        contact_id=contact_id,
        subscription_id=webhook["id"],
        order_key=f"{webhook['id']}:{record_type}:{record_id}",
        event_id=event.event_id,
        ref={"type": record_type, "id": record_id},
    )
    queued["payload"] = {
        "id": queued["id"],
        "event_id": event.event_id,
        "event_type": event_type,
        "occurred_at": event.occurred_at,
        "data": event.payload,
    }
    return queued
