"""Customer-pool rules without I/O: settings, claim limits, reclaim rules and what a reclaim run does."""

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from crm_common.errors import Conflict, ValidationFailed
from crm_common.schema import Field, validate

from .schemas import LIFECYCLE_STAGES, VALUE_GRADES

# Value grades from sales' RFM analysis, best first.
GRADES = VALUE_GRADES

DEFAULT_SETTINGS: dict[str, int | None] = {
    "max_owned_per_rep": None,  # customers one person may own before claiming stops; None: no cap
    "max_claims_per_day": 20,  # claims per person per UTC day; None: no cap
    "reclaim_cooldown_days": 0,  # days before a person may claim back a customer reclaimed from them
}
SETTING_LIMITS = {"max_owned_per_rep": 1_000_000, "max_claims_per_day": 100_000, "reclaim_cooldown_days": 3650}
SETTINGS_FIELDS = {name: Field("int") for name in DEFAULT_SETTINGS}
NOT_NULL_SETTINGS = ("reclaim_cooldown_days",)

DEFAULT_NOTICE_DAYS = 7
MAX_NOTICE_DAYS = 365
MAX_INACTIVE_DAYS = 3650
RULE_FIELDS = {
    "name": Field("text", max_length=100, required=True),
    "description": Field("text", max_length=500),
    "active": Field("bool", nullable=False),
    "conditions": Field("object", nullable=False, required=True),
    "notice_days": Field("int", nullable=False),
}
RULE_SERVER_OWNED = ("id", "version", "created_at", "updated_at", "created_by")
CONDITION_KEYS = ("no_activity_days", "no_open_deal", "grade_below", "lifecycle_stages")

Decision = Literal["warn", "reclaim", "clear", "wait", "none"]


# time


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def format_time(moment: datetime) -> str:
    """The same shape as crm_common.ids.utc_now, so stored timestamps compare as text."""
    # isoformat pads the year to four digits (strftime's %Y does not, for years before 1000).
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def days_before(now: str, days: int) -> str:
    return format_time(parse_time(now) - timedelta(days=days))


def days_after(now: str, days: int) -> str:
    return format_time(parse_time(now) + timedelta(days=days))


def claim_day(now: str) -> str:
    """Claims per day count by UTC calendar day."""
    return now[:10]


# settings


def settings_with_defaults(stored: dict | None) -> dict:
    stored = stored or {}
    return {name: stored.get(name, default) for name, default in DEFAULT_SETTINGS.items()}


def validate_settings(data: Any) -> dict:
    """The changed settings of a partial update; ValidationFailed lists every problem."""
    fields = validate(data, SETTINGS_FIELDS, partial=True, server_owned=("id", "version", "updated_at", "updated_by"))
    errors = []
    for name, value in fields.items():
        if value is None:
            if name in NOT_NULL_SETTINGS:
                errors.append({"field": name, "message": "must be a whole number of days (0: no cool-down)"})
        elif not 0 <= value <= SETTING_LIMITS[name]:
            errors.append({"field": name, "message": f"must be between 0 and {SETTING_LIMITS[name]}, or null"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid setting(s)", errors)
    return fields


# claims


def check_claim_limits(settings: dict, owned: int, claimed_today: int) -> None:
    """Conflict (409) naming the cap a claim would break."""
    cap = settings.get("max_owned_per_rep")
    if cap is not None and owned >= cap:
        raise Conflict(f"claim limit reached: you own {owned} customers and max_owned_per_rep is {cap}")
    per_day = settings.get("max_claims_per_day")
    if per_day is not None and claimed_today >= per_day:
        raise Conflict(
            f"claim limit reached: you claimed {claimed_today} customers today (UTC) "
            f"and max_claims_per_day is {per_day}"
        )


def reclaimed_from(record: dict, user_id: str) -> str | None:
    """When the customer was last taken back from `user_id` by someone else (a reclaim rule, a
    manager): the time their cool-down runs from. Releasing it oneself starts none."""
    taken = [
        step["at"]
        for step in record.get("owner_history") or ()
        if step.get("owner_id") is None and step.get("from_owner_id") == user_id and step.get("by") != user_id
    ]
    return max(taken) if taken else None


def check_cooldown(record: dict, user_id: str, settings: dict, now: str) -> None:
    days = settings.get("reclaim_cooldown_days") or 0
    taken_at = reclaimed_from(record, user_id)
    if days and taken_at is not None:
        until = days_after(taken_at, days)
        if until > now:
            raise Conflict(
                f"claim limit reached: this customer was taken back from you on {taken_at[:10]}; "
                f"reclaim_cooldown_days is {days}, so you may claim it again from {until[:10]}"
            )


# reclaim rules


def validate_rule(data: Any, current: dict | None = None) -> dict:
    """A new rule's fields with their defaults (or, with `current`, the changed fields of an update);
    ValidationFailed lists every problem."""
    fields = validate(data, RULE_FIELDS, partial=current is not None, server_owned=RULE_SERVER_OWNED)
    errors = []
    if "conditions" in fields:
        try:
            fields["conditions"] = validate_conditions(fields["conditions"])
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    notice = fields.get("notice_days")
    if notice is not None and not 0 <= notice <= MAX_NOTICE_DAYS:
        errors.append({"field": "notice_days", "message": f"must be between 0 and {MAX_NOTICE_DAYS}"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)
    if current is None:
        fields = {"description": None, "active": True, "notice_days": DEFAULT_NOTICE_DAYS, **fields}
    return fields


def validate_conditions(raw: Any) -> dict:
    """Conditions with every key present; at least one must narrow the rule."""
    errors = []
    if not isinstance(raw, dict):
        raise ValidationFailed("invalid conditions", [{"field": "conditions", "message": "must be an object"}])
    for key in raw:
        if key not in CONDITION_KEYS:
            errors.append(
                {"field": f"conditions.{key}", "message": f"is not a condition; use {', '.join(CONDITION_KEYS)}"}
            )
    days = raw.get("no_activity_days")
    if days is not None and (not _is_int(days) or not 0 <= days <= MAX_INACTIVE_DAYS):
        errors.append(
            {"field": "conditions.no_activity_days", "message": f"must be 0-{MAX_INACTIVE_DAYS} days, or null"}
        )
    no_deal = raw.get("no_open_deal", False)
    if not isinstance(no_deal, bool):
        errors.append({"field": "conditions.no_open_deal", "message": "must be true or false"})
    grade = raw.get("grade_below")
    if grade is not None and grade not in GRADES[:-1]:
        # Nothing grades below D, so a rule on it would never match.
        errors.append({"field": "conditions.grade_below", "message": "must be A, B or C (the grades below it match)"})
    stages = raw.get("lifecycle_stages")
    if stages is not None and (
        not isinstance(stages, list) or not stages or not all(s in LIFECYCLE_STAGES for s in stages)
    ):
        errors.append(
            {
                "field": "conditions.lifecycle_stages",
                "message": f"must be a non-empty list of {', '.join(LIFECYCLE_STAGES)}, or null",
            }
        )
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid condition(s)", errors)
    conditions = {
        "no_activity_days": days,
        "no_open_deal": no_deal,
        "grade_below": grade,
        "lifecycle_stages": list(dict.fromkeys(stages)) if stages else None,
    }
    if days is None and not no_deal and grade is None and stages is None:
        raise ValidationFailed(
            "a rule needs a condition",
            [{"field": "conditions", "message": "give at least one of " + ", ".join(CONDITION_KEYS)}],
        )
    return conditions


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def grades_below(grade: str) -> list[str]:
    return list(GRADES[GRADES.index(grade) + 1 :])


def rule_filter(conditions: dict, now: str) -> dict:
    """The store filter selecting the owned contacts a rule's conditions match at `now` (the
    store-side twin of `rule_matches`). A contact never active counts from its creation."""
    clauses: list[dict] = [{"owner_id": {"$ne": None}}]
    days = conditions.get("no_activity_days")
    if days is not None:
        cutoff = days_before(now, days)
        clauses.append(
            {
                "$or": [
                    {"last_activity_at": {"$lte": cutoff}},
                    {"$and": [{"last_activity_at": None}, {"created_at": {"$lte": cutoff}}]},
                ]
            }
        )
    if conditions.get("no_open_deal"):
        clauses.append({"open_deal_count": {"$in": [0, None]}})
    if conditions.get("grade_below"):
        clauses.append({"value_grade": {"$in": grades_below(conditions["grade_below"])}})
    if conditions.get("lifecycle_stages"):
        clauses.append({"lifecycle_stage": {"$in": list(conditions["lifecycle_stages"])}})
    return {"$and": clauses}


def rule_matches(conditions: dict, contact: dict, now: str) -> bool:
    if not contact.get("owner_id"):
        return False
    days = conditions.get("no_activity_days")
    if days is not None:
        last = contact.get("last_activity_at") or contact.get("created_at") or ""
        if last > days_before(now, days):
            return False
    if conditions.get("no_open_deal") and (contact.get("open_deal_count") or 0) > 0:
        return False
    if conditions.get("grade_below") and contact.get("value_grade") not in grades_below(conditions["grade_below"]):
        return False
    stages = conditions.get("lifecycle_stages")
    return not (stages and contact.get("lifecycle_stage") not in stages)


def describe(rule: dict) -> str:
    """Why a customer goes back to the pool, in words, as the timeline and the owner read it."""
    conditions = rule["conditions"]
    parts = []
    if conditions.get("no_activity_days") is not None:
        parts.append(f"no interaction for {conditions['no_activity_days']} days")
    if conditions.get("no_open_deal"):
        parts.append("no open deal")
    if conditions.get("grade_below"):
        parts.append(f"value grade below {conditions['grade_below']}")
    if conditions.get("lifecycle_stages"):
        parts.append(f"lifecycle stage {' or '.join(conditions['lifecycle_stages'])}")
    return f"reclaim rule {rule['name']!r}: {', '.join(parts)}"


def new_notice(contact: dict, rule: dict, now: str) -> dict:
    """The advance notice a run gives the owner; one per contact at a time (its id is the contact's)."""
    return {
        "id": contact["id"],
        "rule_id": rule["id"],
        "rule_name": rule["name"],
        "owner_id": contact["owner_id"],
        "warned_at": now,
        "reclaim_at": days_after(now, rule.get("notice_days") or 0),
        "reason": describe(rule),
    }


def decide(notice: dict | None, rule: dict | None, contact: dict | None, now: str) -> Decision:
    """What a reclaim run does with one contact, given its outstanding notice (if any) and the rule
    in question (the notice's rule when there is a notice): warn the owner first; reclaim once the
    notice has run and the rule still matches the same owner's customer; clear a notice that no
    longer holds (the customer changed hands, became active, was deleted, or the rule went)."""
    matches = (
        rule is not None
        and rule.get("active", True)
        and contact is not None
        and rule_matches(rule["conditions"], contact, now)
    )
    if notice is None:
        return "warn" if matches else "none"
    if not matches or contact is None or contact.get("owner_id") != notice["owner_id"]:
        return "clear"
    return "reclaim" if now >= notice["reclaim_at"] else "wait"
