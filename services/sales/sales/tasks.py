"""Tasks and reminders: the task write path and reads, the reminder and overdue timers, and return
visits planned per customer grade (a mixin of SalesService)."""

import logging

from nameko.rpc import rpc
from nameko.timer import timer

from crm_common.access import ADMIN, MANAGER, SALES_REP, SUPPORT_AGENT, and_filters, reach_of, require_role
from crm_common.config import float_setting
from crm_common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.listing import parse_list_query
from crm_common.redirects import surviving_id
from crm_common.schema import validate

from . import domain, events, schemas, task_rules
from .store import CUSTOMERS, DEALS, MERGED_CUSTOMERS, RETURN_VISITS, TASKS

log = logging.getLogger(__name__)

# Support agents keep their own tasks (follow-ups of tickets); viewers only read.
TASK_WRITERS = (ADMIN, MANAGER, SALES_REP, SUPPORT_AGENT)
TASK_TIMER_SECONDS = float_setting("TASK_TIMER_SECONDS", 60.0)
# Each timer run goes through the due work in pages of this many, acting on each record at most once.
TIMER_BATCH = 200


class _Skipped(Exception):
    """Another instance acted on this record first, or it no longer qualifies: roll back, move on."""


def _unknown(field: str, what: str) -> ValidationFailed:
    return ValidationFailed(f"unknown {what}", [{"field": field, "message": f"no such {what}"}])


class TasksRpc:
    """RPC entrypoints and timers of tasks, reminders and return visits."""

    # reads

    def _visible_task(self, source, task_id: str) -> dict:
        """The task, or NotFound, the same for a missing id and one out of the caller's reach."""
        task = source[TASKS].get(task_id)
        if task is None or not task_rules.task_in_reach(reach_of(self.caller), task):
            raise NotFound(f"task {task_id} not found")
        return task

    @rpc
    def get_task(self, task_id: str) -> dict:
        return self._visible_task(self.store, task_id)

    @rpc
    def list_tasks(self, query: dict) -> dict:
        q = parse_list_query(
            query, filterable=schemas.TASK_FILTERABLE, sortable=schemas.TASK_SORTABLE, booleans=("done",)
        )
        flt = and_filters(task_rules.task_filter(reach_of(self.caller)), q.filter)
        page = self.store[TASKS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    # writes

    def _linked_records(self, fields: dict, current: dict | None) -> dict:
        """Check each newly linked record is visible to the caller (a contact or company through
        the contacts service as the caller, a deal by the deal rules). A new task (`current` None)
        also takes the links they imply and it leaves out: a deal's customer, a contact's company."""
        before = current or {}
        implied: dict = {}

        def linking(name: str) -> bool:
            return bool(fields.get(name)) and fields[name] != before.get(name)

        if linking("deal_id"):
            deal = self.store[DEALS].get(fields["deal_id"])
            if deal is None or not domain.deal_in_reach(reach_of(self.caller), deal):
                raise _unknown("deal_id", "deal")
            implied = {"contact_id": deal.get("contact_id"), "company_id": deal.get("company_id")}
        if linking("contact_id"):
            try:
                contact = self.contacts.get_contact(fields["contact_id"])
            except NotFound:
                raise _unknown("contact_id", "contact") from None
            implied.setdefault("company_id", contact.get("company_id"))
        if linking("company_id"):
            try:
                self.contacts.get_company(fields["company_id"])
            except NotFound:
                raise _unknown("company_id", "company") from None
        if current is not None:
            return {}
        return {name: value for name, value in implied.items() if value and name not in fields}

    @rpc
    def create_task(self, data: dict) -> dict:
        require_role(self.caller, TASK_WRITERS, "create tasks")
        fields = validate(data, schemas.TASK_FIELDS, server_owned=schemas.TASK_SERVER_OWNED)
        task_rules.check_assignee(self.caller, fields.get("assignee_id", self.caller.user_id), creating=True)
        task = task_rules.new_task(fields, self.caller.user_id, self._now())
        task.update(self._linked_records(fields, None))
        with self.store.transaction() as tx:
            task.update(self._surviving_customers(tx, task))  # its customer was merged meanwhile
            stored = tx[TASKS].insert(task)
            self.emit(tx, events.TASK_CREATED, stored)
        return stored

    @rpc
    def update_task(self, task_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, TASK_WRITERS, "change tasks")
        changes = validate(data, schemas.TASK_FIELDS, partial=True, server_owned=schemas.TASK_SERVER_OWNED)
        current = self._visible_task(self.store, task_id)
        if "assignee_id" in changes and changes["assignee_id"] != current["assignee_id"]:
            task_rules.check_assignee(self.caller, changes["assignee_id"], creating=False)
        self._linked_records(changes, current)
        with self.store.transaction() as tx:
            current = self._visible_task(tx, task_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"task {task_id} is at version {current['version']}")
            updated, changed = task_rules.apply_task_changes(current, changes, self._now())
            if not changed:
                return current
            stored = tx[TASKS].replace(updated, current["version"])
            self.emit(tx, events.TASK_UPDATED, {**stored, "changes": changed})
        return stored

    @rpc
    def delete_task(self, task_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, TASK_WRITERS, "delete tasks")
        with self.store.transaction() as tx:
            current = self._visible_task(tx, task_id)
            if not task_rules.may_delete(self.caller, current):
                raise Forbidden("only the task's creator, the assignee's manager or an admin may delete it")
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"task {task_id} is at version {current['version']}")
            tx[TASKS].delete(task_id, current["version"])

    # return visits

    def _plan_return_visit(self, tx, stats: dict) -> None:
        """Keep a customer's next return visit in step with its grade and owner (the grading calls
        this whenever either changes): none in the pool or for a grade without visits."""
        key = task_rules.subject_key(stats["subject_type"], stats["subject_id"])
        current = tx[RETURN_VISITS].get(key)
        intervals = self._settings(tx)["return_visits"]
        plan = task_rules.planned_return_visit(current, stats, intervals, self._now())
        if plan is None:
            if current is not None:
                tx[RETURN_VISITS].delete(key)
            return
        kept = {k: v for k, v in (current or {}).items() if k != "version"}
        if plan != kept:
            tx[RETURN_VISITS].put(plan)

    # timers

    @timer(interval=TASK_TIMER_SECONDS)
    def run_task_timers(self) -> None:
        try:
            counts = self._run_task_timers(self._now())
        except Exception:
            log.exception("the task timers failed; the next run tries again")
            return
        if any(counts.values()):
            log.info("task timers: %s", counts)

    def _run_task_timers(self, moment: str) -> dict:
        """Reminders, overdue notices and return visits due at `moment`. Several instances may run
        this at once: each alert and visit is claimed in its own transaction, by a version check on
        the record it marks, so each is acted on exactly once."""
        counts = {"reminded": 0, "reminders_dropped": 0, "overdue": 0, "return_visits": 0, "plans_dropped": 0}
        self._drain(TASKS, {"reminder_due_at": {"$lte": moment}}, "reminder_due_at", self._remind, moment, counts)
        self._drain(TASKS, {"overdue_due_at": {"$lte": moment}}, "overdue_due_at", self._escalate, moment, counts)
        horizon = task_rules.return_visit_horizon(moment)
        self._drain(RETURN_VISITS, {"due_at": {"$lte": horizon}}, "due_at", self._visit, moment, counts)
        return counts

    def _drain(self, collection: str, due: dict, order: str, act, moment: str, counts: dict) -> None:
        """Act on each record due, page by page, each at most once per run: a return visit moves its plan
        on by an interval, which may still be due, and waits for the next run (one visit task per customer
        per run)."""
        seen: set[str] = set()
        cursor = None
        while True:
            page = self.store[collection].find(due, [(order, 1)], TIMER_BATCH, cursor)
            for doc in page.items:
                if doc["id"] in seen:
                    continue
                seen.add(doc["id"])
                outcome = act(doc["id"], moment)
                if outcome:
                    counts[outcome] += 1
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def _claiming(self, step) -> str | None:
        try:
            with self.store.transaction() as tx:
                return step(tx)
        except (_Skipped, Conflict, PreconditionFailed):
            return None

    def _remind(self, task_id: str, moment: str) -> str | None:
        def step(tx) -> str:
            task = tx[TASKS].get(task_id)
            action = task_rules.reminder_action(task, moment) if task else None
            if action is None:
                raise _Skipped
            stored = tx[TASKS].replace(task_rules.mark_reminded(task), task["version"])
            if action == "superseded":
                return "reminders_dropped"
            self.emit(tx, events.TASK_REMINDER_DUE, stored)
            return "reminded"

        return self._claiming(step)

    def _escalate(self, task_id: str, moment: str) -> str | None:
        def step(tx) -> str:
            task = tx[TASKS].get(task_id)
            if task is None or not task_rules.is_newly_overdue(task, moment):
                raise _Skipped
            stored = tx[TASKS].replace(task_rules.mark_escalated(task), task["version"])
            self.emit(tx, events.TASK_OVERDUE, stored)
            return "overdue"

        return self._claiming(step)

    def _visit(self, plan_id: str, moment: str) -> str | None:
        def step(tx) -> str:
            plan = tx[RETURN_VISITS].get(plan_id)
            if plan is None or not task_rules.return_visit_due(plan, moment):
                raise _Skipped
            customer = tx[CUSTOMERS].get(plan_id)
            merged = surviving_id(tx[MERGED_CUSTOMERS], plan["subject_type"], plan["subject_id"]) != plan["subject_id"]
            if merged or (customer is not None and customer.get("deleted")):
                if not tx[RETURN_VISITS].delete(plan_id, plan["version"]):
                    raise _Skipped
                return "plans_dropped"
            tx[RETURN_VISITS].replace(task_rules.next_return_visit(plan, moment), plan["version"])
            stored = tx[TASKS].insert(task_rules.return_visit_task(plan, moment))
            self.emit(tx, events.TASK_CREATED, stored)
            return "return_visits"

        return self._claiming(step)
