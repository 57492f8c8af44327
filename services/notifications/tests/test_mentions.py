"""Mentions (SQLite, no broker): the markup the web UI writes, its plain-text form, and who is told
of a mention in an interaction (once per person, never its author, nobody about an erased
customer) or in a staff comment on a ticket; the reply emailed to a customer shows plain names."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.store import DocumentStore, open_store
from notifications.mentions import mentioned_user_ids, plain
from notifications.service import NotificationsService
from notifications.store import DELIVERIES, NOTIFICATIONS, SPECS

SYSTEM = Caller("system", ("system",))
LI, TOM, SAM = "@[Li Rep](user:u-li)", "@[Tom Rep](user:u-tom)", "@[Sam Support](user:u-sam)"
CONTACT = {
    "id": "c1",
    "version": 1,
    "display_name": "Wang Fang",
    "owner_id": "u1",
    "email": "wang.fang@example.cn",
    "preferred_language": "en",
}
TICKET = {"id": "tk1", "version": 1, "subject": "Printer jams", "priority": "high", "contact_id": "c1"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def deliver(store: DocumentStore, handler: str, source: str, event_type: str, payload: dict, actor: str) -> dict:
    body = new_event(event_type, source, payload, actor=actor).as_dict()
    getattr(worker_factory(NotificationsService, store=store, caller=SYSTEM), handler)(body)
    return body


def interaction(**fields) -> dict:
    return {
        "id": "i1",
        "version": 1,
        "kind": "call",
        "subject": "Renewal call",
        "summary": f"Asked about the renewal. {LI} please send the quote.",
        "contact_id": "c1",
        "company_id": None,
        "logged_by": "u1",
        **fields,
    }


def mentions_of(store: DocumentStore, user_id: str) -> list[dict]:
    return list(store[NOTIFICATIONS].iterate({"recipient_id": user_id, "title": "You were mentioned"}, [("id", 1)]))


# the markup


def test_mentions_are_parsed_in_order_once_each() -> None:
    text = f"{TOM} and {LI}, and again {TOM}; not @[broken](user:) nor @someone"
    assert mentioned_user_ids(text) == ["u-tom", "u-li"]
    assert mentioned_user_ids(None) == [] and mentioned_user_ids("no mentions") == []
    many = " ".join(f"@[User {n}](user:u{n})" for n in range(30))
    assert mentioned_user_ids(many) == [f"u{n}" for n in range(20)]


def test_plain_text_shows_each_mention_as_its_name() -> None:
    assert plain(f"{LI} and {TOM}: look") == "@Li Rep and @Tom Rep: look"
    assert plain("nothing to change (user:u1)") == "nothing to change (user:u1)"
    assert plain(None) == ""


# interactions


def test_an_interaction_tells_who_it_mentions_and_an_edit_only_the_newly_mentioned(store: DocumentStore) -> None:
    logged = deliver(store, "on_interaction_logged", "contacts", "interaction_logged", interaction(), actor="u1")
    deliver(store, "on_interaction_logged", "contacts", "interaction_logged", interaction(), actor="u1")  # again
    [told] = mentions_of(store, "u-li")
    assert told["id"] == "mention:interaction:i1:u-li"
    assert told["body"] == "Renewal call: Asked about the renewal. @Li Rep please send the quote."
    assert (told["ref"], told["contact_id"], told["created_at"]) == (
        {"type": "interaction", "id": "i1"},
        "c1",
        logged["occurred_at"],
    )

    edited = interaction(version=2, summary=f"{LI} and {TOM}: quote sent?", changes=["summary"])
    deliver(store, "on_interaction_updated", "contacts", "interaction_updated", edited, actor="m1")
    assert len(mentions_of(store, "u-li")) == 1  # told once: the edit does not tell them again
    [tom] = mentions_of(store, "u-tom")
    assert tom["body"] == "Renewal call: @Li Rep and @Tom Rep: quote sent?"


def test_the_author_is_never_told_of_their_own_mention(store: DocumentStore) -> None:
    own = interaction(summary=f"Note to self {LI}", subject=None)
    deliver(store, "on_interaction_logged", "contacts", "interaction_logged", own, actor="u-li")
    assert store[NOTIFICATIONS].count() == 0


def test_the_body_falls_back_to_the_kind_and_is_cut(store: DocumentStore) -> None:
    long = interaction(subject=None, summary=f"{TOM} " + "x" * 300)
    deliver(store, "on_interaction_logged", "contacts", "interaction_logged", long, actor="u1")
    [told] = mentions_of(store, "u-tom")
    assert told["body"] == "call: " + ("@Tom Rep " + "x" * 300)[:200]


def test_an_erased_customers_interaction_tells_nobody(store: DocumentStore) -> None:
    deliver(
        store,
        "on_contact_erased",
        "contacts",
        "contact_erased",
        {"id": "c1", "version": 3, "erasure_id": "e1"},
        "system",
    )
    deliver(store, "on_interaction_logged", "contacts", "interaction_logged", interaction(), actor="u1")
    assert store[NOTIFICATIONS].count() == 0


# ticket comments


@pytest.fixture
def known(store: DocumentStore) -> DocumentStore:
    deliver(store, "on_contact_created", "contacts", "contact_created", CONTACT, actor="u1")
    return store


def comment(**fields) -> dict:
    return {"id": "cm1", "body": "", "public": False, "author_type": "staff", "author_id": "s1", **fields}


def test_an_internal_note_tells_who_it_mentions(known: DocumentStore) -> None:
    note = comment(body=f"{SAM} can you check the toner? {LI} FYI")
    deliver(known, "on_ticket_commented", "service_desk", "ticket_commented", {"comment": note, "ticket": TICKET}, "s1")
    [sam] = mentions_of(known, "u-sam")
    assert sam["id"] == "mention:comment:cm1:u-sam"
    assert sam["body"] == "Printer jams: @Sam Support can you check the toner? @Li Rep FYI"
    assert (sam["ref"], sam["contact_id"]) == ({"type": "ticket", "id": "tk1"}, "c1")
    assert len(mentions_of(known, "u-li")) == 1
    assert known[DELIVERIES].count() == 0  # an internal note goes to nobody outside

    again = comment(id="cm2", body=f"{SAM} any news?")  # a new comment is a new call for attention
    deliver(
        known, "on_ticket_commented", "service_desk", "ticket_commented", {"comment": again, "ticket": TICKET}, "s1"
    )
    assert len(mentions_of(known, "u-sam")) == 2


def test_a_public_reply_emails_the_customer_plain_names(known: DocumentStore) -> None:
    reply = comment(body=f"Our engineer {SAM} will call you today.", public=True)
    deliver(
        known, "on_ticket_commented", "service_desk", "ticket_commented", {"comment": reply, "ticket": TICKET}, "s1"
    )
    [message] = known[DELIVERIES].iterate()
    assert (message["kind"], message["body"]) == ("ticket_reply", "Our engineer @Sam Support will call you today.")
    assert len(mentions_of(known, "u-sam")) == 1


def test_a_customers_reply_mentions_nobody(known: DocumentStore) -> None:
    said = comment(body=f"Hello {SAM}", public=True, author_type="customer", author_id="c1")
    deliver(known, "on_ticket_commented", "service_desk", "ticket_commented", {"comment": said, "ticket": TICKET}, "c1")
    assert mentions_of(known, "u-sam") == []


def test_a_mention_on_an_erased_customers_ticket_tells_nobody(known: DocumentStore) -> None:
    deliver(
        known,
        "on_contact_erased",
        "contacts",
        "contact_erased",
        {"id": "c1", "version": 3, "erasure_id": "e1"},
        "system",
    )
    note = comment(body=f"{SAM} see this")
    deliver(known, "on_ticket_commented", "service_desk", "ticket_commented", {"comment": note, "ticket": TICKET}, "s1")
    assert mentions_of(known, "u-sam") == []
