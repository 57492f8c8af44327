"""SLA policies: what a policy may say, their CRUD (admins write, every role reads), and
`_apply_sla`, which matches a ticket to its policy and brings its clocks up to date inside the
caller's transaction (a mixin of ServiceDeskService)."""

import logging
import re
from datetime import datetime
from typing import Any

from nameko.rpc import rpc

from crm_common.access import ADMIN, ROLES, require_role
from crm_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id
from crm_common.listing import parse_list_query
from crm_common.schema import Field, field_problem

from . import sla
from .business_time import BusinessCalendar
from .domain import stamp
from .schemas import KINDS, PRIORITIES, VALUE_GRADES
from .store import BUSINESS_CALENDARS, SLA_POLICIES

log = logging.getLogger(__name__)

POLICY_READERS = ROLES
MAX_POLICIES = 200
MAX_POSITION = 1_000_000
MAX_TARGET_MINUTES = 525_600  # a year
MAX_STEP_MINUTES = 43_200  # 30 days
MAX_STEPS = 20
MAX_ACTIONS = 10
MAX_RECIPIENTS = 20
MAX_CONDITION_VALUES = 50
RECIPIENT_ROLES = ("assignee", "team_managers", "contact_owner")
REASSIGN_METHODS = ("least_loaded", "round_robin")
ACTION_TYPES = ("notify", "reassign", "raise_priority")
STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

POLICY_SERVER_OWNED = ("id", "version", "created_at", "updated_at", "created_by")
POLICY_SIMPLE_FIELDS = {
    "name": Field("text", required=True, max_length=200),
    "active": Field("bool", nullable=False),
    "calendar_id": Field("id", max_length=64),
}
POLICY_FIELDS = (*POLICY_SIMPLE_FIELDS, "position", "conditions", "targets", "pause_statuses", "escalations")
POLICY_FILTERABLE = ("name", "active", "calendar_id", "position", "created_at", "updated_at")
POLICY_SORTABLE = ("position", "name", "created_at", "updated_at")


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _id_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value.strip()) and len(value) <= 64


def _condition_problems(conditions: Any) -> list[dict]:
    if conditions is None:
        return []
    if not isinstance(conditions, dict):
        return [{"field": "conditions", "message": "must be an object of lists (priority, kind, category, ...)"}]
    errors = []
    choices = {"priority": PRIORITIES, "kind": KINDS, "customer_grade": VALUE_GRADES}
    for name, values in conditions.items():
        at = f"conditions.{name}"
        if name not in sla.MATCH_FIELDS:
            errors.append({"field": at, "message": f"is not a condition; use {', '.join(sla.MATCH_FIELDS)}"})
        elif values is None:
            continue
        elif not isinstance(values, list) or not values or len(values) > MAX_CONDITION_VALUES:
            errors.append({"field": at, "message": f"must be a list of 1-{MAX_CONDITION_VALUES} values (null: any)"})
        elif name in choices and any(v not in choices[name] for v in values):
            errors.append({"field": at, "message": f"must only hold {', '.join(choices[name])}"})
        elif name == "category" and not all(isinstance(v, str) and 0 < len(v.strip()) <= 100 for v in values):
            errors.append({"field": at, "message": "must hold categories of 1-100 characters"})
        elif name == "company_id" and not all(_id_text(v) for v in values):
            errors.append({"field": at, "message": "must hold company ids"})
    return errors


def _target_problems(targets: Any) -> list[dict]:
    if not isinstance(targets, dict):
        return [{"field": "targets", "message": f"must give {', '.join(PRIORITIES)} their targets"}]
    errors = [{"field": f"targets.{p}", "message": "is not a priority"} for p in targets if p not in PRIORITIES]
    for priority in PRIORITIES:
        target = targets.get(priority)
        if not isinstance(target, dict):
            errors.append(
                {"field": f"targets.{priority}", "message": "is required: {first_response_minutes, resolution_minutes}"}
            )
            continue
        for name in target:
            if name not in ("first_response_minutes", "resolution_minutes"):
                errors.append({"field": f"targets.{priority}.{name}", "message": "is not a known field"})
        for name in ("first_response_minutes", "resolution_minutes"):
            if not _whole(target.get(name), 1, MAX_TARGET_MINUTES):
                errors.append(
                    {
                        "field": f"targets.{priority}.{name}",
                        "message": f"must be whole business minutes, 1-{MAX_TARGET_MINUTES}",
                    }
                )
    return errors


def _action_problems(action: Any, at: str) -> list[dict]:
    if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
        return [{"field": f"{at}.type", "message": f"must be one of {', '.join(ACTION_TYPES)}"}]
    kind = action["type"]
    allowed = {"notify": ("type", "recipients"), "reassign": ("type", "to"), "raise_priority": ("type",)}[kind]
    errors = [
        {"field": f"{at}.{k}", "message": f"is not a field of a {kind} action"} for k in action if k not in allowed
    ]
    if kind == "notify":
        recipients = action.get("recipients")
        if (
            not isinstance(recipients, list)
            or not 0 < len(recipients) <= MAX_RECIPIENTS
            or not all(_id_text(r) for r in recipients)
        ):
            errors.append(
                {
                    "field": f"{at}.recipients",
                    "message": f"must list 1-{MAX_RECIPIENTS} of {', '.join(RECIPIENT_ROLES)} or user ids",
                }
            )
    elif kind == "reassign" and not _id_text(action.get("to")):
        errors.append({"field": f"{at}.to", "message": f"must be {' or '.join(REASSIGN_METHODS)} or a user id"})
    return errors


def _step_problems(step: Any, at: str) -> list[dict]:
    if not isinstance(step, dict):
        return [{"field": at, "message": "must be an object {id, metric, when, minutes, actions}"}]
    known = ("id", "metric", "when", "minutes", "actions")
    errors = [{"field": f"{at}.{k}", "message": "is not a known field"} for k in step if k not in known]
    if step.get("id") is not None and (not isinstance(step["id"], str) or not STEP_ID.match(step["id"])):
        errors.append({"field": f"{at}.id", "message": "must be 1-64 letters, digits, - or _ (or left out)"})
    if step.get("metric") not in sla.METRICS:
        errors.append({"field": f"{at}.metric", "message": f"must be one of {', '.join(sla.METRICS)}"})
    if step.get("when") not in ("before", "after"):
        errors.append({"field": f"{at}.when", "message": "must be before or after (the due time)"})
    if not _whole(step.get("minutes"), 0, MAX_STEP_MINUTES):
        errors.append({"field": f"{at}.minutes", "message": f"must be whole business minutes, 0-{MAX_STEP_MINUTES}"})
    actions = step.get("actions")
    if not isinstance(actions, list) or not 0 < len(actions) <= MAX_ACTIONS:
        errors.append({"field": f"{at}.actions", "message": f"must list 1-{MAX_ACTIONS} actions"})
    else:
        for i, action in enumerate(actions):
            errors += _action_problems(action, f"{at}.actions[{i}]")
    return errors


def _escalation_problems(escalations: Any) -> list[dict]:
    if not isinstance(escalations, list) or len(escalations) > MAX_STEPS:
        return [{"field": "escalations", "message": f"must be a list of at most {MAX_STEPS} steps"}]
    errors = []
    seen: set = set()
    for i, step in enumerate(escalations):
        errors += _step_problems(step, f"escalations[{i}]")
        step_id = step.get("id") if isinstance(step, dict) else None
        if not isinstance(step_id, str):
            continue  # none yet (the server gives one), or not an id (refused above)
        if step_id in seen:
            errors.append({"field": f"escalations[{i}].id", "message": f"repeats step id {step_id!r}"})
        seen.add(step_id)
    return errors


def policy_problems(policy: dict) -> list[dict]:
    """Everything wrong with a whole policy document (as it would be stored, before `_normalised`:
    steps may still lack their id), at once."""
    errors = []
    for name, spec in POLICY_SIMPLE_FIELDS.items():
        problem = field_problem(policy.get(name), spec)
        if problem:
            errors.append({"field": name, "message": problem})
    if not _whole(policy.get("position"), 0, MAX_POSITION):
        errors.append(
            {"field": "position", "message": f"must be a whole number, 0-{MAX_POSITION} (lowest tried first)"}
        )
    errors += _condition_problems(policy.get("conditions"))
    errors += _target_problems(policy.get("targets"))
    pauses = policy.get("pause_statuses")
    if not isinstance(pauses, list) or any(s not in sla.PAUSABLE_STATUSES for s in pauses):
        errors.append(
            {"field": "pause_statuses", "message": f"must be a list of {', '.join(sla.PAUSABLE_STATUSES)} (or empty)"}
        )
    errors += _escalation_problems(policy.get("escalations"))
    return errors


def _input_problems(data: Any) -> list[dict]:
    if not isinstance(data, dict):
        return [{"field": "", "message": "must be an object"}]
    return [
        {"field": name, "message": "is set by the server and cannot be written"}
        if name in POLICY_SERVER_OWNED
        else {"field": name, "message": "is not a known field"}
        for name in data
        if name not in POLICY_FIELDS
    ]


def _known(data: Any) -> dict:
    return {name: value for name, value in data.items() if name in POLICY_FIELDS} if isinstance(data, dict) else {}


def _with_step_ids(escalations: Any) -> Any:
    """Steps without an id get the first free of s1, s2, ... (ids keep a fired step fired across changes)."""
    if not isinstance(escalations, list):
        return escalations
    taken = {s.get("id") for s in escalations if isinstance(s, dict) and isinstance(s.get("id"), str)}
    counter = 0
    out = []
    for step in escalations:
        if isinstance(step, dict) and step.get("id") is None:
            counter += 1
            while f"s{counter}" in taken:
                counter += 1
            step = {**step, "id": f"s{counter}"}
        out.append(step)
    return out


def _normalised(policy: dict) -> dict:
    """Tidy repeated pause statuses, drop null conditions, give steps their ids: for a policy
    `policy_problems` found nothing wrong with (its lists hold only valid, hashable values)."""
    if isinstance(policy.get("pause_statuses"), list):
        policy["pause_statuses"] = list(dict.fromkeys(policy["pause_statuses"]))
    if isinstance(policy.get("conditions"), dict):
        policy["conditions"] = {k: v for k, v in policy["conditions"].items() if v is not None}
    policy["escalations"] = _with_step_ids(policy.get("escalations"))
    return policy


def _refuse(errors: list[dict]) -> None:
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)


class SlaRpc:
    """RPC entrypoints of SLA policies, and the SLA step of every ticket write."""

    # the clocks of a ticket

    def _sla_calendar(self, tx, calendar_id: str | None) -> BusinessCalendar:
        """The business calendar an SLA counts in; 24x7 when none, or when it is gone (a policy moved
        to another calendar and the old one was deleted: its tickets count round the clock)."""
        doc = tx[BUSINESS_CALENDARS].get(calendar_id) if calendar_id else None
        if calendar_id and doc is None:
            log.warning("business calendar %s is gone: counting round the clock", calendar_id)
        return BusinessCalendar.from_document(doc)

    def _apply_sla(self, tx, before: dict | None, after: dict, now: datetime) -> dict:
        """`after` (the ticket being written; `before` None at creation) with `sla`, the live due
        times, `breached` and `sla_next_check_at` brought up to date at `now`. A new ticket, or one
        whose priority, kind, category, customer grade or company changed, is matched to the first
        active policy (by position) that fits, else the built-in default, keeping the minutes its
        clocks used and the steps already fired; otherwise it keeps its policy snapshot."""
        previous = (before or {}).get("sla") or None
        policy = None
        if sla.needs_match(before, after):
            policies = tx[SLA_POLICIES].iterate({"active": True}, [("position", 1)])
            policy = sla.matching_policy(policies, after)
        calendar_id = policy.get("calendar_id") if policy is not None else previous.get("calendar_id")
        return sla.apply_clocks(after, previous, policy, self._sla_calendar(tx, calendar_id), now)

    # policies

    def _policy(self, source, policy_id: str) -> dict:
        """The policy, or NotFound (also for an id that is not a string)."""
        policy = source[SLA_POLICIES].get(policy_id) if isinstance(policy_id, str) else None
        if policy is None:
            raise NotFound(f"SLA policy {policy_id} not found")
        return policy

    def _check_policy_references(self, tx, policy: dict, current: dict | None) -> None:
        """The calendar exists; no other policy has the name."""
        calendar_id = policy.get("calendar_id")
        if calendar_id and (current or {}).get("calendar_id") != calendar_id:
            if tx[BUSINESS_CALENDARS].get(calendar_id) is None:
                _refuse([{"field": "calendar_id", "message": "no such business calendar"}])
        if current is None or current["name"] != policy["name"]:
            same = tx[SLA_POLICIES].find({"name": policy["name"]}, [("position", 1)], 1, None).items
            if same and same[0]["id"] != policy.get("id"):
                raise Conflict(
                    f"an SLA policy named {policy['name']!r} exists already",
                    [{"id": same[0]["id"], "name": same[0]["name"]}],
                )

    @rpc
    def create_sla_policy(self, data: dict) -> dict:
        """A new policy (admins). Tickets created or matched again after it take it; tickets keep
        the policy they were matched to until then."""
        require_role(self.caller, (ADMIN,), "change SLA policies")
        refused = _input_problems(data)
        if not isinstance(data, dict):
            _refuse(refused)
        at = stamp(self._now())
        policy = {
            "id": new_id(),
            "position": 0,  # when not given: after the last one, read in the transaction
            "active": True,
            "conditions": {},
            "calendar_id": None,
            "pause_statuses": ["pending"],
            "escalations": [],
            **_known(data),
            "created_by": self.caller.user_id,
            "created_at": at,
            "updated_at": at,
        }
        _refuse(refused + policy_problems(policy))
        policy = _normalised(policy)
        with self.store.transaction() as tx:
            if tx[SLA_POLICIES].count() >= MAX_POLICIES:
                raise Conflict(f"there are already {MAX_POLICIES} SLA policies; change or delete one")
            if "position" not in data:
                last = tx[SLA_POLICIES].find(None, [("position", -1)], 1, None).items
                policy["position"] = min(last[0]["position"] + 1, MAX_POSITION) if last else 1
            self._check_policy_references(tx, policy, None)
            try:
                return tx[SLA_POLICIES].insert(policy)
            except Conflict:  # the same name, committed meanwhile
                raise Conflict(f"an SLA policy named {policy['name']!r} exists already") from None

    @rpc
    def get_sla_policy(self, sla_policy_id: str) -> dict:
        require_role(self.caller, POLICY_READERS, "read SLA policies")
        return self._policy(self.store, sla_policy_id)

    @rpc
    def list_sla_policies(self, query: dict) -> dict:
        """The policies, by position unless told (the order they are tried in)."""
        require_role(self.caller, POLICY_READERS, "read SLA policies")
        q = parse_list_query(
            query,
            filterable=POLICY_FILTERABLE,
            sortable=POLICY_SORTABLE,
            default_sort="position",
            booleans=("active",),
        )
        page = self.store[SLA_POLICIES].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_sla_policy(self, sla_policy_id: str, data: dict, expected_version: int | None = None) -> dict:
        """A partial change (each given field replaced whole; `targets` gives all four priorities).
        Tickets already matched keep their snapshot until they are matched again."""
        require_role(self.caller, (ADMIN,), "change SLA policies")
        refused = _input_problems(data)
        if not isinstance(data, dict):
            _refuse(refused)
        with self.store.transaction() as tx:
            current = self._policy(tx, sla_policy_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"SLA policy {sla_policy_id} is at version {current['version']}")
            updated = {**current, **_known(data)}
            _refuse(refused + policy_problems(updated))
            updated = _normalised(updated)
            if all(current.get(name) == updated.get(name) for name in POLICY_FIELDS):
                return current
            self._check_policy_references(tx, updated, current)
            updated["updated_at"] = stamp(self._now())
            try:
                return tx[SLA_POLICIES].replace(updated, current["version"])
            except Conflict:
                raise Conflict(f"an SLA policy named {updated['name']!r} exists already") from None

    @rpc
    def delete_sla_policy(self, sla_policy_id: str, expected_version: int | None = None) -> None:
        """Tickets matched to it keep their snapshot (and its name) until matched again."""
        require_role(self.caller, (ADMIN,), "change SLA policies")
        with self.store.transaction() as tx:
            current = self._policy(tx, sla_policy_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"SLA policy {sla_policy_id} is at version {current['version']}")
            tx[SLA_POLICIES].delete(sla_policy_id, current["version"])
