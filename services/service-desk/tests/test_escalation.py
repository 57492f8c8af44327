"""The SLA timer on a real SQLite store with a controlled clock, no broker: warnings and breaches at
their minute, the escalation actions (notify, reassign, raise the priority), one action however
many instances run it, and the auto-close of resolved tickets."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory
from prometheus_client import REGISTRY

from crm_common.caller import Caller
from crm_common.store import OUTBOX, DocumentStore, open_store
from service_desk import escalation, sla
from service_desk.business_time import BusinessCalendar
from service_desk.service import ServiceDeskService
from service_desk.store import SERVICE_TEAMS, SLA_POLICIES, SPECS, TICKETS

SYSTEM = Caller("system", ("system",))
OPENED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CALENDAR_24X7 = BusinessCalendar.from_document(None)
TARGETS = {
    "urgent": {"first_response_minutes": 15, "resolution_minutes": 60},
    "high": {"first_response_minutes": 30, "resolution_minutes": 120},
    "normal": {"first_response_minutes": 60, "resolution_minutes": 240},
    "low": {"first_response_minutes": 120, "resolution_minutes": 480},
}


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return OPENED.replace(hour=hour, minute=minute, second=second)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def policy(*escalations: dict) -> dict:
    """The one active policy of these tests: 24x7, a normal ticket's first response due in 1 h."""
    return {
        "id": "p-desk",
        "name": "Desk",
        "position": 1,
        "active": True,
        "conditions": {},
        "targets": TARGETS,
        "calendar_id": None,
        "pause_statuses": ["pending"],
        "escalations": list(escalations),
    }


def step(step_id: str, when: str, minutes: int, *actions: dict, metric: str = "first_response") -> dict:
    return {"id": step_id, "metric": metric, "when": when, "minutes": minutes, "actions": list(actions)}


def notify(*recipients: str) -> dict:
    return {"type": "notify", "recipients": list(recipients)}


@pytest.fixture
def path(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/service_desk.db"


@pytest.fixture
def store(path: str) -> Iterator[DocumentStore]:
    opened = open_store(path, SPECS)
    roster = {
        "id": "t-help",
        "assignment": "least_loaded",
        "agents": [{"user_id": u, "available": True, "max_open": None} for u in ("s1", "s2", "s3")],
        "manager_ids": ["m2", "m3"],
        "last_assigned_user_id": None,
        "updated_at": iso(OPENED),
    }
    opened[SERVICE_TEAMS].insert(roster)
    yield opened
    opened.close()


def file_ticket(store: DocumentStore, the_policy: dict, ticket_id: str = "t1", **fields) -> dict:
    """A ticket opened at 09:00 under `the_policy` (stored, so a re-match finds it again)."""
    store[SLA_POLICIES].put(the_policy)
    ticket = {
        "id": ticket_id,
        "subject": "Printer on fire",
        "description": "",
        "kind": "incident",
        "priority": "normal",
        "channel": "email",
        "category": None,
        "customer_grade": None,
        "contact_id": "c1",
        "company_id": None,
        "team_id": "t-help",
        "assignee_id": "s1",
        "contact_owner_id": "u3",
        "status": "open",
        "received_at": iso(OPENED),
        "first_responded_at": None,
        "resolved_at": None,
        "closed_at": None,
        "reopened_count": 0,
        "escalation_level": 0,
        "satisfaction": None,
        "merged_into": None,
        "created_by": "a1",
        "created_at": iso(OPENED),
        "updated_at": iso(OPENED),
        **fields,
    }
    return store[TICKETS].insert(sla.apply_clocks(ticket, None, the_policy, CALENDAR_24X7, OPENED))


def desk(store: DocumentStore, calls: list | None = None):
    """The service as the timer runs it (as the system), recording its `_apply_sla` calls."""
    worker = worker_factory(ServiceDeskService, store=store, caller=SYSTEM)
    real = worker._apply_sla

    def recording(tx, before, after, now):
        if calls is not None:
            calls.append((before.get("priority"), after.get("priority"), after.get("status")))
        return real(tx, before, after, now)

    worker._apply_sla = recording
    return worker


def emitted(store: DocumentStore) -> list[dict]:
    return [r["event"] for r in store[OUTBOX].find(None, [("id", 1)], 1000).items]


def run(store: DocumentStore, moment: datetime, calls: list | None = None) -> list[dict]:
    """Run the timer at `moment`; the events it wrote, as (type, payload)."""
    before = len(emitted(store))
    desk(store, calls).check_sla(moment)
    return [(e["event_type"], e["payload"]) for e in emitted(store)[before:]]


# warnings and breaches


def test_a_warning_then_a_breach_at_their_minute_notifying_the_team_managers(store: DocumentStore) -> None:
    ladder = policy(
        step("fr-warn", "before", 15, notify("assignee")),
        step("fr-breach", "after", 0, notify("assignee", "team_managers", "contact_owner", "u-duty", "m2")),
    )
    ticket = file_ticket(store, ladder)
    assert (ticket["first_response_due_at"], ticket["sla_next_check_at"]) == (iso(at(10)), iso(at(9, 45)))
    assert run(store, at(9, 44, 59)) == []

    warned = run(store, at(9, 45))
    assert [name for name, _ in warned] == ["ticket_sla_warning", "ticket_escalated", "ticket_updated"]
    warning, escalated, updated = (payload for _, payload in warned)
    assert (warning["id"], warning["metric"], warning["due_at"]) == ("t1", "first_response", iso(at(10)))
    assert (warning["step_id"], warning["recipient_ids"]) == ("fr-warn", ["s1"])
    assert (escalated["step_id"], escalated["reason"], escalated["recipient_ids"]) == ("fr-warn", "warning", ["s1"])
    assert escalated["actions"] == [{"type": "notify", "recipient_ids": ["s1"]}]
    assert (updated["changes"], updated["escalation_level"], updated["breached"]) == (["escalation_level"], 1, False)
    assert updated["sla_next_check_at"] == iso(at(10))

    assert run(store, at(9, 59, 59)) == []
    breached = run(store, at(10))
    assert [name for name, _ in breached] == ["ticket_sla_breached", "ticket_escalated", "ticket_updated"]
    breach, escalated, updated = (payload for _, payload in breached)
    assert (breach["target"], breach["due_at"], breach["breached_at"], breach["breached"]) == (
        "first_response",
        iso(at(10)),
        iso(at(10)),
        True,
    )
    assert (escalated["step_id"], escalated["reason"]) == ("fr-breach", "breach")
    assert escalated["recipient_ids"] == ["s1", "m2", "m3", "u3", "u-duty"]  # no repeats
    assert sorted(updated["changes"]) == ["breached", "escalation_level"]
    assert store[TICKETS].get("t1")["escalation_level"] == 2
    assert run(store, at(10, 0, 30)) == []


def test_a_breach_the_ladder_does_not_act_on_is_still_announced_once(store: DocumentStore) -> None:
    file_ticket(store, policy())
    assert run(store, at(9, 59)) == []
    (breach, updated) = run(store, at(10, 5))
    assert breach[0] == "ticket_sla_breached" and breach[1]["due_at"] == iso(at(10))  # the exact minute
    assert (updated[0], updated[1]["changes"]) == ("ticket_updated", ["breached"])
    assert run(store, at(10, 6)) == []


def test_unknown_and_missing_recipients_are_dropped(store: DocumentStore) -> None:
    ladder = policy(step("fr-breach", "after", 0, notify("assignee", "contact_owner", "team_managers")))
    file_ticket(store, ladder, assignee_id=None, contact_owner_id=None, team_id="t-none")
    escalated = next(p for name, p in run(store, at(10)) if name == "ticket_escalated")
    assert escalated["recipient_ids"] == []


def test_a_stale_next_check_is_put_right_without_events(store: DocumentStore) -> None:
    ticket = file_ticket(store, policy())
    store[TICKETS].replace({**ticket, "sla_next_check_at": iso(at(9, 30))})
    assert run(store, at(9, 31)) == []
    assert store[TICKETS].get("t1")["sla_next_check_at"] == iso(at(10))


# actions


def test_a_breach_reassigns_to_the_least_loaded_other_agent_and_notifies_them(store: DocumentStore) -> None:
    store[TICKETS].insert({"id": "busy", "assignee_id": "s2", "status": "open", "team_id": "t-help"})
    reassign = {"type": "reassign", "to": "least_loaded"}
    file_ticket(store, policy(step("fr-breach", "after", 0, reassign, notify("assignee"))))
    events = dict(run(store, at(10)))
    assert events["ticket_escalated"]["actions"] == [
        {"type": "reassign", "from": "s1", "to": "s3"},
        {"type": "notify", "recipient_ids": ["s3"]},
    ]
    assert events["ticket_escalated"]["recipient_ids"] == ["s3"]
    assert "assignee_id" in events["ticket_updated"]["changes"]
    assert store[TICKETS].get("t1")["assignee_id"] == "s3"


def test_reassign_round_robin_moves_the_pointer_and_a_named_user_takes_it_directly(store: DocumentStore) -> None:
    store[SERVICE_TEAMS].replace({**store[SERVICE_TEAMS].get("t-help"), "last_assigned_user_id": "s1"})
    ladder = policy(step("fr-breach", "after", 0, {"type": "reassign", "to": "round_robin"}))
    file_ticket(store, ladder, "t1", assignee_id="s2")
    named = policy(step("fr-breach", "after", 0, {"type": "reassign", "to": "u-lead"}))
    run(store, at(10))
    assert store[TICKETS].get("t1")["assignee_id"] == "s3"  # after s1, skipping the current assignee
    assert store[SERVICE_TEAMS].get("t-help")["last_assigned_user_id"] == "s3"
    file_ticket(store, named, "t2", received_at=iso(at(10)), created_at=iso(at(10)))
    run(store, at(11))
    assert store[TICKETS].get("t2")["assignee_id"] == "u-lead"


def test_reassign_to_nobody_available_keeps_the_assignee(store: DocumentStore) -> None:
    team = store[SERVICE_TEAMS].get("t-help")
    agents = [{**a, "available": a["user_id"] == "s1"} for a in team["agents"]]
    store[SERVICE_TEAMS].replace({**team, "agents": agents})
    file_ticket(store, policy(step("fr-breach", "after", 0, {"type": "reassign", "to": "least_loaded"})))
    events = dict(run(store, at(10)))
    assert events["ticket_escalated"]["actions"] == []
    assert "assignee_id" not in events["ticket_updated"]["changes"]
    assert store[TICKETS].get("t1")["assignee_id"] == "s1"


def test_raise_priority_moves_one_level_up_and_recomputes_the_sla(store: DocumentStore) -> None:
    file_ticket(store, policy(step("fr-breach", "after", 0, {"type": "raise_priority"})))
    calls: list = []
    events = dict(run(store, at(10), calls))
    # The timer reschedules the clocks in the calendar as it is now, then the step raises the priority.
    assert calls == [("normal", "normal", "open"), ("normal", "high", "open")]
    assert events["ticket_escalated"]["actions"] == [{"type": "raise_priority", "from": "normal", "to": "high"}]
    changes = events["ticket_updated"]["changes"]
    assert {"priority", "escalation_level", "breached", "resolution_due_at"} <= set(changes)
    stored = store[TICKETS].get("t1")
    assert (stored["priority"], stored["resolution_due_at"]) == ("high", iso(at(11)))  # 120 min from 09:00
    assert stored["breached"] is True
    assert run(store, at(10, 1)) == []  # the fired step stays fired under the recomputed SLA


def test_raise_priority_stops_at_urgent(store: DocumentStore) -> None:
    file_ticket(store, policy(step("fr-breach", "after", 0, {"type": "raise_priority"})), priority="urgent")
    calls: list = []
    events = dict(run(store, at(9, 15), calls))
    assert calls == [("urgent", "urgent", "open")]  # the reschedule only: no priority to raise
    assert events["ticket_escalated"]["actions"] == []
    assert store[TICKETS].get("t1")["priority"] == "urgent"


def test_a_step_due_before_the_ticket_was_resolved_only_notifies(store: DocumentStore) -> None:
    actions = ({"type": "raise_priority"}, {"type": "reassign", "to": "least_loaded"}, notify("assignee"))
    ticket = file_ticket(store, policy(step("fr-breach", "after", 0, *actions)))
    resolved = {**ticket, "status": "resolved", "resolved_at": iso(at(10, 30))}
    store[TICKETS].replace(sla.apply_clocks(resolved, ticket["sla"], None, CALENDAR_24X7, at(10, 30)))
    events = dict(run(store, at(10, 31)))
    assert events["ticket_sla_breached"]["breached_at"] == iso(at(10))
    assert events["ticket_escalated"]["actions"] == [{"type": "notify", "recipient_ids": ["s1"]}]
    stored = store[TICKETS].get("t1")
    assert (stored["priority"], stored["assignee_id"], stored["escalation_level"]) == ("normal", "s1", 1)


# one action, however many instances


class _Interleaved:
    """A store whose first ticket page is read, then `meanwhile` runs, before the page is handed over."""

    def __init__(self, store: DocumentStore, meanwhile):
        self._store, self._meanwhile = store, meanwhile

    def transaction(self):
        return self._store.transaction()

    def __getitem__(self, name: str):
        collection = self._store[name]
        outer = self

        class Paused:
            def find(self, *args, **kwargs):
                page = collection.find(*args, **kwargs)
                if outer._meanwhile:
                    outer._meanwhile, meanwhile = None, outer._meanwhile
                    meanwhile()
                return page

            def __getattr__(self, attribute):
                return getattr(collection, attribute)

        return Paused()


def test_an_instance_that_read_the_work_list_before_another_acted_skips_it(store: DocumentStore, path: str) -> None:
    file_ticket(store, policy(step("fr-breach", "after", 0, notify("assignee"))))
    other = open_store(path, SPECS)
    try:
        first = desk(_Interleaved(store, lambda: desk(other).check_sla(at(10))))
        counts = first.check_sla(at(10))
    finally:
        other.close()
    assert counts["escalated"] == 0
    assert [e["event_type"] for e in emitted(store)] == ["ticket_sla_breached", "ticket_escalated", "ticket_updated"]


def test_two_instances_running_at_once_act_once_on_each_ticket(store: DocumentStore, path: str) -> None:
    ladder = policy(step("fr-breach", "after", 0, notify("assignee")))
    for i in range(30):
        file_ticket(store, ladder, f"t{i:02d}")
    stores = [open_store(path, SPECS), open_store(path, SPECS)]
    results: list[dict] = []
    threads = [threading.Thread(target=lambda s=s: results.append(desk(s).check_sla(at(10)))) for s in stores]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        for opened in stores:
            opened.close()
    assert len(results) == 2
    assert sum(r["escalated"] for r in results) == 30 and sum(r["breached"] for r in results) == 30
    kinds = [(e["event_type"], e["payload"]["id"]) for e in emitted(store)]
    assert len(kinds) == len(set(kinds)) == 90
    assert all(store[TICKETS].get(f"t{i:02d}")["escalation_level"] == 1 for i in range(30))


def test_the_timer_goes_through_more_than_a_page(store: DocumentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(escalation, "TIMER_BATCH", 7)
    for i in range(20):
        file_ticket(store, policy(), f"t{i:02d}")
    assert desk(store).check_sla(at(10))["breached"] == 20


def test_the_timer_reads_the_service_clock_and_survives_a_failure(store: DocumentStore) -> None:
    file_ticket(store, policy())
    worker = desk(store)
    worker._now = lambda: at(10)
    worker.run_sla_checks()
    assert [e["event_type"] for e in emitted(store)] == ["ticket_sla_breached", "ticket_updated"]
    worker.check_sla = lambda now: 1 / 0
    worker.run_sla_checks()  # logged, not raised


# auto-close


def test_resolved_tickets_close_after_seven_days(store: DocumentStore) -> None:
    resolved = at(12)
    for ticket_id, status in (("old", "resolved"), ("recent", "resolved"), ("waiting", "pending")):
        fields = {"status": status, "resolved_at": iso(resolved) if ticket_id == "old" else None}
        if ticket_id == "recent":
            fields["resolved_at"] = iso(resolved + timedelta(minutes=1))
        file_ticket(store, policy(), ticket_id, first_responded_at=iso(at(9, 30)), **fields)
    week_later = resolved + timedelta(days=escalation.AUTO_CLOSE_DAYS)
    calls: list = []
    events = run(store, week_later, calls)
    assert [(name, p["id"], p["changes"]) for name, p in events] == [("ticket_updated", "old", ["status", "closed_at"])]
    assert calls == [("normal", "normal", "closed")]
    closed = store[TICKETS].get("old")
    assert (closed["status"], closed["closed_at"], closed["updated_at"]) == ("closed", iso(week_later), iso(week_later))
    assert store[TICKETS].get("recent")["status"] == "resolved"
    assert run(store, week_later + timedelta(seconds=59)) == []
    assert [p["id"] for _, p in run(store, week_later + timedelta(minutes=1))] == ["recent"]


def test_a_warning_names_the_due_time_after_its_step_raised_the_priority(store: DocumentStore) -> None:
    warn = step("w", "before", 30, notify("assignee"), {"type": "raise_priority"}, metric="resolution")
    file_ticket(store, policy(warn))  # normal: resolution due 13:00
    events = dict(run(store, at(12, 30)))
    stored = store[TICKETS].get("t1")
    assert stored["priority"] == "high" and stored["resolution_due_at"] == iso(at(11))  # 120 min from 09:00
    assert events["ticket_sla_warning"]["due_at"] == stored["resolution_due_at"]


def test_one_failing_ticket_does_not_stop_the_others(store: DocumentStore, monkeypatch, caplog) -> None:
    the_policy = policy(step("fr-breach", "after", 0, notify("assignee")))
    file_ticket(store, the_policy, "t1")
    file_ticket(store, the_policy, "t2")
    real = sla.due_alerts

    def broken_for_t1(ticket, now):
        if ticket["id"] == "t1":
            raise KeyError("sla")
        return real(ticket, now)

    monkeypatch.setattr(escalation.sla, "due_alerts", broken_for_t1)
    events = run(store, at(10))
    assert {(name, payload["id"]) for name, payload in events} >= {("ticket_sla_breached", "t2")}
    assert all(payload["id"] == "t2" for _, payload in events)
    assert "t1" in caplog.text  # logged with its id
    assert store[TICKETS].get("t1")["sla_next_check_at"] == iso(at(10))  # still due: tried again next run
    monkeypatch.setattr(escalation.sla, "due_alerts", real)
    assert {payload["id"] for _, payload in run(store, at(10, 1))} == {"t1"}


def test_a_holiday_added_to_the_calendar_moves_the_due_times_of_running_clocks(store: DocumentStore) -> None:
    admin = worker_factory(ServiceDeskService, store=store, caller=Caller("a1", ("admin",)))
    admin._now = lambda: at(9, 30)
    week = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    calendar = admin.create_business_calendar({"name": "Office", "time_zone": "UTC", "working_hours": week})
    counted = BusinessCalendar.from_document(calendar)
    the_policy = {**policy(), "calendar_id": calendar["id"]}
    store[SLA_POLICIES].put(the_policy)
    ticket = file_ticket(store, the_policy)
    running = store[TICKETS].replace(sla.apply_clocks(ticket, None, the_policy, counted, OPENED))
    assert running["resolution_due_at"] == iso(at(13))  # Monday 09:00 + 240 business minutes
    done = file_ticket(store, the_policy, "t-done", status="resolved", resolved_at=iso(at(9, 10)))
    admin.update_business_calendar(calendar["id"], {"holidays": ["2026-11-23"]})  # today is off after all
    assert store[TICKETS].get("t1")["sla_next_check_at"] == iso(at(9, 30))  # due for the timer now
    assert store[TICKETS].get("t-done")["version"] == done["version"]  # a finished ticket is left alone
    events = dict(run(store, at(9, 30)))
    stored = store[TICKETS].get("t1")
    tuesday = OPENED + timedelta(days=1)
    assert (stored["first_response_due_at"], stored["resolution_due_at"]) == (
        iso(tuesday.replace(hour=10)),
        iso(tuesday.replace(hour=13)),
    )
    assert {"first_response_due_at", "resolution_due_at"} <= set(events["ticket_updated"]["changes"])
    assert stored["sla_next_check_at"] == iso(tuesday.replace(hour=10))


# the SLA compliance counter


def resolved_count(outcome: str) -> float:
    return REGISTRY.get_sample_value("crm_tickets_resolved_total", {"sla": outcome}) or 0.0


def test_each_resolution_is_counted_once_under_its_sla_outcome(store: DocumentStore) -> None:
    before = {outcome: resolved_count(outcome) for outcome in ("met", "breached", "none")}
    file_ticket(store, policy(), "t-met")
    file_ticket(store, policy(), "t-late")
    admin = Caller("a1", ("admin",))
    in_time = worker_factory(ServiceDeskService, store=store, caller=admin)
    in_time._now = lambda: at(9, 30)
    in_time.update_ticket("t-met", {"status": "resolved"})
    run(store, at(10, 5))  # first response due at 10:00: t-late is breached
    late = worker_factory(ServiceDeskService, store=store, caller=admin)
    late._now = lambda: at(10, 10)
    late.update_ticket("t-late", {"status": "resolved"})
    late.update_ticket("t-late", {"status": "closed"})  # closing is no second resolution
    after = {outcome: resolved_count(outcome) for outcome in ("met", "breached", "none")}
    assert {k: after[k] - before[k] for k in after} == {"met": 1, "breached": 1, "none": 0}
