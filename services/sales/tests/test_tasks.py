"""Tasks on a real SQLite store, no broker: validation, who sees, assigns and deletes which task,
linked records, the reminder and overdue timers on a controlled clock (also two instances at once),
and return visits planned per customer grade."""

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from sales import domain, task_rules, valuation
from sales.service import SalesService
from sales.store import CUSTOMERS, DEALS, RETURN_VISITS, SPECS, TASKS

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller(
    "m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2", "v1")
)
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
OTHER_REP = Caller("u3", ("sales_rep",), ("t-west",), teammate_ids=("u3",))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
SYSTEM = Caller("system", ("system",))

T0 = "2030-01-01T09:00:00.000000Z"


class FakeContacts:
    """The contacts service as the caller meets it: only `visible` customers exist for them."""

    def __init__(self, visible: set[str]):
        self.visible = visible

    def get_contact(self, contact_id: str) -> dict:
        if contact_id not in self.visible:
            raise NotFound(f"contact {contact_id} not found")
        return {"id": contact_id, "company_id": "k1"}

    def get_company(self, company_id: str) -> dict:
        if company_id not in self.visible:
            raise NotFound(f"company {company_id} not found")
        return {"id": company_id}


@pytest.fixture
def clock(monkeypatch) -> Iterator[dict]:
    """The tasks' clock, set by the test: `clock["now"] = ...`."""
    moment = {"now": T0}
    monkeypatch.setattr(SalesService, "_clock", lambda self: valuation.parse_time(moment["now"]))
    yield moment


@pytest.fixture
def store(tmp_path: Path, clock) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    pipeline = domain.default_pipeline("t0")
    opened["pipelines"].insert(pipeline)
    for deal_id, owner in (("deal-u1", "u1"), ("deal-u3", "u3")):
        fields = {"title": deal_id, "amount": "1.00", "currency": "CNY", "contact_id": "c-deal", "owner_id": owner}
        opened[DEALS].insert({**domain.new_deal(fields, pipeline, "a1", "t0"), "id": deal_id, "company_id": "k-deal"})
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller, visible: set[str] = frozenset({"c1", "k1"})) -> SalesService:
    return worker_factory(SalesService, store=store, caller=caller, contacts=FakeContacts(set(visible)))


def published(store: DocumentStore, event_type: str | None = None) -> list[dict]:
    events = [row["event"] for row in store[OUTBOX].find(None, [("id", 1)], 200).items]
    return [e for e in events if event_type is None or e["event_type"] == event_type]


def problems(caught) -> dict:
    return {e["field"]: e["message"] for e in caught.value.errors}


# validation


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "title"),
        ({"title": " "}, "title"),
        ({"title": "T", "kind": "lunch"}, "kind"),
        ({"title": "T", "priority": "urgent"}, "priority"),
        ({"title": "T", "due_at": "tomorrow"}, "due_at"),
        ({"title": "T", "done_at": T0}, "done_at"),
        ({"title": "T", "created_by": "u9"}, "created_by"),
        ({"title": "T", "colour": "red"}, "colour"),
        ({"title": "T", "assignee_id": None}, "assignee_id"),
        ({"title": "T", "due_at": T0, "remind_at": "2030-01-01T10:00:00Z"}, "remind_at"),
        ({"title": "T", "remind_at": T0, "reminder_minutes_before": 5, "due_at": T0}, "reminder_minutes_before"),
        ({"title": "T", "reminder_minutes_before": 30}, "reminder_minutes_before"),
        ({"title": "T", "due_at": T0, "reminder_minutes_before": -1}, "reminder_minutes_before"),
        ({"title": "T", "due_at": T0, "reminder_minutes_before": 10**9}, "reminder_minutes_before"),
        ({"title": "T", "due_at": "0001-01-01T00:00:00+01:00"}, "due_at"),
        ({"title": "T", "contact_id": " "}, "contact_id"),
    ],
)
def test_invalid_tasks_are_refused_field_by_field(store, body, field) -> None:
    with pytest.raises(ValidationFailed) as caught:
        service(store, REP).create_task(body)
    assert field in problems(caught)
    assert store[TASKS].count() == 0


def test_a_new_task_takes_its_defaults_and_times_are_kept_in_utc(store) -> None:
    task = service(store, REP).create_task(
        {"title": "Call back", "due_at": "2030-01-02T18:00:00+08:00", "remind_at": "2030-01-02T09:30:00"}
    )
    assert task["assignee_id"] == task["created_by"] == "u1"
    assert (task["kind"], task["priority"], task["done"], task["done_at"]) == ("todo", "normal", False, None)
    assert task["due_at"] == "2030-01-02T10:00:00.000000Z"
    assert task["remind_at"] == "2030-01-02T09:30:00.000000Z"
    [event] = published(store)
    assert (event["event_type"], event["payload"]["id"]) == ("task_created", task["id"])


def test_a_reminder_in_minutes_follows_the_due_time(store) -> None:
    sales = service(store, REP)
    task = sales.create_task({"title": "Demo", "due_at": "2030-01-02T10:00:00Z", "reminder_minutes_before": 90})
    assert task["remind_at"] == "2030-01-02T08:30:00.000000Z"
    moved = sales.update_task(task["id"], {"due_at": "2030-01-03T10:00:00Z"})
    assert moved["remind_at"] == "2030-01-03T08:30:00.000000Z"
    fixed = sales.update_task(task["id"], {"remind_at": "2030-01-03T07:00:00Z"})
    assert (fixed["remind_at"], fixed["reminder_minutes_before"]) == ("2030-01-03T07:00:00.000000Z", None)
    with pytest.raises(ValidationFailed) as caught:
        sales.update_task(task["id"], {"due_at": "2030-01-03T06:00:00Z"})
    assert problems(caught) == {"remind_at": "must not be after due_at"}


def test_an_update_reports_its_changes_and_done_is_stamped_by_the_server(store, clock) -> None:
    sales = service(store, REP)
    task = sales.create_task({"title": "Send quote"})
    clock["now"] = "2030-01-01T10:00:00.000000Z"
    done = sales.update_task(task["id"], {"done": True, "priority": "high"}, task["version"])
    assert (done["done"], done["done_at"], done["version"]) == (True, clock["now"], task["version"] + 1)
    event = published(store, "task_updated")[-1]
    assert sorted(event["payload"]["changes"]) == ["done", "done_at", "priority"]
    assert sales.update_task(task["id"], {"priority": "high"}) == done  # nothing changed: no version, no event
    assert len(published(store, "task_updated")) == 1
    with pytest.raises(PreconditionFailed):
        sales.update_task(task["id"], {"title": "Late"}, task["version"])
    reopened = sales.update_task(task["id"], {"done": False})
    assert reopened["done_at"] is None


# visibility and assignment

# id -> (assignee, creator)
SEEDED = {
    "u1-own": ("u1", "u1"),
    "u1-from-manager": ("u1", "m1"),
    "u2-own": ("u2", "u2"),
    "u3-own": ("u3", "u3"),
    "u3-from-u1": ("u3", "u1"),
    "s1-own": ("s1", "s1"),
    "s1-from-admin": ("s1", "a1"),
}
VISIBLE = {
    "admin": (ADMIN, set(SEEDED)),
    "manager": (MANAGER, {"u1-own", "u1-from-manager", "u2-own"}),
    "sales_rep": (REP, {"u1-own", "u1-from-manager", "u3-from-u1"}),
    "other_rep": (OTHER_REP, {"u3-own", "u3-from-u1"}),
    "support_agent": (AGENT, {"s1-own", "s1-from-admin"}),
    "viewer": (VIEWER, {"u1-own", "u1-from-manager", "u2-own"}),
}


@pytest.fixture
def seeded(store) -> DocumentStore:
    for task_id, (assignee, creator) in SEEDED.items():
        task = task_rules.new_task({"title": task_id, "assignee_id": assignee}, creator, T0)
        store[TASKS].insert({**task, "id": task_id})
    return store


@pytest.mark.parametrize("role", VISIBLE)
def test_each_role_lists_and_reads_exactly_the_tasks_in_its_reach(seeded, role) -> None:
    caller, expected = VISIBLE[role]
    sales = service(seeded, caller)
    assert {t["id"] for t in sales.list_tasks({"limit": 200})["data"]} == expected
    for task_id in SEEDED:
        if task_id in expected:
            assert sales.get_task(task_id)["id"] == task_id
        else:
            with pytest.raises(NotFound) as caught:
                sales.get_task(task_id)
            assert str(caught.value.detail) == f"task {task_id} not found"
            with pytest.raises(Forbidden if caller is VIEWER else NotFound):  # viewers only read
                sales.update_task(task_id, {"title": "X"})


def test_lists_filter_on_task_fields(seeded) -> None:
    sales = service(seeded, ADMIN)
    sales.update_task("u2-own", {"done": True})
    assert {t["id"] for t in sales.list_tasks({"where": {"assignee_id": "u1"}})["data"]} == {
        "u1-own",
        "u1-from-manager",
    }
    assert [t["id"] for t in sales.list_tasks({"where": {"done": "true"}})["data"]] == ["u2-own"]


def test_who_may_assign_a_task_to_whom(store) -> None:
    new = {"title": "Follow up"}
    with pytest.raises(Forbidden):
        service(store, VIEWER).create_task(new)
    with pytest.raises(Forbidden):
        service(store, REP).create_task({**new, "assignee_id": "u2"})
    with pytest.raises(Forbidden):
        service(store, AGENT).create_task({**new, "assignee_id": "u1"})
    assert service(store, AGENT).create_task(new)["assignee_id"] == "s1"
    given = service(store, MANAGER).create_task({**new, "assignee_id": "u2"})
    assert (given["assignee_id"], given["created_by"]) == ("u2", "m1")
    with pytest.raises(Forbidden):
        service(store, MANAGER).create_task({**new, "assignee_id": "u3"})
    assert service(store, ADMIN).create_task({**new, "assignee_id": "u3"})["assignee_id"] == "u3"
    mine = service(store, REP).create_task(new)
    with pytest.raises(Forbidden):
        service(store, REP).update_task(mine["id"], {"assignee_id": "u2"})
    assert service(store, MANAGER).update_task(mine["id"], {"assignee_id": "u2"})["assignee_id"] == "u2"
    with pytest.raises(Forbidden):
        service(store, VIEWER).update_task(given["id"], {"done": True})


def test_who_may_delete_a_task(store) -> None:
    assigned = service(store, MANAGER).create_task({"title": "From the manager", "assignee_id": "u1"})
    with pytest.raises(Forbidden):
        service(store, REP).delete_task(assigned["id"])  # the assignee did not create it
    with pytest.raises(PreconditionFailed):
        service(store, MANAGER).delete_task(assigned["id"], assigned["version"] + 1)
    service(store, MANAGER).delete_task(assigned["id"], assigned["version"])
    with pytest.raises(NotFound):
        service(store, MANAGER).get_task(assigned["id"])
    own = service(store, REP).create_task({"title": "Mine"})
    with pytest.raises(NotFound):
        service(store, OTHER_REP).delete_task(own["id"])
    service(store, REP).delete_task(own["id"])
    assert store[TASKS].count() == 0


# linked records


def test_linked_records_must_be_visible_to_the_caller(store) -> None:
    sales = service(store, REP, visible={"c1", "k1"})
    for field, value in (("contact_id", "c-hidden"), ("company_id", "k-hidden"), ("deal_id", "deal-u3")):
        with pytest.raises(ValidationFailed) as caught:
            sales.create_task({"title": "T", field: value})
        assert list(problems(caught)) == [field]
    with pytest.raises(ValidationFailed):
        sales.create_task({"title": "T", "deal_id": "no-such-deal"})
    task = sales.create_task({"title": "T", "contact_id": "c1"})
    assert task["company_id"] == "k1"  # the contact's company
    with pytest.raises(ValidationFailed):
        sales.update_task(task["id"], {"contact_id": "c-hidden"})


def test_a_task_for_a_deal_is_also_the_deals_customers(store) -> None:
    task = service(store, REP).create_task({"title": "Prepare the offer", "deal_id": "deal-u1"})
    assert (task["deal_id"], task["contact_id"], task["company_id"]) == ("deal-u1", "c-deal", "k-deal")


# the reminder and overdue timers


def run_timers(store: DocumentStore, moment: str) -> dict:
    return service(store, SYSTEM)._run_task_timers(moment)


def test_a_reminder_goes_out_once_when_its_time_comes(store) -> None:
    task = service(store, REP).create_task(
        {"title": "Call", "due_at": "2030-01-01T12:00:00Z", "remind_at": "2030-01-01T11:00:00Z"}
    )
    assert run_timers(store, "2030-01-01T10:59:59.000000Z")["reminded"] == 0
    assert run_timers(store, "2030-01-01T11:00:00.000000Z")["reminded"] == 1
    assert run_timers(store, "2030-01-01T11:30:00.000000Z")["reminded"] == 0
    [event] = published(store, "task_reminder_due")
    assert (event["payload"]["id"], event["actor"]) == (task["id"], "system")
    stored = service(store, REP).get_task(task["id"])
    assert (stored["reminded_for"], stored["reminder_due_at"]) == (stored["remind_at"], None)
    # A new reminder time is a new reminder.
    service(store, REP).update_task(task["id"], {"remind_at": "2030-01-01T11:45:00Z"})
    assert run_timers(store, "2030-01-01T11:50:00.000000Z")["reminded"] == 1
    assert len(published(store, "task_reminder_due")) == 2


def test_an_overdue_task_is_escalated_once_per_due_time(store) -> None:
    sales = service(store, REP)
    task = sales.create_task({"title": "Send contract", "due_at": "2030-01-01T12:00:00Z"})
    done = sales.create_task({"title": "Done already", "due_at": "2030-01-01T12:00:00Z", "done": True})
    assert run_timers(store, "2030-01-01T11:59:00.000000Z")["overdue"] == 0
    assert run_timers(store, "2030-01-01T12:00:01.000000Z")["overdue"] == 1
    assert run_timers(store, "2030-01-02T12:00:00.000000Z")["overdue"] == 0
    [event] = published(store, "task_overdue")
    assert event["payload"]["id"] == task["id"] != done["id"]
    # Reopening does not repeat it; a new due time that passes does.
    sales.update_task(task["id"], {"done": True})
    sales.update_task(task["id"], {"done": False})
    assert run_timers(store, "2030-01-02T13:00:00.000000Z")["overdue"] == 0
    sales.update_task(task["id"], {"due_at": "2030-01-03T12:00:00Z"})
    assert run_timers(store, "2030-01-03T12:00:00.000000Z")["overdue"] == 1


def test_a_reminder_whose_due_time_passed_too_is_dropped_for_the_overdue_notice(store) -> None:
    service(store, REP).create_task(
        {"title": "Late", "due_at": "2030-01-01T12:00:00Z", "remind_at": "2030-01-01T11:00:00Z"}
    )
    counts = run_timers(store, "2030-01-01T13:00:00.000000Z")
    assert (counts["reminded"], counts["reminders_dropped"], counts["overdue"]) == (0, 1, 1)
    assert published(store, "task_reminder_due") == []
    assert run_timers(store, "2030-01-01T14:00:00.000000Z") == dict.fromkeys(counts, 0)


def test_two_instances_running_the_timers_at_once_alert_exactly_once(tmp_path, store) -> None:
    sales = service(store, REP)
    for n in range(30):
        sales.create_task({"title": f"T{n}", "due_at": "2030-01-01T12:00:00Z", "remind_at": "2030-01-01T11:00:00Z"})
        sales.create_task({"title": f"O{n}", "due_at": "2030-01-01T10:00:00Z"})
    second = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)  # another instance, its own connection
    barrier = threading.Barrier(2)
    results: list[dict] = []

    def run(instance_store: DocumentStore) -> None:
        barrier.wait()
        results.append(run_timers(instance_store, "2030-01-01T11:30:00.000000Z"))

    threads = [threading.Thread(target=run, args=(s,)) for s in (store, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second.close()
    assert sum(r["reminded"] for r in results) == 30
    assert sum(r["overdue"] for r in results) == 30
    assert len(published(store, "task_reminder_due")) == 30
    assert len(published(store, "task_overdue")) == 30
    assert len({e["payload"]["id"] for e in published(store, "task_overdue")}) == 30


# return visits


def stats(grade: str | None, owner: str | None = "u1", subject_id: str = "c1", **extra) -> dict:
    return {
        "id": f"contact:{subject_id}",
        "subject_type": "contact",
        "subject_id": subject_id,
        "owner_id": owner,
        "display_name": "Wang Fang",
        "value_grade": grade,
        **extra,
    }


def plan_visit(store: DocumentStore, figures: dict) -> dict | None:
    with store.transaction() as tx:
        service(store, SYSTEM)._plan_return_visit(tx, figures)
    return store[RETURN_VISITS].get(figures["id"])


@pytest.mark.parametrize(
    ("grade", "due_at"),
    [
        ("A", "2030-01-31T09:00:00.000000Z"),
        ("B", "2030-03-02T09:00:00.000000Z"),
        ("C", "2030-04-01T09:00:00.000000Z"),
        ("D", None),
        (None, None),
    ],
)
def test_return_visits_are_planned_per_grade(store, grade, due_at) -> None:
    plan = plan_visit(store, stats(grade))
    assert (plan["due_at"] if plan else None) == due_at
    if plan:
        assert (plan["owner_id"], plan["grade"], plan["subject_id"]) == ("u1", grade, "c1")


def test_a_plan_follows_the_owner_and_the_grade_and_ends_in_the_pool(store, clock) -> None:
    first = plan_visit(store, stats("A"))
    clock["now"] = "2030-01-10T09:00:00.000000Z"
    moved = plan_visit(store, stats("A", owner="u2"))
    assert (moved["owner_id"], moved["due_at"]) == ("u2", first["due_at"])  # the same visit, for the new owner
    regraded = plan_visit(store, stats("B", owner="u2"))
    assert regraded["due_at"] == "2030-03-11T09:00:00.000000Z"  # no visit yet: counted from the change
    assert plan_visit(store, stats("B", owner=None)) is None
    plan_visit(store, stats("B", owner="u2"))
    assert plan_visit(store, stats("B", owner="u2", deleted=True)) is None


def test_a_due_visit_becomes_a_task_for_the_owner_and_the_next_is_planned(store) -> None:
    plan_visit(store, stats("A"))  # due 2030-01-31
    assert run_timers(store, "2030-01-27T09:00:00.000000Z")["return_visits"] == 0
    assert run_timers(store, "2030-01-28T09:00:00.000000Z")["return_visits"] == 1
    assert run_timers(store, "2030-01-28T10:00:00.000000Z")["return_visits"] == 0
    [event] = published(store, "task_created")
    task = event["payload"]
    assert (task["kind"], task["assignee_id"], task["created_by"], task["contact_id"]) == (
        "return_visit",
        "u1",
        "system",
        "c1",
    )
    assert (task["title"], task["due_at"]) == ("Return visit: Wang Fang", "2030-01-31T09:00:00.000000Z")
    following = store[RETURN_VISITS].get("contact:c1")
    assert (following["due_at"], following["last_visit_at"]) == (
        "2030-03-02T09:00:00.000000Z",
        "2030-01-31T09:00:00.000000Z",
    )
    assert service(store, REP).get_task(task["id"])["id"] == task["id"]


def test_two_instances_make_one_task_per_visit(tmp_path, store) -> None:
    for n in range(20):
        plan_visit(store, stats("A", subject_id=f"c{n}"))
    second = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    barrier = threading.Barrier(2)

    def run(instance_store: DocumentStore) -> None:
        barrier.wait()
        run_timers(instance_store, "2030-01-30T09:00:00.000000Z")

    threads = [threading.Thread(target=run, args=(s,)) for s in (store, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    second.close()
    assert store[TASKS].count({"kind": "return_visit"}) == 20
    assert len(published(store, "task_created")) == 20


def test_no_visit_for_a_deleted_customer(store) -> None:
    plan_visit(store, stats("A"))
    store[CUSTOMERS].put({"id": "contact:c1", "subject_type": "contact", "subject_id": "c1", "deleted": True})
    counts = run_timers(store, "2030-02-01T09:00:00.000000Z")
    assert (counts["return_visits"], counts["plans_dropped"]) == (0, 1)
    assert store[RETURN_VISITS].get("contact:c1") is None and store[TASKS].count() == 0


def test_a_visit_missed_while_the_timers_were_stopped_gives_the_owner_the_lead_time(store) -> None:
    plan_visit(store, stats("A"))  # due 2030-01-31
    run_timers(store, "2030-05-01T09:00:00.000000Z")
    [task] = [e["payload"] for e in published(store, "task_created")]
    assert task["due_at"] == "2030-05-04T09:00:00.000000Z"
    # the next visit is an interval after this late one
    assert store[RETURN_VISITS].get("contact:c1")["due_at"] == "2030-06-03T09:00:00.000000Z"


@pytest.mark.parametrize("interval", [1, 2])
def test_short_return_visit_intervals_make_one_task_at_a_time(store, interval) -> None:
    plan = plan_visit(store, stats("A"))  # due 2030-01-31
    store[RETURN_VISITS].replace({**plan, "interval_days": interval}, plan["version"])
    assert run_timers(store, "2030-01-27T09:00:00.000000Z")["return_visits"] == 0
    # one task per run, never several for one customer; the next one once the previous visit is due
    moments = [f"2030-01-{day:02d}T09:00:00.000000Z" for day in range(28, 32)] + ["2030-02-01T09:00:00.000000Z"]
    made = [run_timers(store, moment)["return_visits"] for moment in moments for _ in range(2)]
    assert max(made) == 1
    dues = [e["payload"]["due_at"] for e in published(store, "task_created")]
    assert dues == sorted(set(dues))
    # timers stopped for a month: one late task, then the next after it is due
    assert run_timers(store, "2030-03-01T09:00:00.000000Z")["return_visits"] == 1
    assert run_timers(store, "2030-03-01T09:01:00.000000Z")["return_visits"] == 0
