"""Comments on tickets: who writes what, what a reply or a customer's message does to the ticket,
the list, and comments in the personal-data export and erasure (SQLite store, no broker)."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from service_desk import domain
from service_desk.service import ServiceDeskService
from service_desk.store import SPECS, TICKET_COMMENTS, TICKETS

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ADMIN = Caller("a1", ("admin",))
SYSTEM = Caller("system", ("system",))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1", "s2"))
VIP_AGENT = Caller("s3", ("support_agent",), ("t-vip",), teammate_ids=("s3",))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("u1", "v1"))
SALES_MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("u1", "v1"))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("u1", "v1"))


class FakeContacts:
    def as_system(self) -> "FakeContacts":
        return self

    def get_contact(self, contact_id: str) -> dict:
        return {"id": contact_id, "owner_id": "u1", "value_grade": None, "company_id": None, "version": 3}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    yield opened
    opened.close()


def desk(store: DocumentStore, caller: Caller = AGENT, now: datetime = NOW) -> ServiceDeskService:
    service = worker_factory(ServiceDeskService, store=store, caller=caller, contacts=FakeContacts())
    service._now = lambda: now
    return service


def emitted(store: DocumentStore) -> list[dict]:
    return [r["event"] for r in store[OUTBOX].iterate(None, [("id", 1)])]


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def ticket(store: DocumentStore) -> dict:
    """A new ticket of team t-help, for a customer owned by rep u1."""
    return desk(store).create_ticket({"subject": "Printer on fire", "contact_id": "c1"})


def at_status(store: DocumentStore, ticket: dict, *path: str) -> dict:
    for status in path:
        ticket = desk(store).update_ticket(ticket["id"], {"status": status})
    return ticket


# staff replies and notes


def test_the_first_public_reply_is_the_first_response_and_opens_a_new_ticket(store, ticket) -> None:
    later = NOW + timedelta(minutes=42)
    comment = desk(store, now=later).add_ticket_comment(ticket["id"], {"body": "On our way", "public": True})
    assert {k: comment[k] for k in ("ticket_id", "body", "public", "author_id", "author_type", "attachments")} == {
        "ticket_id": ticket["id"],
        "body": "On our way",
        "public": True,
        "author_id": "s1",
        "author_type": "staff",
        "attachments": [],
    }
    assert (comment["created_at"], comment["merged_from"], comment["version"]) == (stamp(later), None, 1)
    answered = desk(store).get_ticket(ticket["id"])
    assert (answered["status"], answered["first_responded_at"]) == ("open", stamp(later))
    assert answered["sla"]["first_response"]["stopped_at"] == stamp(later)
    updated, commented = [(e["event_type"], e["payload"]) for e in emitted(store)][1:]
    assert updated[0] == "ticket_updated" and updated[1]["changes"] == ["first_responded_at", "status"]
    assert commented[0] == "ticket_commented"
    assert commented[1] == {"comment": comment, "ticket": {k: v for k, v in updated[1].items() if k != "changes"}}

    again = desk(store, now=later + timedelta(hours=1)).add_ticket_comment(
        ticket["id"], {"body": "Done?", "public": True}
    )
    assert desk(store).get_ticket(ticket["id"])["first_responded_at"] == stamp(later)
    assert [e["event_type"] for e in emitted(store)][3:] == ["ticket_commented"]
    assert emitted(store)[-1]["payload"]["comment"] == again


def test_an_internal_note_changes_nothing_on_the_ticket(store, ticket) -> None:
    note = desk(store).add_ticket_comment(ticket["id"], {"body": "Customer is on the VIP list"})
    assert note["public"] is False
    assert desk(store).get_ticket(ticket["id"]) == ticket
    assert [e["event_type"] for e in emitted(store)] == ["ticket_created", "ticket_commented"]


def test_a_sales_rep_leaves_an_internal_note_on_their_customers_ticket_but_may_not_reply(store, ticket) -> None:
    assert desk(store, REP).add_ticket_comment(ticket["id"], {"body": "They renew in May"})["author_id"] == "u1"
    assert desk(store, SALES_MANAGER).add_ticket_comment(ticket["id"], {"body": "Handle with care"})["public"] is False
    with pytest.raises(Forbidden):
        desk(store, REP).add_ticket_comment(ticket["id"], {"body": "Hello!", "public": True})
    with pytest.raises(Forbidden):
        desk(store, REP).add_ticket_comment(ticket["id"], {"body": "Hello!", "author_type": "customer"})
    assert desk(store).get_ticket(ticket["id"])["status"] == "new"


def test_a_viewer_may_not_comment_and_another_teams_agent_does_not_find_the_ticket(store, ticket) -> None:
    for body in ({"body": "note"}, {"body": "reply", "public": True}):
        with pytest.raises(Forbidden):
            desk(store, VIEWER).add_ticket_comment(ticket["id"], body)
        with pytest.raises(NotFound):
            desk(store, VIP_AGENT).add_ticket_comment(ticket["id"], body)
    with pytest.raises(NotFound):
        desk(store, VIP_AGENT).list_ticket_comments(ticket["id"], {})
    assert store[TICKET_COMMENTS].count() == 0
    assert [e["event_type"] for e in emitted(store)] == ["ticket_created"]


def test_a_viewer_who_sees_the_ticket_reads_its_comments(store, ticket) -> None:
    desk(store).add_ticket_comment(ticket["id"], {"body": "note"})
    assert [c["body"] for c in desk(store, VIEWER).list_ticket_comments(ticket["id"], {})["data"]] == ["note"]


# the customer's messages


def customer_says(store: DocumentStore, ticket: dict, body: str = "Any news?") -> dict:
    return desk(store, SYSTEM).add_ticket_comment(ticket["id"], {"body": body, "author_type": "customer"})


def test_a_customers_message_takes_a_ticket_pending_on_them_back_to_open(store, ticket) -> None:
    pending = at_status(store, ticket, "pending")
    assert pending["sla"]["resolution"]["running_since"] is None  # paused while pending on the customer
    message = customer_says(store, pending)
    assert (message["public"], message["author_type"]) == (True, "customer")
    reopened = desk(store).get_ticket(ticket["id"])
    assert reopened["status"] == "open"
    assert reopened["sla"]["resolution"]["running_since"] == stamp(NOW)
    assert reopened["first_responded_at"] is None  # the customer's message answers nobody


def test_a_customers_message_on_a_resolved_ticket_reopens_it(store, ticket) -> None:
    resolved = at_status(store, ticket, "open", "resolved")
    customer_says(store, resolved, "Still broken")
    reopened = desk(store).get_ticket(ticket["id"])
    assert (reopened["status"], reopened["reopened_count"], reopened["resolved_at"]) == ("reopened", 1, None)
    changes = [e["payload"]["changes"] for e in emitted(store) if e["event_type"] == "ticket_updated"][-1]
    assert changes == ["status", "reopened_count", "resolved_at"]


def test_a_customers_message_leaves_other_statuses_alone(store, ticket) -> None:
    on_hold = at_status(store, ticket, "on_hold")
    customer_says(store, on_hold)
    assert desk(store).get_ticket(ticket["id"])["status"] == "on_hold"


def test_a_customers_message_is_never_internal(store, ticket) -> None:
    with pytest.raises(ValidationFailed):
        desk(store).add_ticket_comment(ticket["id"], {"body": "x", "author_type": "customer", "public": False})


def test_a_closed_ticket_takes_internal_notes_only(store, ticket) -> None:
    closed = at_status(store, ticket, "closed")
    with pytest.raises(Conflict):
        desk(store).add_ticket_comment(closed["id"], {"body": "Reply", "public": True})
    with pytest.raises(Conflict):
        customer_says(store, closed)
    desk(store).add_ticket_comment(closed["id"], {"body": "For the record"})
    assert desk(store).get_ticket(closed["id"])["status"] == "closed"
    assert [c["body"] for c in desk(store).list_ticket_comments(closed["id"], {})["data"]] == ["For the record"]


# input


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"body": ""},
        {"body": "   "},
        {"body": "x" * 20001},
        {"body": "x", "public": "yes"},
        {"body": "x", "author_type": "robot"},
        {"body": "x", "author_id": "someone"},
        {"body": "x", "ticket_id": "other"},
        {"body": "x", "attachments": [{"name": "a", "content_type": "t", "size_bytes": -5, "url": "https://f/a"}]},
        ["body"],
    ],
)
def test_an_invalid_comment_is_refused_and_nothing_is_written(store, ticket, data) -> None:
    with pytest.raises(ValidationFailed):
        desk(store).add_ticket_comment(ticket["id"], data)
    assert store[TICKET_COMMENTS].count() == 0
    assert desk(store).get_ticket(ticket["id"]) == ticket
    assert [e["event_type"] for e in emitted(store)] == ["ticket_created"]


def test_comments_keep_their_attachments_metadata(store, ticket) -> None:
    files = [{"name": "trace.log", "content_type": "text/plain", "size_bytes": 0, "url": "https://files.example/t"}]
    comment = desk(store).add_ticket_comment(ticket["id"], {"body": "See the log", "attachments": files})
    assert comment["attachments"] == files


# the list


def test_comments_are_listed_oldest_first_page_by_page(store, ticket) -> None:
    for minute in range(5):
        body = {"body": f"#{minute}", "public": minute % 2 == 0}
        desk(store, now=NOW + timedelta(minutes=minute)).add_ticket_comment(ticket["id"], body)
    first = desk(store).list_ticket_comments(ticket["id"], {"limit": 3})
    rest = desk(store).list_ticket_comments(ticket["id"], {"limit": 3, "cursor": first["next_cursor"]})
    assert [c["body"] for c in first["data"] + rest["data"]] == ["#0", "#1", "#2", "#3", "#4"]
    assert rest["next_cursor"] is None
    public = desk(store).list_ticket_comments(ticket["id"], {"where": {"public": "true"}})
    assert [c["body"] for c in public["data"]] == ["#0", "#2", "#4"]
    latest = desk(store).list_ticket_comments(ticket["id"], {"sort": "-created_at", "limit": 1})["data"]
    assert [c["body"] for c in latest] == ["#4"]
    with pytest.raises(BadRequest):
        desk(store).list_ticket_comments(ticket["id"], {"where": {"ticket_id": "other"}})
    with pytest.raises(NotFound):
        desk(store).list_ticket_comments("missing", {})


# personal data


def erased(contact_id: str = "c1") -> dict:
    return new_event("contact_erased", "contacts", {"id": contact_id, "version": 4, "erasure_id": "e1"}).as_dict()


def test_erasure_blanks_every_comment_on_the_persons_tickets_and_the_export_holds_them(store, ticket) -> None:
    other = desk(store).create_ticket({"subject": "Someone else", "contact_id": "c2"})
    files = [{"name": "id-card.jpg", "content_type": "image/jpeg", "size_bytes": 9, "url": "https://files.example/id"}]
    customer_says(store, ticket, "I am 张伟明, call me on +86 138 0000 4321")
    desk(store).add_ticket_comment(ticket["id"], {"body": "Dear 张伟明, done", "public": True, "attachments": files})
    desk(store).add_ticket_comment(ticket["id"], {"body": "张伟明 was rude"})
    desk(store).add_ticket_comment(other["id"], {"body": "Unrelated"})

    export = desk(store, ADMIN).export_personal_data("c1")
    assert [c["body"] for c in export["comments"]] == [
        "I am 张伟明, call me on +86 138 0000 4321",
        "Dear 张伟明, done",
        "张伟明 was rude",
    ]

    desk(store, SYSTEM).on_contact_erased(erased())
    comments = desk(store, ADMIN).list_ticket_comments(ticket["id"], {})["data"]
    assert {(c["body"], len(c["attachments"])) for c in comments} == {(domain.ERASED_TEXT, 0)}
    assert [c["author_type"] for c in comments] == ["customer", "staff", "staff"]  # the skeleton stays
    assert desk(store, ADMIN).list_ticket_comments(other["id"], {})["data"][0]["body"] == "Unrelated"
    (report,) = [e["payload"] for e in emitted(store) if e["event_type"] == "personal_data_erased"]
    assert report["detail"] == {"tickets_scrubbed": 1, "comments_scrubbed": 3}

    desk(store, SYSTEM).on_contact_erased(erased())  # replayed: nothing more to scrub
    reports = [e["payload"]["detail"] for e in emitted(store) if e["event_type"] == "personal_data_erased"]
    assert reports[-1] == {"tickets_scrubbed": 0, "comments_scrubbed": 0}
    assert store[TICKETS].get(ticket["id"])["subject"] == domain.ERASED_TEXT
