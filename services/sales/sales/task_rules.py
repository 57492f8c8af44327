"""Task rules: who sees, assigns and deletes tasks, reminder and due times, the reminder and overdue
decisions, and return-visit planning. Pure: the clock is always an argument."""

from datetime import timedelta

from crm_common.access import ADMIN, MANAGER, SYSTEM, Reach, may_assign_owner
from crm_common.caller import SYSTEM_USER, Caller
from crm_common.errors import Forbidden, ValidationFailed
from crm_common.ids import new_id

from .valuation import iso, parse_time

MAX_REMINDER_MINUTES = 525_600  # a reminder at most a year before the due time
# A return-visit task appears this many days before the visit is due, so the owner can plan it (but not
# before the previous visit is due: at most the interval ahead); it is due when the visit is.
RETURN_VISIT_LEAD_DAYS = 3
# What a new task holds when the request leaves it out.
TASK_DEFAULTS: dict = {
    "description": None,
    "kind": "todo",
    "priority": "normal",
    "due_at": None,
    "remind_at": None,
    "reminder_minutes_before": None,
    "contact_id": None,
    "company_id": None,
    "deal_id": None,
    "done": False,
}
# The fields a change is reported on (`changes` of task_updated).
TRACKED = (*TASK_DEFAULTS, "title", "assignee_id", "done_at")
LINKS = ("contact_id", "company_id", "deal_id")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"invalid {field}", [{"field": field, "message": message}])


# times: the store compares them as text, so every stored time has one shape


def utc_time(text: str, field: str) -> str:
    """An ISO 8601 date-time (already checked at the edge) as stored: in UTC; one without an
    offset is taken as UTC."""
    try:
        return iso(parse_time(text))
    except (ValueError, OverflowError):
        raise _invalid(field, "must be an ISO 8601 date-time between the years 1 and 9999") from None


def shifted(text: str, field: str, *, minutes: int = 0, days: int = 0) -> str:
    try:
        return iso(parse_time(text) + timedelta(minutes=minutes, days=days))
    except OverflowError:
        raise _invalid(field, "falls outside the years 1 to 9999") from None


# who sees, assigns and deletes a task


def task_in_reach(reach: Reach, task: dict) -> bool:
    """The assignee's reach (the owner rules on `assignee_id`, without a pool), the assignee
    themselves (a support agent owns nothing else) and the task's creator."""
    if reach.everything or reach.user_id in (task.get("assignee_id"), task.get("created_by")):
        return True
    return task.get("assignee_id") in reach.owner_ids


def task_filter(reach: Reach) -> dict | None:
    """The store-side twin of `task_in_reach`; None when the caller sees everything."""
    if reach.everything:
        return None
    assignees = sorted(reach.owner_ids | {reach.user_id})
    return {"$or": [{"assignee_id": {"$in": assignees}}, {"created_by": reach.user_id}]}


def check_assignee(caller: Caller, assignee_id: str, creating: bool) -> None:
    """Who may give a task to whom: the owner rules (a rep or an agent: themselves; a manager: also
    the members of their teams; admins anyone)."""
    if not assignee_id.strip():
        raise _invalid("assignee_id", "must be a user id")
    if not may_assign_owner(caller, assignee_id, creating=creating):
        raise Forbidden("you may not assign a task to that user")


def may_delete(caller: Caller, task: dict) -> bool:
    """Its creator, the assignee's manager and admins; an assignee does not delete what they were given."""
    roles = set(caller.roles)
    if roles & {ADMIN, SYSTEM} or task.get("created_by") == caller.user_id:
        return True
    return MANAGER in roles and task.get("assignee_id") in caller.managed_user_ids


# reminders


def _with_reminder(task: dict, given: dict) -> dict:
    """`remind_at` as the task's fields call for: set outright, or `reminder_minutes_before` its
    due time (then it follows the due time when that moves); never after the due time."""
    minutes = given.get("reminder_minutes_before")
    if given.get("remind_at") is not None and minutes is not None:
        raise _invalid("reminder_minutes_before", "give remind_at or reminder_minutes_before, not both")
    if minutes is not None and not 0 <= minutes <= MAX_REMINDER_MINUTES:
        raise _invalid("reminder_minutes_before", f"must be between 0 and {MAX_REMINDER_MINUTES}")
    if "remind_at" in given and (given["remind_at"] is not None or "reminder_minutes_before" not in given):
        task = {**task, "reminder_minutes_before": None}
    elif "reminder_minutes_before" in given or ("due_at" in given and task.get("reminder_minutes_before") is not None):
        relative = task.get("reminder_minutes_before")
        if relative is None:
            task = {**task, "remind_at": None}
        elif task.get("due_at") is None:
            raise _invalid("reminder_minutes_before", "needs a due_at to count back from")
        else:
            task = {**task, "remind_at": shifted(task["due_at"], "reminder_minutes_before", minutes=-relative)}
    if task.get("remind_at") and task.get("due_at") and task["remind_at"] > task["due_at"]:
        raise _invalid("remind_at", "must not be after due_at")
    return task


def _normalised(fields: dict) -> dict:
    out = dict(fields)
    for name in ("due_at", "remind_at"):
        if out.get(name) is not None:
            out[name] = utc_time(out[name], name)
    for name in LINKS:
        if out.get(name) is not None and not out[name].strip():
            raise _invalid(name, "must be an id (or null)")
    return out


def with_alert_schedule(task: dict) -> dict:
    """The task with its pending alerts: `reminder_due_at` (its remind_at until the reminder went
    out for that time) and `overdue_due_at` (its due_at until the overdue notice went out for that
    time); both null once it is done. The timers select on these two."""
    pending = not task.get("done")
    remind, due = task.get("remind_at"), task.get("due_at")
    return {
        **task,
        "reminder_due_at": remind if pending and remind and task.get("reminded_for") != remind else None,
        "overdue_due_at": due if pending and due and task.get("escalated_for") != due else None,
    }


def new_task(fields: dict, actor: str, now: str) -> dict:
    given = _normalised(fields)
    task = {
        "id": new_id(),
        **TASK_DEFAULTS,
        **given,
        "assignee_id": given.get("assignee_id", actor),
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
        "reminded_for": None,
        "escalated_for": None,
    }
    task["done_at"] = now if task["done"] else None
    return with_alert_schedule(_with_reminder(task, given))


def apply_task_changes(task: dict, changes: dict, now: str) -> tuple[dict, list[str]]:
    """The task after a partial update, and the names of the fields that really changed."""
    given = _normalised(changes)
    updated = _with_reminder({**task, **given}, given)
    if updated.get("done") != task.get("done"):
        updated["done_at"] = now if updated.get("done") else None
    changed = [name for name in TRACKED if updated.get(name) != task.get(name)]
    if not changed:
        return task, []
    return with_alert_schedule({**updated, "updated_at": now}), changed


def reminder_action(task: dict, now: str) -> str | None:
    """`remind` when the task's reminder time has come (once per remind_at); `superseded` when its
    due time has passed as well: the overdue notice says more, so that reminder is dropped unsent."""
    due = with_alert_schedule(task)["reminder_due_at"]
    if due is None or due > now:
        return None
    return "superseded" if task.get("due_at") and task["due_at"] <= now else "remind"


def is_newly_overdue(task: dict, now: str) -> bool:
    """Past its due time, not done, and not yet escalated for that due time."""
    due = with_alert_schedule(task)["overdue_due_at"]
    return due is not None and due <= now


def mark_reminded(task: dict) -> dict:
    return with_alert_schedule({**task, "reminded_for": task["remind_at"]})


def mark_escalated(task: dict) -> dict:
    return with_alert_schedule({**task, "escalated_for": task["due_at"]})


# return visits


def subject_key(subject_type: str, subject_id: str) -> str:
    return f"{subject_type}:{subject_id}"


def planned_return_visit(current: dict | None, stats: dict, intervals: dict, now: str) -> dict | None:
    """The return-visit plan a customer's figures call for: none for a customer in the pool, deleted
    or of a grade without visits; the current plan (with the current owner and name) when its interval
    stays; otherwise due one interval after the last visit, or after now when there was none."""
    grade = stats.get("value_grade")
    interval = intervals.get(grade) if grade else None
    if (
        stats.get("deleted")
        or not stats.get("owner_id")
        or not isinstance(interval, int)
        or isinstance(interval, bool)
        or interval <= 0
    ):
        return None
    facts = {
        "id": subject_key(stats["subject_type"], stats["subject_id"]),
        "subject_type": stats["subject_type"],
        "subject_id": stats["subject_id"],
        "owner_id": stats["owner_id"],
        "display_name": stats.get("display_name"),
        "grade": grade,
        "interval_days": interval,
    }
    if current is not None and current.get("interval_days") == interval:
        return {**current, **facts}
    last_visit = (current or {}).get("last_visit_at")
    return {**facts, "last_visit_at": last_visit, "due_at": shifted(last_visit or now, "due_at", days=interval)}


def return_visit_horizon(now: str) -> str:
    """Plans due up to this time may get their task now (see `return_visit_due`)."""
    return shifted(now, "due_at", days=RETURN_VISIT_LEAD_DAYS)


def return_visit_due(plan: dict, now: str) -> bool:
    """Whether the plan's visit gets its task now: due within the lead time, and that no longer than the
    interval, so a customer visited every day or two never has several visit tasks ahead at once."""
    lead = min(RETURN_VISIT_LEAD_DAYS, max(int(plan.get("interval_days") or 0), 0))
    return plan["due_at"] <= shifted(now, "due_at", days=lead)


def return_visit_task(plan: dict, now: str) -> dict:
    """The task for a planned visit: assigned to the customer's owner, due when the visit is (a late
    one, after the timers were stopped, still leaves the lead time), created by the system."""
    link = "contact_id" if plan["subject_type"] == "contact" else "company_id"
    fields = {
        "title": f"Return visit: {plan.get('display_name') or plan['subject_id']}"[:200],
        "kind": "return_visit",
        "assignee_id": plan["owner_id"],
        "due_at": _visit_due(plan, now),
        link: plan["subject_id"],
    }
    return new_task(fields, SYSTEM_USER, now)


def _visit_due(plan: dict, now: str) -> str:
    """When the visit's task is due: when the visit is, or, for one missed while the timers were stopped,
    after the lead time."""
    return plan["due_at"] if plan["due_at"] >= now else return_visit_horizon(now)


def next_return_visit(plan: dict, now: str) -> dict:
    """The plan after its visit's task was made: the next visit one interval after that task is due (so
    never two visit tasks ahead at once, also after the timers were stopped)."""
    visited = _visit_due(plan, now)
    return {**plan, "last_visit_at": visited, "due_at": shifted(visited, "due_at", days=plan["interval_days"])}
