"""CSAT on a real SQLite store, no broker: the survey a resolved ticket asks for (once), the answer
recorded once on a resolved or closed ticket, who may record it, and what is announced."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from service_desk import satisfaction
from service_desk.service import ServiceDeskService
from service_desk.store import SPECS, TICKETS

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
ADMIN = Caller("a1", ("admin",))
SYSTEM = Caller("system", ("system",))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1", "s2"))
VIP_AGENT = Caller("s3", ("support_agent",), ("t-vip",), teammate_ids=("s3",))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("u1",))
OWNER_MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("u1",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("u1", "v1"))


def ticket(ticket_id: str, status: str = "resolved", **fields) -> dict:
    return {
        "id": ticket_id,
        "subject": f"Printer {ticket_id}",
        "contact_id": "c1",
        "company_id": None,
        "kind": "incident",
        "priority": "normal",
        "channel": "email",
        "team_id": "t-help",
        "assignee_id": "s2",
        "contact_owner_id": "u1",
        "status": status,
        "satisfaction": None,
        "created_at": "2026-11-20T08:00:00.000000Z",
        "updated_at": "2026-11-22T08:00:00.000000Z",
        **fields,
    }


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> None:
    monkeypatch.setattr(ServiceDeskService, "_now", lambda self: NOW)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    for seeded in (
        ticket("resolved"),
        ticket("closed", "closed"),
        ticket("open", "open"),
        ticket("pending", "pending"),
        ticket("requested", satisfaction={"status": "requested", "requested_at": "2026-11-22T08:00:00.000000Z"}),
    ):
        opened[TICKETS].insert(seeded)
    yield opened
    opened.close()


def desk(store: DocumentStore, caller: Caller) -> ServiceDeskService:
    return worker_factory(ServiceDeskService, store=store, caller=caller)


def outbox(store: DocumentStore) -> list[dict]:
    return [row["event"] for row in store[OUTBOX].iterate(None, [("id", 1)])]


# the answer


def test_an_agent_records_the_answer_of_a_requested_survey(store: DocumentStore) -> None:
    answer = desk(store, AGENT).record_satisfaction("requested", {"score": 4, "comment": "Quick, thanks"})
    assert answer == {
        "ticket_id": "requested",
        "status": "answered",
        "requested_at": "2026-11-22T08:00:00.000000Z",
        "score": 4,
        "comment": "Quick, thanks",
        "answered_at": "2026-11-23T09:30:00.000000Z",
        "recorded_by": "s1",
    }
    stored = store[TICKETS].get("requested")
    assert stored["satisfaction"]["score"] == 4 and stored["version"] == 2
    assert desk(store, VIEWER).get_satisfaction("requested") == answer
    [event] = outbox(store)
    assert event["event_type"] == "ticket_satisfaction_rated"
    payload = event["payload"]
    assert (payload["id"], payload["score"], payload["comment"], payload["low"]) == (
        "requested",
        4,
        "Quick, thanks",
        False,
    )
    assert payload["subject"] == "Printer requested" and payload["contact_owner_id"] == "u1"


@pytest.mark.parametrize("score,low", [(1, True), (2, True), (3, False), (5, False)])
def test_a_score_at_or_below_the_low_mark_is_low(store: DocumentStore, score: int, low: bool) -> None:
    assert satisfaction.LOW_CSAT_SCORE == 2
    desk(store, SYSTEM).record_satisfaction("resolved", {"score": score})
    [event] = outbox(store)
    assert (event["payload"]["low"], event["payload"]["comment"]) == (low, None)


def test_a_closed_ticket_never_asked_may_still_be_rated(store: DocumentStore) -> None:
    answer = desk(store, ADMIN).record_satisfaction("closed", {"score": 5})
    assert (answer["status"], answer["requested_at"], answer["recorded_by"]) == ("answered", None, "a1")


def test_a_second_answer_is_a_conflict_and_changes_nothing(store: DocumentStore) -> None:
    desk(store, AGENT).record_satisfaction("resolved", {"score": 2, "comment": "slow"})
    with pytest.raises(Conflict) as refused:
        desk(store, ADMIN).record_satisfaction("resolved", {"score": 5})
    assert refused.value.matches[0]["score"] == 2
    assert store[TICKETS].get("resolved")["satisfaction"]["score"] == 2
    assert len(outbox(store)) == 1


@pytest.mark.parametrize("ticket_id", ["open", "pending"])
def test_a_ticket_not_resolved_is_a_conflict(store: DocumentStore, ticket_id: str) -> None:
    with pytest.raises(Conflict):
        desk(store, AGENT).record_satisfaction(ticket_id, {"score": 5})
    assert store[TICKETS].get(ticket_id)["version"] == 1 and outbox(store) == []


@pytest.mark.parametrize(
    "data,field",
    [
        ({}, "score"),
        ({"score": None}, "score"),
        ({"score": 0}, "score"),
        ({"score": 6}, "score"),
        ({"score": 4.5}, "score"),
        ({"score": "5"}, "score"),
        ({"score": True}, "score"),
        ({"score": 3, "comment": "x" * 2001}, "comment"),
        ({"score": 3, "comment": 7}, "comment"),
        ({"score": 3, "stars": 3}, "stars"),
    ],
)
def test_invalid_answers_are_refused_with_the_field(store: DocumentStore, data: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        desk(store, AGENT).record_satisfaction("resolved", data)
    assert field in [e["field"] for e in refused.value.errors]
    assert outbox(store) == []


def test_a_body_that_is_not_an_object_is_refused(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed):
        desk(store, AGENT).record_satisfaction("resolved", ["score", 5])


def test_a_comment_of_2000_characters_is_kept(store: DocumentStore) -> None:
    answer = desk(store, AGENT).record_satisfaction("resolved", {"score": 3, "comment": "x" * 2000})
    assert len(answer["comment"]) == 2000


@pytest.mark.parametrize("caller", [REP, VIEWER], ids=["sales_rep", "viewer"])
def test_sales_reps_and_viewers_may_not_record_answers(store: DocumentStore, caller: Caller) -> None:
    with pytest.raises(Forbidden):
        desk(store, caller).record_satisfaction("resolved", {"score": 5})


def test_a_manager_who_sees_the_ticket_through_its_customer_records_an_answer(store: DocumentStore) -> None:
    assert desk(store, OWNER_MANAGER).record_satisfaction("resolved", {"score": 5})["recorded_by"] == "m1"


def test_a_ticket_out_of_reach_is_not_found_for_reads_and_answers(store: DocumentStore) -> None:
    with pytest.raises(NotFound):
        desk(store, VIP_AGENT).record_satisfaction("resolved", {"score": 5})
    with pytest.raises(NotFound):
        desk(store, VIP_AGENT).get_satisfaction("resolved")
    with pytest.raises(NotFound):
        desk(store, ADMIN).get_satisfaction("missing")


def test_a_ticket_never_asked_reads_as_an_empty_survey(store: DocumentStore) -> None:
    view = desk(store, REP).get_satisfaction("open")
    assert view == {
        "ticket_id": "open",
        "status": None,
        "requested_at": None,
        "score": None,
        "comment": None,
        "answered_at": None,
        "recorded_by": None,
    }


# the survey request (the ticket write path calls it when a ticket becomes resolved)


def request(store: DocumentStore, current: dict) -> dict:
    service = desk(store, AGENT)
    asked = service._request_satisfaction(current, NOW)
    if asked is not current:
        with store.transaction() as tx:
            service._announce_survey(tx, tx[TICKETS].replace(asked, current["version"]))
    return asked


def test_a_resolved_ticket_asks_for_the_survey_once(store: DocumentStore) -> None:
    asked = request(store, store[TICKETS].get("resolved"))
    assert asked["satisfaction"] == {"status": "requested", "requested_at": "2026-11-23T09:30:00.000000Z"}
    [event] = outbox(store)
    assert event["event_type"] == "ticket_satisfaction_requested"
    assert (event["payload"]["id"], event["payload"]["satisfaction"]["status"]) == ("resolved", "requested")
    # reopened, then resolved again: not asked twice
    again = request(store, {**asked, "status": "resolved"})
    assert again == {**asked, "status": "resolved"} and len(outbox(store)) == 1


def test_an_answered_ticket_is_not_asked_again(store: DocumentStore) -> None:
    desk(store, AGENT).record_satisfaction("resolved", {"score": 5})
    answered = store[TICKETS].get("resolved")
    assert request(store, answered) == answered
    assert [e["event_type"] for e in outbox(store)] == ["ticket_satisfaction_rated"]


@pytest.mark.parametrize("current", [ticket("x", "open"), ticket("y", "closed", merged_into="resolved")])
def test_a_ticket_not_resolved_or_merged_away_is_not_asked(store: DocumentStore, current: dict) -> None:
    assert request(store, current) == current and outbox(store) == []
