"""What sales tells people: tasks assigned to them, reminders, overdue tasks (assignee and creator),
won and rotting deals (the rule's extra users too) and churn-risk alerts; one inbox entry per event and
recipient."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import DocumentStore, open_store
from notifications import notice_rules
from notifications.service import NotificationsService
from notifications.store import ERASED_SUBJECTS, NOTIFICATION_RULES, NOTIFICATIONS, SPECS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def handle(store: DocumentStore, handler: str, event_type: str, payload: dict, actor: str = "system") -> dict:
    body = new_event(event_type, "sales", payload, actor=actor).as_dict()
    getattr(worker_factory(NotificationsService, store=store), handler)(body)
    return body


def inbox(store: DocumentStore, user_id: str) -> list[dict]:
    service = worker_factory(NotificationsService, store=store, caller=Caller(user_id, ("sales_rep",)))
    return service.list_notifications({})["data"]


def task(**fields) -> dict:
    return {
        "id": "t1",
        "title": "Call Wang Fang back",
        "assignee_id": "u1",
        "created_by": "m1",
        "contact_id": "c1",
        "due_at": "2030-01-02T09:30:00.000000Z",
        "done": False,
        **fields,
    }


def test_a_task_given_by_someone_else_is_told_to_the_assignee_once(store) -> None:
    body = handle(store, "on_task_created", "task_created", task(), actor="m1")
    worker_factory(NotificationsService, store=store).on_task_created(body)  # redelivered
    [notification] = inbox(store, "u1")
    assert notification["title"] == "New task assigned to you"
    assert notification["body"] == "Call Wang Fang back (due 2030-01-02 09:30 UTC)"
    assert (notification["ref"], notification["contact_id"]) == ({"type": "task", "id": "t1"}, "c1")
    assert inbox(store, "m1") == []


def test_a_task_one_gives_oneself_is_told_to_nobody(store) -> None:
    handle(store, "on_task_created", "task_created", task(created_by="u1"), actor="u1")
    assert store[NOTIFICATIONS].count() == 0


def test_the_rules_extra_users_hear_of_a_task_one_gives_oneself(store) -> None:
    rule = {**notice_rules.default_rule("task_assigned"), "user_ids": ["director"], "customized": True}
    store[NOTIFICATION_RULES].put(rule)
    handle(store, "on_task_created", "task_created", task(created_by="u1"), actor="u1")
    assert [n["body"] for n in inbox(store, "director")] == ["Call Wang Fang back (due 2030-01-02 09:30 UTC)"]
    assert inbox(store, "u1") == []
    handle(store, "on_task_created", "task_created", task(id="t2", assignee_id=None), actor="u1")  # nobody's
    assert len(inbox(store, "director")) == 1


def test_a_return_visit_planned_by_the_system_is_told_to_the_owner(store) -> None:
    visit = task(title="Return visit: Wang Fang", kind="return_visit", created_by="system")
    handle(store, "on_task_created", "task_created", visit)
    assert [n["title"] for n in inbox(store, "u1")] == ["New task assigned to you"]


def test_a_reassigned_task_is_told_to_the_new_assignee_other_changes_to_nobody(store) -> None:
    handle(store, "on_task_updated", "task_updated", task(changes=["priority"]), actor="m1")
    assert store[NOTIFICATIONS].count() == 0
    handle(store, "on_task_updated", "task_updated", task(assignee_id="u2", changes=["assignee_id"]), actor="m1")
    assert [n["title"] for n in inbox(store, "u2")] == ["Task assigned to you"]
    handle(store, "on_task_updated", "task_updated", task(assignee_id="m1", changes=["assignee_id"]), actor="m1")
    assert inbox(store, "m1") == []


def test_a_reminder_is_told_to_the_assignee(store) -> None:
    handle(store, "on_task_reminder_due", "task_reminder_due", task())
    [notification] = inbox(store, "u1")
    assert (notification["title"], notification["body"]) == (
        "Task reminder",
        "Call Wang Fang back is due 2030-01-02 09:30 UTC",
    )
    assert inbox(store, "m1") == []


def test_an_overdue_task_is_escalated_to_the_assignee_and_its_creator(store) -> None:
    handle(store, "on_task_overdue", "task_overdue", task())
    for user in ("u1", "m1"):
        [notification] = inbox(store, user)
        assert notification["title"] == "Task overdue"
        assert "was due 2030-01-02 09:30 UTC" in notification["body"] and "assigned to u1" in notification["body"]
    handle(store, "on_task_overdue", "task_overdue", task(id="t2", created_by="u1"))
    assert store[NOTIFICATIONS].count({"recipient_id": "u1"}) == 2  # once, when they gave it to themselves


def test_a_rotting_deal_is_told_to_its_owner(store) -> None:
    deal = {
        "id": "d1",
        "title": "Fleet renewal",
        "owner_id": "u1",
        "contact_id": "c1",
        "stage_id": "proposal",
        "stage_name": "Proposal",
        "rotting_days": 14,
    }
    handle(store, "on_deal_rotting", "deal_rotting", deal)
    [notification] = inbox(store, "u1")
    assert (notification["title"], notification["body"]) == (
        "Deal is rotting",
        "Fleet renewal has been in Proposal for more than 14 days",
    )
    assert notification["ref"] == {"type": "deal", "id": "d1"}


def won(**fields) -> dict:
    deal = {"id": "d1", "title": "Fleet renewal", "owner_id": "u1", "contact_id": "c1", "status": "won"}
    return {**deal, "amount": "120000.00", "currency": "CNY", "changes": ["status", "closed_at"], **fields}


def test_a_won_deal_is_told_to_its_owner_unless_they_won_it(store) -> None:
    body = handle(store, "on_deal_updated", "deal_updated", won(), actor="m1")
    worker_factory(NotificationsService, store=store).on_deal_updated(body)  # redelivered
    [notification] = inbox(store, "u1")
    assert (notification["id"], notification["title"], notification["body"]) == (
        f"{body['event_id']}:u1",
        "Deal won",
        "Fleet renewal (120000.00 CNY)",
    )
    assert (notification["ref"], notification["contact_id"]) == ({"type": "deal", "id": "d1"}, "c1")
    handle(store, "on_deal_updated", "deal_updated", won(id="d2"), actor="u1")
    handle(store, "on_deal_updated", "deal_updated", won(id="d3", changes=["title"]), actor="m1")  # won before
    handle(store, "on_deal_updated", "deal_updated", won(id="d4", status="lost"), actor="m1")
    assert store[NOTIFICATIONS].count() == 1


def test_the_rules_extra_users_hear_of_every_win_but_not_their_own(store) -> None:
    rule = {**notice_rules.default_rule("deal_won"), "user_ids": ["director", "u1"], "customized": True}
    store[NOTIFICATION_RULES].put(rule)
    handle(store, "on_deal_updated", "deal_updated", won(amount=None), actor="u1")
    [notification] = inbox(store, "director")
    assert (notification["title"], notification["body"]) == ("Deal won", "Fleet renewal")
    assert inbox(store, "u1") == []  # the owner won it: neither the audience nor the user_ids tell them
    handle(store, "on_deal_updated", "deal_updated", won(id="d2"), actor="director")
    assert len(inbox(store, "director")) == 1 and len(inbox(store, "u1")) == 1


def test_a_won_deal_of_an_erased_customer_tells_nobody(store) -> None:
    store[NOTIFICATION_RULES].put({**notice_rules.default_rule("deal_won"), "user_ids": ["director"]})
    store[ERASED_SUBJECTS].put({"id": "c1", "erasure_id": "e1", "erased_at": "2030-01-01T00:00:00Z"})
    handle(store, "on_deal_updated", "deal_updated", won(), actor="m1")
    assert store[NOTIFICATIONS].count() == 0


def churn(level: str | None, **fields) -> dict:
    return {
        "subject_type": "contact",
        "id": "c1",
        "churn_risk": level,
        "reason": "monthly orders down 70% against the previous 12 months" if level else None,
        "evidence": {"2030-01": {"count": 0, "amount": "0.00"}},
        "owner_id": "u1",
        "display_name": "Wang Fang",
        **fields,
    }


def test_churn_risk_is_told_to_the_owner_when_raised_changed_and_cleared(store) -> None:
    handle(store, "on_churn_risk_changed", "churn_risk_changed", churn("medium"))
    handle(store, "on_churn_risk_changed", "churn_risk_changed", churn("high"))
    handle(store, "on_churn_risk_changed", "churn_risk_changed", churn(None))
    titles = [n["title"] for n in reversed(inbox(store, "u1"))]
    assert titles == [
        "Customer at risk of churning (medium)",
        "Customer at risk of churning (high)",
        "Churn risk cleared",
    ]
    raised = inbox(store, "u1")[-1]
    assert raised["body"] == "Wang Fang: monthly orders down 70% against the previous 12 months"
    assert (raised["ref"], raised["contact_id"]) == ({"type": "contact", "id": "c1"}, "c1")


def test_churn_risk_of_a_company_or_in_the_pool(store) -> None:
    handle(store, "on_churn_risk_changed", "churn_risk_changed", churn("high", subject_type="company", id="k1"))
    [notification] = inbox(store, "u1")
    assert notification["ref"] == {"type": "company", "id": "k1"} and "contact_id" not in notification
    handle(store, "on_churn_risk_changed", "churn_risk_changed", churn("high", owner_id=None))
    assert store[NOTIFICATIONS].count() == 1


def test_nothing_is_told_about_an_erased_customer(store) -> None:
    store[ERASED_SUBJECTS].put({"id": "c1", "erasure_id": "e1", "erased_at": "2030-01-01T00:00:00Z"})
    handle(store, "on_task_created", "task_created", task(), actor="m1")
    handle(store, "on_task_overdue", "task_overdue", task())
    handle(store, "on_churn_risk_changed", "churn_risk_changed", churn("high"))
    assert store[NOTIFICATIONS].count() == 0
