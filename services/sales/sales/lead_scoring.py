"""Lead scoring rules: what a rule may say, the points a contact's profile and recent interactions
earn under the rules (with the breakdown that explains them), and the stage a score calls for."""

import re
from datetime import datetime, timedelta
from typing import Any

from crm_common.schema import Field

from .valuation import iso
from .valuation import parse_time as moment

CATEGORIES = ("profile", "engagement")
PROFILE_OPS = ("eq", "ne", "in", "contains", "exists")
# The contact fields a profile rule may test (besides `custom_fields.<key>`).
PROFILE_FIELDS = (
    "title",
    "lifecycle_stage",
    "source_channel",
    "source_campaign",
    "tags",
    "interests",
    "preferred_language",
    "company_id",
    "email",
    "phone",
    "value_grade",
)
CUSTOM_FIELD = re.compile(r"^custom_fields\.[A-Za-z_][A-Za-z0-9_]{0,63}$")
INTERACTION_KINDS = ("call", "email", "meeting", "chat", "visit", "web", "note")
DIRECTIONS = ("inbound", "outbound")
MAX_POINTS = 100
MAX_CAP = 1000
MAX_WITHIN_DAYS = 3650
MAX_RULES = 200
# The newest interactions of a contact that count: more than this many within a window changes
# nothing a cap would not.
MAX_RECENT_INTERACTIONS = 200
# Scores move a contact forward along these stages only; a contact already past them (an
# opportunity, a customer, a churned one) is left where it is.
QUALIFYING_STAGES = ("subscriber", "lead", "marketing_qualified", "sales_qualified")

RULE_FIELDS = {
    "name": Field("text", required=True, max_length=100),
    "description": Field("text", max_length=500),
    "category": Field("choice", required=True, choices=CATEGORIES),
    "active": Field("bool", nullable=False),
    "points": Field("int", required=True),
    "max_points": Field("int"),
    "condition": Field("object", required=True),
}
RULE_SERVER_OWNED = ("id", "version", "created_at", "updated_at", "created_by")
RULE_FILTERABLE = ("name", "category", "active", "created_at", "updated_at")
RULE_SORTABLE = ("name", "created_at", "updated_at", "points")

# Seeded the first time the rules are read (by anyone, the scorer included), never again: an
# admin who deletes them all means it.
DEFAULT_RULES = (
    (
        "default-senior-title",
        "Senior title",
        "profile",
        15,
        None,
        {
            "field": "title",
            "op": "contains",
            "value": ["director", "head of", "vp", "chief", "founder", "owner", "总监", "总经理", "总裁", "负责人"],
        },
    ),
    (
        "default-warm-source",
        "Came through a referral, a partner or an event",
        "profile",
        10,
        None,
        {"field": "source_channel", "op": "in", "value": ["referral", "partner", "event"]},
    ),
    (
        "default-email-replies",
        "Replied by email",
        "engagement",
        10,
        30,
        {"interaction_kind": "email", "direction": "inbound", "within_days": 30},
    ),
    ("default-meetings", "Met us", "engagement", 15, 30, {"interaction_kind": "meeting", "within_days": 60}),
    ("default-calls", "Talked on the phone", "engagement", 5, 15, {"interaction_kind": "call", "within_days": 30}),
    (
        "default-visits",
        "Visited (in person or our website)",
        "engagement",
        5,
        20,
        {"interaction_kind": ["visit", "web"], "within_days": 30},
    ),
)


def default_rules(now: str) -> list[dict]:
    return [
        {
            "id": rule_id,
            "name": name,
            "description": None,
            "category": category,
            "active": True,
            "points": points,
            "max_points": cap,
            "condition": condition,
            "created_by": "system",
            "created_at": now,
            "updated_at": now,
        }
        for rule_id, name, category, points, cap, condition in DEFAULT_RULES
    ]


# validation


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _profile_problems(condition: dict) -> list[tuple[str, str]]:
    problems = [(key, "is not a known field") for key in condition if key not in ("field", "op", "value")]
    field, op, value = condition.get("field"), condition.get("op"), condition.get("value")
    if not isinstance(field, str) or not (field in PROFILE_FIELDS or CUSTOM_FIELD.match(field)):
        problems.append(("field", f"must be one of {', '.join(PROFILE_FIELDS)} or custom_fields.<key>"))
    if op not in PROFILE_OPS:
        problems.append(("op", f"must be one of {', '.join(PROFILE_OPS)}"))
    elif op == "exists":
        if value is not None and not isinstance(value, bool):
            problems.append(("value", "must be true or false (default true) for exists"))
    elif op == "in":
        if not isinstance(value, list) or not value:
            problems.append(("value", "must be a non-empty list for in"))
    elif op == "contains":
        texts = value if isinstance(value, list) else [value]
        if not texts or not all(isinstance(t, str) and t for t in texts):
            problems.append(("value", "must be a text or a non-empty list of texts for contains"))
    elif not _is_scalar(value):
        problems.append(("value", f"must be a text, a number or true/false for {op}"))
    return problems


def _engagement_problems(condition: dict) -> list[tuple[str, str]]:
    known = ("interaction_kind", "direction", "within_days")
    problems = [(key, "is not a known field") for key in condition if key not in known]
    kinds = condition.get("interaction_kind")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if not kinds or not all(k in INTERACTION_KINDS for k in kinds):
        problems.append(("interaction_kind", f"must be one of {', '.join(INTERACTION_KINDS)} or a list of them"))
    if condition.get("direction") not in (None, *DIRECTIONS):
        problems.append(("direction", f"must be one of {', '.join(DIRECTIONS)} or null"))
    days = condition.get("within_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WITHIN_DAYS:
        problems.append(("within_days", f"is required: whole days from 1 to {MAX_WITHIN_DAYS}"))
    return problems


def rule_problems(rule: dict) -> list[dict]:
    """What is wrong across a rule's fields (each field already has its type), as field errors."""
    problems: list[dict] = []
    points = rule.get("points")
    if points is not None and not (-MAX_POINTS <= points <= MAX_POINTS and points != 0):
        problems.append({"field": "points", "message": f"must be from -{MAX_POINTS} to {MAX_POINTS}, not 0"})
    cap = rule.get("max_points")
    if cap is not None:
        if rule.get("category") != "engagement":
            problems.append({"field": "max_points", "message": "caps engagement rules only"})
        elif not 1 <= cap <= MAX_CAP:
            problems.append({"field": "max_points", "message": f"must be from 1 to {MAX_CAP}"})
    condition = rule.get("condition") or {}
    check = _profile_problems if rule.get("category") == "profile" else _engagement_problems
    problems += [{"field": f"condition.{name}", "message": message} for name, message in check(condition)]
    return problems


# evaluation


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _folded(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _profile_value(profile: dict, field: str) -> Any:
    if field.startswith("custom_fields."):
        return (profile.get("custom_fields") or {}).get(field.split(".", 1)[1])
    return profile.get(field)


def profile_matches(condition: dict, profile: dict) -> bool:
    """Whether the contact's profile meets a profile condition. Texts compare without regard to
    case; on a list field (tags, interests, a multi-choice custom field) eq, in and contains hold
    when some item does, ne when none does."""
    op, wanted = condition["op"], condition.get("value")
    value = _profile_value(profile, condition["field"])
    if op == "exists":
        return _present(value) == (True if wanted is None else wanted)
    items = [_folded(v) for v in (value if isinstance(value, list) else [value]) if v is not None]
    if op == "eq":
        return _folded(wanted) in items
    if op == "ne":
        return _folded(wanted) not in items
    if op == "in":
        return any(_folded(w) in items for w in wanted)
    needles = [w.casefold() for w in (wanted if isinstance(wanted, list) else [wanted])]
    texts = [i for i in items if isinstance(i, str)]
    if isinstance(value, list):
        return any(n in texts for n in needles)
    return any(n in t for n in needles for t in texts)


def _describe_profile(condition: dict) -> str:
    wanted = condition.get("value")
    if condition["op"] == "exists":
        return f"{condition['field']} {'is set' if wanted in (None, True) else 'is not set'}"
    shown = ", ".join(map(str, wanted)) if isinstance(wanted, list) else str(wanted)
    return f"{condition['field']} {condition['op']} {shown}"


def interaction_matches(condition: dict, interaction: dict, since: datetime) -> bool:
    kinds = condition["interaction_kind"]
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if interaction.get("kind") not in kinds:
        return False
    if condition.get("direction") and interaction.get("direction") != condition["direction"]:
        return False
    return moment(interaction["occurred_at"]) > since


def _describe_engagement(condition: dict, matches: int, capped: bool) -> str:
    kinds = condition["interaction_kind"]
    what = "/".join(kinds) if isinstance(kinds, list) else kinds
    direction = f" {condition['direction']}" if condition.get("direction") else ""
    plural = "" if matches == 1 else "s"
    text = f"{matches} {what}{direction} interaction{plural} in the last {condition['within_days']} days"
    return text + (" (capped)" if capped else "")


def evaluate(rules: list[dict], profile: dict | None, interactions: list[dict], now: str) -> dict:
    """The score of a contact at `now`: each active rule's points, the breakdown of the rules that
    gave any (it adds up to the score), and `recheck_at`: the first moment an interaction counted
    now leaves its rule's window, when the score may change with no new fact (None: never)."""
    at = moment(now)
    score = 0
    breakdown: list[dict] = []
    recheck: datetime | None = None
    for rule in sorted(rules, key=lambda r: (r["category"], r["name"], r["id"])):
        if not rule.get("active", True):
            continue
        condition = rule["condition"]
        if rule["category"] == "profile":
            if profile is None or not profile_matches(condition, profile):
                continue
            points, detail = rule["points"], _describe_profile(condition)
        else:
            window = timedelta(days=condition["within_days"])
            counted = [i for i in interactions if interaction_matches(condition, i, at - window)]
            if not counted:
                continue
            raw = rule["points"] * len(counted)
            cap = rule.get("max_points")
            points = max(-cap, min(cap, raw)) if cap else raw
            detail = _describe_engagement(condition, len(counted), points != raw)
            leaves = min(moment(i["occurred_at"]) for i in counted) + window
            recheck = leaves if recheck is None else min(recheck, leaves)
        score += points
        breakdown.append(
            {
                "rule_id": rule["id"],
                "name": rule["name"],
                "category": rule["category"],
                "points": points,
                "detail": detail,
            }
        )
    return {"score": score, "breakdown": breakdown, "recheck_at": iso(recheck) if recheck else None}


def qualification(score: int, thresholds: dict) -> str | None:
    """The qualifying stage a score reaches under the thresholds (settings.lead_scoring), if any."""
    if score >= thresholds["sales_qualified"]:
        return "sales_qualified"
    if score >= thresholds["marketing_qualified"]:
        return "marketing_qualified"
    return None


def stage_called_for(score: int, current_stage: str | None, thresholds: dict) -> str | None:
    """The stage the score moves the contact to: only forward along QUALIFYING_STAGES, never down
    and never for a contact past them. An unknown current stage (sales has not heard the contact
    yet) is taken as `lead`; contacts checks again against the stage it holds."""
    target = qualification(score, thresholds)
    current = current_stage or "lead"
    if target is None or current not in QUALIFYING_STAGES:
        return None
    return target if QUALIFYING_STAGES.index(target) > QUALIFYING_STAGES.index(current) else None


def profile_of(contact: dict) -> dict:
    """What profile rules may test, kept from a contact's event payload."""
    return {name: contact.get(name) for name in (*PROFILE_FIELDS, "custom_fields")}


def interaction_facts(interaction: dict) -> dict:
    """What engagement rules read of an interaction: no text, no participants."""
    return {name: interaction.get(name) for name in ("contact_id", "kind", "direction", "occurred_at")}
