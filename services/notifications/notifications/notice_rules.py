"""Staff notices, pure: the catalog of notice kinds, each kind's rule (who hears of it, on which
channels, urgent or mandatory) with its built-in default, each user's preferences with theirs,
their validation, and `plan`: what one notice becomes for one recipient (in-app, an email now or
after their quiet hours, a digest entry, an SMS). notices.py stores and sends what this decides."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crm_common.errors import ValidationFailed
from crm_common.schema import EMAIL

from . import greetings

CHANNELS = ("in_app", "email", "sms")
LANGUAGES = ("en", "zh-CN")
DIGESTS = ("off", "hourly", "daily")
MAX_RULE_USERS = 50
MAX_USER_ID = 64
PHONE = re.compile(r"^\+[0-9]{6,15}$")
MAX_EMAIL = 254  # RFC 5321, as the directory accepts: an account's email is always a valid default


@dataclass(frozen=True)
class Kind:
    description: str
    source_events: tuple[str, ...]
    audiences: tuple[str, ...]


# Catalog order is the API's order.
KINDS: dict[str, Kind] = {
    "customer_assigned": Kind(
        "a customer was given to its new owner", ("contacts.contact_created", "contacts.contact_assigned"), ("owner",)
    ),
    "customers_handed_over": Kind(
        "customers were handed over to a colleague", ("contacts.customers_handed_over",), ("recipient",)
    ),
    "pool_reclaim_warning": Kind(
        "a customer goes back to the pool soon unless its owner acts", ("contacts.pool_reclaim_warned",), ("owner",)
    ),
    "pool_reclaimed": Kind("a customer went back to the pool", ("contacts.contact_reclaimed",), ("former_owner",)),
    "deal_created": Kind("a deal was opened with a customer", ("sales.deal_created",), ("customer_owner",)),
    "deal_won": Kind("a deal was won", ("sales.deal_updated",), ("owner",)),
    "deal_rotting": Kind("a deal has not moved for too long", ("sales.deal_rotting",), ("owner",)),
    "churn_risk": Kind("a customer's churn risk changed", ("sales.churn_risk_changed",), ("owner",)),
    "task_assigned": Kind("a task was assigned", ("sales.task_created", "sales.task_updated"), ("assignee",)),
    "task_reminder": Kind("a task's reminder is due", ("sales.task_reminder_due",), ("assignee",)),
    "task_overdue": Kind("a task is overdue", ("sales.task_overdue",), ("assignee", "creator")),
    "ticket_created": Kind("a customer opened a ticket", ("service_desk.ticket_created",), ("customer_owner",)),
    "ticket_assigned": Kind(
        "a ticket was assigned", ("service_desk.ticket_created", "service_desk.ticket_updated"), ("assignee",)
    ),
    "ticket_customer_reply": Kind(
        "the customer replied on a ticket", ("service_desk.ticket_commented",), ("assignee",)
    ),
    "sla_warning": Kind(
        "a ticket is close to breaching its SLA", ("service_desk.ticket_sla_warning",), ("recipients",)
    ),
    "sla_escalated": Kind(
        "a ticket breached its SLA and was escalated", ("service_desk.ticket_escalated",), ("recipients",)
    ),
    "mention": Kind(
        "someone mentioned you in an interaction or a ticket comment",
        ("contacts.interaction_logged", "contacts.interaction_updated", "service_desk.ticket_commented"),
        ("mentioned",),
    ),
    "webhook_disabled": Kind(
        "a webhook was disabled after failing too often", ("notifications.webhook_disabled",), ("creator",)
    ),
    "erasure_completed": Kind("a personal-data erasure completed", ("contacts.erasure_completed",), ("requester",)),
}
URGENT_BY_DEFAULT = ("sla_escalated",)
MANDATORY_BY_DEFAULT = ("erasure_completed", "webhook_disabled")

RULE_FIELDS = ("audiences", "user_ids", "channels", "enabled", "urgent", "mandatory")
RULE_SERVER_OWNED = (
    "id",
    "kind",
    "description",
    "source_events",
    "audiences_available",
    "customized",
    "version",
    "updated_at",
    "updated_by",
)
PREFERENCE_FIELDS = (
    "email",
    "phone",
    "language",
    "time_zone",
    "quiet_hours",
    "digest",
    "digest_at",
    "channels",
    "muted",
)
PREFERENCE_SERVER_OWNED = ("id", "user_id", "version", "created_at", "updated_at")
DEFAULT_DIGEST_AT = "08:00"


def default_rule(kind: str) -> dict:
    """Today's behaviour: in-app to the kind's natural audiences."""
    spec = KINDS[kind]
    return {
        "id": kind,
        "kind": kind,
        "description": spec.description,
        "source_events": list(spec.source_events),
        "audiences_available": list(spec.audiences),
        "audiences": list(spec.audiences),
        "user_ids": [],
        "channels": ["in_app"],
        "enabled": True,
        "urgent": kind in URGENT_BY_DEFAULT,
        "mandatory": kind in MANDATORY_BY_DEFAULT,
        "customized": False,
        "version": 0,
        "updated_at": None,
        "updated_by": None,
    }


def default_preferences(user_id: str, email: str | None = None) -> dict:
    """SMS is opt-in: it needs a phone number the user gives."""
    return {
        "id": user_id,
        "user_id": user_id,
        "email": email,
        "phone": None,
        "language": "en",
        "time_zone": "UTC",
        "quiet_hours": None,
        "digest": "off",
        "digest_at": DEFAULT_DIGEST_AT,
        "channels": {"email": True, "sms": False},
        "muted": {},
        "version": 0,
        "created_at": None,
        "updated_at": None,
    }


def _fail(errors: list[dict]) -> None:
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)


def _field_errors(data: Any, known: tuple[str, ...], server_owned: tuple[str, ...]) -> list[dict]:
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
    return [
        {
            "field": name,
            "message": "is set by the server and cannot be written" if name in server_owned else "is not a known field",
        }
        for name in data
        if name not in known
    ]


def _channel_list_problem(value: Any, allowed: tuple[str, ...]) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return f"must be a list of {', '.join(allowed)}"
    if any(item not in allowed for item in value):
        return f"must only hold {', '.join(allowed)}"
    return "must not repeat a value" if len(set(value)) != len(value) else None


def changed_rule(current: dict, data: Any) -> dict:
    """`current` (stored or default) with the admin's partial change applied; ValidationFailed
    names every problem. The result is what the kind's notices follow from then on."""
    errors = _field_errors(data, RULE_FIELDS, RULE_SERVER_OWNED)
    kind = current["kind"]
    available = tuple(KINDS[kind].audiences)
    for name in ("enabled", "urgent", "mandatory"):
        if name in data and not isinstance(data[name], bool):
            errors.append({"field": name, "message": "must be true or false"})
    if "audiences" in data and (problem := _channel_list_problem(data["audiences"], available)):
        errors.append({"field": "audiences", "message": problem.replace("must only hold", f"{kind} has only")})
    if "channels" in data and (problem := _channel_list_problem(data["channels"], CHANNELS)):
        errors.append({"field": "channels", "message": problem})
    if "user_ids" in data:
        ids = data["user_ids"]
        if not isinstance(ids, list) or not all(
            isinstance(i, str) and 0 < len(i.strip()) and len(i) <= MAX_USER_ID for i in ids
        ):
            errors.append(
                {"field": "user_ids", "message": f"must be a list of user ids (at most {MAX_USER_ID} characters)"}
            )
        elif len(ids) > MAX_RULE_USERS:
            errors.append({"field": "user_ids", "message": f"must hold at most {MAX_RULE_USERS} ids"})
        elif len(set(ids)) != len(ids):
            errors.append({"field": "user_ids", "message": "must not repeat an id"})
    _fail(errors)
    changed = {**current, **{name: data[name] for name in RULE_FIELDS if name in data}}
    if changed["enabled"] and not changed["channels"]:
        _fail([{"field": "channels", "message": "must name at least one channel while the rule is enabled"}])
    return changed


def _quiet_hours_problem(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"start", "end"}:
        return 'must be null or {"start": "HH:MM", "end": "HH:MM"}'
    start, end = greetings.clock(value["start"]), greetings.clock(value["end"])
    if start is None or end is None:
        return "start and end must be HH:MM times"
    return "start and end must differ" if start == end else None


def changed_preferences(current: dict, data: Any) -> dict:
    """`current` (stored or default) with the user's partial change applied: `quiet_hours` null
    clears them, `channels` changes the channels it names, `muted` replaces the whole map.
    ValidationFailed names every problem."""
    errors = _field_errors(data, PREFERENCE_FIELDS, PREFERENCE_SERVER_OWNED)
    if "email" in data and data["email"] is not None:
        if not isinstance(data["email"], str) or len(data["email"]) > MAX_EMAIL or not EMAIL.match(data["email"]):
            errors.append({"field": "email", "message": "must be an email address"})
    if "phone" in data and data["phone"] is not None:
        if not isinstance(data["phone"], str) or not PHONE.match(data["phone"]):
            errors.append({"field": "phone", "message": "must be a phone number: + and 6 to 15 digits"})
    if "language" in data and data["language"] not in LANGUAGES:
        errors.append({"field": "language", "message": f"must be one of {', '.join(LANGUAGES)}"})
    if "time_zone" in data and greetings.zone(data["time_zone"]) is None:
        errors.append({"field": "time_zone", "message": "must be an IANA time zone such as Asia/Shanghai"})
    if "quiet_hours" in data and (problem := _quiet_hours_problem(data["quiet_hours"])):
        errors.append({"field": "quiet_hours", "message": problem})
    if "digest" in data and data["digest"] not in DIGESTS:
        errors.append({"field": "digest", "message": f"must be one of {', '.join(DIGESTS)}"})
    if "digest_at" in data and greetings.clock(data["digest_at"]) is None:
        errors.append({"field": "digest_at", "message": "must be an HH:MM time"})
    channels = dict(current["channels"])
    if "channels" in data:
        given = data["channels"]
        if not isinstance(given, dict):
            errors.append({"field": "channels", "message": "must be an object of email and sms to true or false"})
        else:
            for name, value in given.items():
                if name not in ("email", "sms"):
                    errors.append({"field": f"channels.{name}", "message": "is not a channel (email, sms)"})
                elif not isinstance(value, bool):
                    errors.append({"field": f"channels.{name}", "message": "must be true or false"})
                else:
                    channels[name] = value
    if "muted" in data:
        muted = data["muted"]
        if not isinstance(muted, dict):
            errors.append({"field": "muted", "message": "must be an object of notice kinds to lists of channels"})
        else:
            for kind, value in muted.items():
                if kind not in KINDS:
                    errors.append({"field": f"muted.{kind}", "message": "is not a notice kind"})
                elif problem := _channel_list_problem(value, CHANNELS):
                    errors.append({"field": f"muted.{kind}", "message": problem})
    _fail(errors)
    changed = {**current, **{name: data[name] for name in PREFERENCE_FIELDS if name in data}, "channels": channels}
    if changed["channels"].get("sms") and not changed.get("phone"):
        _fail([{"field": "channels.sms", "message": "needs a phone number"}])
    return changed


@dataclass(frozen=True)
class NoticePlan:
    """What one notice becomes for one recipient."""

    in_app: bool
    email_at: datetime | None  # an email, due then
    email_digest: bool  # an entry of the recipient's next email digest instead
    sms_at: datetime | None


def time_zone_of(prefs: dict) -> ZoneInfo:
    return greetings.zone(prefs.get("time_zone")) or ZoneInfo("UTC")


def plan(rule: dict, prefs: dict, now: datetime) -> NoticePlan:
    """In-app, email and SMS as the rule asks and the recipient allows: their mutes (ignored for a
    mandatory kind), the address or number they gave, their email/SMS switches; an urgent kind goes
    at once, anything else waits out their quiet hours, and email joins their digest if they have one."""
    muted = set() if rule.get("mandatory") else set((prefs.get("muted") or {}).get(rule["kind"]) or ())
    wanted = {channel for channel in rule["channels"] if channel not in muted}
    switches = prefs.get("channels") or {}
    urgent = bool(rule.get("urgent"))
    tz = time_zone_of(prefs)
    email_at, email_digest, sms_at = None, False, None
    if "email" in wanted and prefs.get("email") and switches.get("email"):
        if urgent:
            email_at = now
        elif prefs.get("digest", "off") != "off":
            email_digest = True
        else:
            email_at = greetings.after_quiet_hours(now, tz, prefs.get("quiet_hours"))
    if "sms" in wanted and prefs.get("phone") and switches.get("sms"):
        sms_at = now if urgent else greetings.after_quiet_hours(now, tz, prefs.get("quiet_hours"))
    return NoticePlan(in_app="in_app" in wanted, email_at=email_at, email_digest=email_digest, sms_at=sms_at)


def digest_due_at(prefs: dict, oldest: datetime) -> datetime:
    """When the digest holding a notice of `oldest` goes: hourly at the next full hour (UTC), daily
    at the first `digest_at` (the user's wall clock) after it, either pushed past the quiet hours;
    at once when the user has turned digests off since."""
    digest = prefs.get("digest", "off")
    tz = time_zone_of(prefs)
    if digest == "hourly":
        due = oldest.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    elif digest == "daily":
        wall = greetings.clock(prefs.get("digest_at")) or greetings.clock(DEFAULT_DIGEST_AT)
        day = oldest.astimezone(tz).date()
        due = greetings.at_local(day, wall, tz)
        if due <= oldest:
            due = greetings.at_local(day + timedelta(days=1), wall, tz)
    else:
        return oldest
    return greetings.after_quiet_hours(due, tz, prefs.get("quiet_hours"))
