"""The SLA timer: breaches, warnings and the escalation ladder of each ticket's policy (notify,
reassign, raise the priority), and the auto-close of resolved tickets (a mixin of ServiceDeskService).

Several instances may run the timer at once: each ticket is claimed in its own transaction by a
version check on the ticket, so each breach, warning and step is acted on exactly once."""

import logging
from datetime import datetime, timedelta

from nameko.timer import timer

from crm_common.config import float_setting, int_setting
from crm_common.errors import Conflict, PreconditionFailed

from . import events, sla
from .domain import DONE_STATUSES, stamp
from .schemas import PRIORITIES
from .store import TICKETS

log = logging.getLogger(__name__)

SLA_TIMER_SECONDS = float_setting("SLA_TIMER_SECONDS", 30.0)
AUTO_CLOSE_DAYS = int_setting("AUTO_CLOSE_DAYS", 7)
# Each timer run goes through the due tickets in pages of this many, acting on each at most once.
TIMER_BATCH = 200
# The ticket fields whose change the timer announces with ticket_updated.
ANNOUNCED = (
    "status",
    "closed_at",
    "assignee_id",
    "priority",
    "escalation_level",
    "breached",
    "first_response_due_at",
    "resolution_due_at",
)


class _Skipped(Exception):
    """Another instance acted on this ticket first, or it no longer qualifies: roll back, move on."""


def raised(priority: str) -> str:
    """One level up schemas.PRIORITIES (low to urgent); urgent stays urgent."""
    position = PRIORITIES.index(priority) if priority in PRIORITIES else 1
    return PRIORITIES[min(position + 1, len(PRIORITIES) - 1)]


def changed_fields(before: dict, after: dict) -> list[str]:
    return [name for name in ANNOUNCED if before.get(name) != after.get(name)]


def unique_ids(ids: list) -> list[str]:
    """Recipients in order of first mention, without nulls and repeats."""
    seen: list[str] = []
    for user_id in ids:
        if isinstance(user_id, str) and user_id and user_id not in seen:
            seen.append(user_id)
    return seen


class EscalationRpc:
    """The SLA timer and its escalation actions."""

    @timer(interval=SLA_TIMER_SECONDS)
    def run_sla_checks(self) -> None:
        try:
            counts = self.check_sla(self._now())
        except Exception:
            log.exception("the SLA timer failed; the next run tries again")
            return
        if any(counts.values()):
            log.info("SLA timer: %s", counts)

    def check_sla(self, now: datetime) -> dict:
        """The timer's body at `now`: every ticket whose next SLA check is due (breaches, warnings,
        ladder steps), then the resolved tickets older than AUTO_CLOSE_DAYS. Counts of what it did."""
        counts = {"checked": 0, "breached": 0, "warned": 0, "escalated": 0, "closed": 0}
        due = {"sla_next_check_at": {"$lte": stamp(now)}}
        self._drain(due, "sla_next_check_at", lambda ticket_id: self._check_ticket(ticket_id, now), counts)
        cutoff = stamp(now - timedelta(days=AUTO_CLOSE_DAYS))
        resolved = {"status": "resolved", "resolved_at": {"$lte": cutoff}}
        self._drain(resolved, "resolved_at", lambda ticket_id: self._auto_close(ticket_id, now, cutoff), counts)
        return counts

    def _drain(self, due: dict, order: str, act, counts: dict) -> None:
        """Act on each due ticket, page by page, each at most once per run."""
        seen: set[str] = set()
        cursor = None
        while True:
            page = self.store[TICKETS].find(due, [(order, 1)], TIMER_BATCH, cursor)
            for ticket in page.items:
                if ticket["id"] in seen:
                    continue
                seen.add(ticket["id"])
                for name, value in (self._claiming(act, ticket["id"]) or {}).items():
                    counts[name] += value
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def _claiming(self, act, ticket_id: str) -> dict | None:
        try:
            with self.store.transaction() as tx:
                return act(ticket_id)(tx)
        except (_Skipped, Conflict, PreconditionFailed):
            return None
        except Exception:  # one broken ticket must not hold up the others: it is tried again next run
            log.exception("SLA timer: ticket %s failed; the next run tries it again", ticket_id)
            return None

    # SLA alerts

    def _check_ticket(self, ticket_id: str, now: datetime):
        def step(tx) -> dict:
            ticket = tx[TICKETS].get(ticket_id)
            if ticket is None or not ticket.get("sla_next_check_at") or ticket["sla_next_check_at"] > stamp(now):
                raise _Skipped
            # Reschedule the running clocks in their calendar as it is now (a holiday added since
            # the due times were computed moves them), before deciding what is due.
            work = self._apply_sla(tx, ticket, ticket, now)
            alerts = sla.due_alerts(work, now)
            announced: list[tuple[str, dict]] = []
            counts = {"checked": 1, "breached": 0, "warned": 0, "escalated": 0}
            for alert in alerts:
                if alert["kind"] == "breach":
                    extras = {"target": alert["metric"], "due_at": alert["due_at"], "breached_at": alert["due_at"]}
                    announced.append((events.TICKET_SLA_BREACHED, extras))
                    counts["breached"] += 1
                    continue
                work, fired = self._escalate(tx, work, alert["step"], now)
                announced.extend(fired)
                counts["warned"] += sum(1 for name, _ in fired if name == events.TICKET_SLA_WARNING)
                counts["escalated"] += 1
            work = sla.mark_fired(work, alerts, now)
            changes = changed_fields(ticket, work)
            if changes:
                work["updated_at"] = stamp(now)
            if work == ticket:
                raise _Skipped  # nothing due after all (its next check was stale): nothing to write
            stored = tx[TICKETS].replace(work, ticket["version"])
            for name, extras in announced:
                self.emit(tx, name, {**stored, **extras})
            if changes:
                self.emit(tx, events.TICKET_UPDATED, {**stored, "changes": changes})
            return counts

        return step

    def _escalate(self, tx, ticket: dict, step: dict, now: datetime) -> tuple[dict, list[tuple[str, dict]]]:
        """One ladder step: its actions in order, one more escalation level; the events it makes
        (a warning names its clock's due time after the actions: raising the priority moves it)."""
        work = dict(ticket)
        recipients: list = []
        done: list[dict] = []
        for action in step.get("actions", []):
            kind = action.get("type")
            if kind != "notify" and work.get("status") in DONE_STATUSES:
                continue  # a step that came due just before the ticket was resolved: only its notices
            if kind == "notify":
                named = self._recipients(tx, work, action.get("recipients", []))
                recipients.extend(named)
                done.append({"type": "notify", "recipient_ids": named})
            elif kind == "reassign":
                previous = work.get("assignee_id")
                chosen = self._reassignee(tx, work, action.get("to"))
                if chosen is not None and chosen != previous:
                    work["assignee_id"] = chosen
                    done.append({"type": "reassign", "from": previous, "to": chosen})
            elif kind == "raise_priority":
                previous = work.get("priority")
                if raised(previous) != previous:
                    work = self._apply_sla(tx, work, {**work, "priority": raised(previous)}, now)
                    done.append({"type": "raise_priority", "from": previous, "to": work["priority"]})
        work["escalation_level"] = (work.get("escalation_level") or 0) + 1
        recipient_ids = unique_ids(recipients)
        metric = step.get("metric")
        fired = []
        if step.get("when") == "before":
            due_at = ((work.get("sla") or {}).get(metric) or {}).get("due_at")
            warning = {"metric": metric, "due_at": due_at, "step_id": step["id"], "recipient_ids": recipient_ids}
            fired.append((events.TICKET_SLA_WARNING, warning))
        reason = "warning" if step.get("when") == "before" else "breach"
        fired.append(
            (
                events.TICKET_ESCALATED,
                {"step_id": step["id"], "reason": reason, "actions": done, "recipient_ids": recipient_ids},
            )
        )
        return work, fired

    def _recipients(self, tx, ticket: dict, named: list) -> list[str]:
        ids: list = []
        for recipient in named:
            if recipient == "assignee":
                ids.append(ticket.get("assignee_id"))
            elif recipient == "team_managers":
                ids.extend(self._team_managers(tx, ticket.get("team_id")))
            elif recipient == "contact_owner":
                ids.append(ticket.get("contact_owner_id"))
            else:
                ids.append(recipient)
        return unique_ids(ids)

    def _reassignee(self, tx, ticket: dict, to: str | None) -> str | None:
        """Who a reassign action hands the ticket to: an agent of its team's roster other than the
        current assignee (`least_loaded`, `round_robin`), or the user named; None: nobody."""
        if to in ("least_loaded", "round_robin"):
            current = ticket.get("assignee_id")
            return self._pick_agent(tx, ticket.get("team_id"), to, exclude=(current,) if current else ())
        return to if isinstance(to, str) and to else None

    # auto-close

    def _auto_close(self, ticket_id: str, now: datetime, cutoff: str):
        def step(tx) -> dict:
            ticket = tx[TICKETS].get(ticket_id)
            if ticket is None or ticket.get("status") != "resolved" or not ticket.get("resolved_at"):
                raise _Skipped
            if ticket["resolved_at"] > cutoff:
                raise _Skipped  # reopened and resolved again meanwhile
            self._change_ticket(tx, ticket, {"status": "closed"}, now)  # ticket_updated with its changes
            return {"closed": 1}

        return step
