"""The delivery log and its dispatcher (SQLite, no broker; a real SMTP server on 127.0.0.1): sent
with the provider's id, retried with backoff while the server is down, dead after the cap, replayed,
sent once by two instances at once, in creation order per order_key, held while the channel is not
configured, and never queued twice for one event."""

import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import BadRequest, Conflict, Forbidden, NotFound
from crm_common.store import OUTBOX, PROCESSED_EVENTS, DocumentStore, open_store
from notifications import delivery_rules as rules
from notifications.service import NotificationsService
from notifications.store import DELIVERIES, SPECS

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the helper beside this file
from notifications_loopback import free_port, smtp_server  # noqa: E402

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",))
SYSTEM = Caller("system", ("system",))
T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
SENDER = "CRM <crm@example.test>"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def no_channel_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMTP_URL", "SMTP_FROM", "SMS_PROVIDER_URL", "SMS_PROVIDER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("DELIVERY_MAX_ATTEMPTS", "DELIVERY_RETRY_BASE_SECONDS", "DELIVERY_RETRY_MAX_SECONDS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch):
    with smtp_server() as (url, mailbox):
        monkeypatch.setenv("SMTP_URL", url)
        monkeypatch.setenv("SMTP_FROM", SENDER)
        yield mailbox


def service(store: DocumentStore, caller: Caller = SYSTEM, clock: datetime = T0) -> NotificationsService:
    worker = worker_factory(NotificationsService, store=store, caller=caller)
    worker._now = lambda: clock
    return worker


def email(n: int = 1, at: datetime = T0, **fields) -> dict:
    values = {
        "channel": "email",
        "to": f"customer{n}@example.cn",
        "dedupe_key": f"e{n}:greeting:email",
        "kind": "greeting",
        "created_at": rules.stamp(at),
        "subject": f"Hello {n}",
        "body": f"Dear customer {n}, 新年快乐",
        "language": "en",
        "contact_id": f"c{n}",
        "event_id": f"e{n}",
        **fields,
    }
    return rules.new_delivery(**values)


def queue(store: DocumentStore, *deliveries: dict) -> list[dict]:
    worker = service(store)
    stored = []
    with store.transaction() as tx:
        for delivery in deliveries:
            stored.append(worker._queue_delivery(tx, delivery))
    return stored


def current(store: DocumentStore, delivery: dict) -> dict:
    return store[DELIVERIES].get(delivery["id"])


def published(store: DocumentStore, event_type: str) -> list[dict]:
    rows = store[OUTBOX].iterate(None, [("id", 1)])
    return [r["event"]["payload"] for r in rows if r["event"]["event_type"] == event_type]


# sent


def test_a_due_email_is_sent_once_with_the_providers_id_and_announced(store: DocumentStore, smtp) -> None:
    ticket = {"id": "tk1", "version": 2, "contact_id": "c1", "company_id": "k1", "team_id": "t1"}
    [queued] = queue(store, email(ref={"type": "ticket", "id": "tk1"}, ticket=ticket))

    assert service(store).dispatch_due(T0) == {"sent": 1}
    assert service(store).dispatch_due(T0 + timedelta(hours=1)) == {}  # nothing twice

    sent = current(store, queued)
    [(envelope_from, recipients, message)] = smtp.received
    assert (sent["status"], sent["attempts"], sent["sent_at"]) == ("sent", 1, rules.stamp(T0))
    assert sent["provider_id"] == message["Message-ID"]
    assert (envelope_from, recipients, message["Subject"]) == ("crm@example.test", ["customer1@example.cn"], "Hello 1")
    assert "新年快乐" in message.get_content()
    [announced] = published(store, "message_queued")
    assert (announced["id"], announced["ticket"]) == (queued["id"], ticket)
    [told] = published(store, "message_sent")
    assert told == {
        "id": queued["id"],
        "contact_id": "c1",
        "company_id": "k1",
        "channel": "email",
        "subject": "Hello 1",
        "kind": "greeting",
        "language": "en",
        "ref": {"type": "ticket", "id": "tk1"},
        "campaign_id": None,
        "provider_id": sent["provider_id"],
        "sent_at": rules.stamp(T0),
        "ticket": ticket,
    }
    assert "body" not in told and "to" not in told  # the timeline gets no words or address


def test_a_delivery_due_later_waits_for_its_time(store: DocumentStore, smtp) -> None:
    [later] = queue(store, email(next_attempt_at=rules.stamp(T0 + timedelta(minutes=5))))
    assert service(store).dispatch_due(T0) == {}
    assert current(store, later)["status"] == "queued"
    assert service(store).dispatch_due(T0 + timedelta(minutes=5)) == {"sent": 1}


# the server down: retried with backoff, dead after the cap, replayed


def test_smtp_down_is_retried_with_doubling_backoff_then_dead_then_replayed(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("SMTP_FROM", SENDER)
    [queued] = queue(store, email())

    moment, waits = T0, []
    for attempt in range(1, 8):
        assert service(store).dispatch_due(moment) == {"retrying": 1}
        retrying = current(store, queued)
        assert (retrying["status"], retrying["attempts"]) == ("retrying", attempt)
        assert "SMTP server unreachable" in retrying["last_error"]
        due = rules.parse_stamp(retrying["next_attempt_at"])
        waits.append((due - moment).total_seconds())
        assert service(store).dispatch_due(due - timedelta(seconds=1)) == {}  # not before its time
        moment = due
    assert waits == [30, 60, 120, 240, 480, 960, 1920]

    assert service(store).dispatch_due(moment) == {"dead": 1}  # the 8th attempt, DELIVERY_MAX_ATTEMPTS
    dead = current(store, queued)
    assert (dead["status"], dead["attempts"], dead["next_attempt_at"]) == ("dead", 8, None)
    assert service(store).dispatch_due(moment + timedelta(days=1)) == {}

    with smtp_server() as (url, mailbox):  # the server is back; an admin replays
        monkeypatch.setenv("SMTP_URL", url)
        replayed = service(store, ADMIN, clock=moment + timedelta(hours=1)).replay_delivery(queued["id"])
        assert (replayed["status"], replayed["attempts"], replayed["replays"]) == ("queued", 0, 1)
        assert service(store).dispatch_due(moment + timedelta(hours=1)) == {"sent": 1}
        assert len(mailbox.received) == 1
    sent = current(store, queued)
    assert (sent["status"], sent["attempts"], sent["replays"], sent["last_error"]) == ("sent", 1, 1, None)


def test_the_backoff_is_capped(store: DocumentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    monkeypatch.setenv("SMTP_FROM", SENDER)
    monkeypatch.setenv("DELIVERY_RETRY_BASE_SECONDS", "1000")
    [queued] = queue(store, email())
    moment = T0
    for _ in range(3):
        service(store).dispatch_due(moment)
        due = rules.parse_stamp(current(store, queued)["next_attempt_at"])
        last_wait, moment = (due - moment).total_seconds(), due
    assert last_wait == 3600  # 1000, 2000, then capped at DELIVERY_RETRY_MAX_SECONDS


def test_a_refused_recipient_is_dead_at_once_and_a_sent_one_can_be_replayed(store: DocumentStore, smtp) -> None:
    smtp.refuse["customer1@example.cn"] = "550 5.1.1 no such mailbox"
    refused, fine = queue(store, email(1), email(2))
    assert service(store).dispatch_due(T0) == {"dead": 1, "sent": 1}
    assert current(store, refused)["attempts"] == 1
    assert "550" in current(store, refused)["last_error"]

    service(store, ADMIN).replay_delivery(fine["id"])  # sent: an admin sends it again
    assert service(store).dispatch_due(T0) == {"sent": 1}
    assert [rcpt for _, rcpt, _ in smtp.received] == [["customer2@example.cn"], ["customer2@example.cn"]]
    first, second = (message["Message-ID"] for _, _, message in smtp.received)
    assert first != second  # a replay is a new message, not one a mail client drops as seen


def test_only_sent_or_dead_deliveries_are_replayed_by_admins(store: DocumentStore) -> None:
    [queued] = queue(store, email())
    with pytest.raises(Conflict):
        service(store, ADMIN).replay_delivery(queued["id"])
    with pytest.raises(Forbidden):
        service(store, MANAGER).replay_delivery(queued["id"])
    with pytest.raises(NotFound):
        service(store, ADMIN).replay_delivery("nope")


def test_a_send_that_never_finished_is_taken_again_after_its_lease(store: DocumentStore, smtp) -> None:
    [queued] = queue(store, email())
    with store.transaction() as tx:  # a dispatcher claimed it, then died mid-send
        tx[DELIVERIES].replace(rules.claimed(current(store, queued), T0, 300), queued["version"])
    assert service(store).dispatch_due(T0 + timedelta(seconds=299)) == {}
    assert service(store).dispatch_due(T0 + timedelta(seconds=300)) == {"sent": 1}
    assert current(store, queued)["attempts"] == 2


# several instances


def test_two_instances_on_the_same_store_file_send_each_delivery_once(tmp_path: Path, smtp) -> None:
    path = f"sqlite:///{tmp_path}/shared.db"
    first, second = open_store(path, SPECS), open_store(path, SPECS)
    try:
        queued = queue(first, *(email(n) for n in range(30)))
        outcomes: list = []
        start = threading.Barrier(2)

        def run(store: DocumentStore) -> None:
            start.wait()
            outcomes.append(service(store).dispatch_due(T0))

        threads = [threading.Thread(target=run, args=(s,)) for s in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sum(counts["sent"] for counts in outcomes) == 30
        recipients = sorted(rcpt for _, [rcpt], _ in smtp.received)
        assert recipients == sorted(d["to"] for d in queued)  # each once
        assert {current(first, d)["attempts"] for d in queued} == {1}
    finally:
        first.close()
        second.close()


# order per record


def test_deliveries_sharing_an_order_key_go_out_in_creation_order(store: DocumentStore, smtp) -> None:
    smtp.refuse["customer1@example.cn"] = "451 4.3.0 try again later"
    key = {"order_key": "sub1:contact:c9"}
    older, middle, younger = queue(store, email(1, **key), email(2, **key), email(3, **key))
    other = queue(store, email(4, order_key="sub1:contact:c8"))[0]

    assert service(store).dispatch_due(T0) == {"retrying": 1, "skipped": 2, "sent": 1}
    assert [current(store, d)["status"] for d in (older, middle, younger, other)] == [
        "retrying",
        "queued",
        "queued",
        "sent",
    ]
    del smtp.refuse["customer1@example.cn"]
    retry_at = rules.parse_stamp(current(store, older)["next_attempt_at"])
    service(store).dispatch_due(retry_at)
    service(store).dispatch_due(retry_at)
    assert [rcpt for _, [rcpt], _ in smtp.received] == [
        "customer4@example.cn",
        "customer1@example.cn",
        "customer2@example.cn",
        "customer3@example.cn",
    ]


def test_a_dead_delivery_does_not_hold_back_the_later_ones_of_its_record(store: DocumentStore, smtp) -> None:
    smtp.refuse["customer1@example.cn"] = "550 5.1.1 no such mailbox"
    key = {"order_key": "sub1:contact:c9"}
    dead, after = queue(store, email(1, **key), email(2, **key))
    assert service(store).dispatch_due(T0) == {"dead": 1, "sent": 1}
    assert (current(store, dead)["status"], current(store, after)["status"]) == ("dead", "sent")


# the channel not configured


def test_email_waits_queued_while_smtp_is_not_configured_and_goes_out_once_it_is(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    [queued] = queue(store, email())
    assert service(store).dispatch_due(T0) == {}
    waiting = current(store, queued)
    assert (waiting["status"], waiting["attempts"]) == ("queued", 0)
    assert waiting["last_error"] == "email channel not configured: SMTP_URL is not set"
    service(store).dispatch_due(T0 + timedelta(minutes=1))
    assert current(store, queued)["version"] == waiting["version"]  # said once, not rewritten every pass

    with smtp_server() as (url, mailbox):
        monkeypatch.setenv("SMTP_URL", url)
        monkeypatch.setenv("SMTP_FROM", SENDER)
        assert service(store).dispatch_due(T0 + timedelta(minutes=2)) == {"sent": 1}
    assert (current(store, queued)["status"], current(store, queued)["last_error"]) == ("sent", None)


# idempotency


def test_one_event_never_queues_a_message_twice(store: DocumentStore) -> None:
    contact = {"id": "c1", "version": 1, "display_name": "Wang Fang", "owner_id": "u1", "email": "wf@example.cn"}
    ticket = {"id": "tk1", "version": 1, "subject": "Printer jams", "priority": "high", "contact_id": "c1"}
    for handler, event_type, source, payload in (
        ("on_contact_created", "contact_created", "contacts", contact),
        ("on_ticket_created", "ticket_created", "service_desk", ticket),
    ):
        body = new_event(event_type, source, payload, actor="a1").as_dict()
        getattr(service(store), handler)(body)
    service(store).on_ticket_created(body)  # redelivered: the handler's processed mark stops it
    store[PROCESSED_EVENTS].delete(f"{body['event_id']}:on_ticket_created")
    service(store).on_ticket_created(body)  # and without the mark, the dedupe key does
    [delivery] = store[DELIVERIES].iterate({"channel": "email"})
    assert delivery["dedupe_key"] == f"{body['event_id']}:ticket_acknowledgement:email"

    again = rules.new_delivery(**{**_fields(delivery), "created_at": delivery["created_at"]})
    assert queue(store, again) == [None]  # the same key: nothing queued
    with pytest.raises(Conflict), store.transaction() as tx:  # and the store refuses a racing writer
        tx[DELIVERIES].insert(again)
    assert store[DELIVERIES].count() == 1
    assert len(published(store, "message_queued")) == 1


def _fields(delivery: dict) -> dict:
    keep = ("channel", "to", "dedupe_key", "kind", "subject", "body", "language", "contact_id", "event_id", "ref")
    return {name: delivery[name] for name in keep}


# the log


def test_admins_list_and_filter_the_log_and_read_one_delivery(store: DocumentStore, smtp) -> None:
    queue(store, email(1), email(2, campaign_id="cp1"), email(3, channel="sms", to="+8613800000000"))
    service(store).dispatch_due(T0)
    admin = service(store, ADMIN)

    page = admin.list_deliveries({"where": {"channel": "email", "status": "sent"}})
    assert sorted(d["to"] for d in page["data"]) == ["customer1@example.cn", "customer2@example.cn"]
    assert [d["campaign_id"] for d in admin.list_deliveries({"where": {"campaign_id": "cp1"}})["data"]] == ["cp1"]
    [sms] = admin.list_deliveries({"filter": {"status": {"in": ["queued", "retrying"]}}})["data"]
    assert sms["last_error"] == "SMS channel not configured: SMS_PROVIDER_URL is not set"
    assert admin.get_delivery(sms["id"]) == current(store, sms)
    first = admin.list_deliveries({"limit": 2, "sort": "created_at"})
    rest = admin.list_deliveries({"limit": 2, "sort": "created_at", "cursor": first["next_cursor"]})
    assert len(first["data"]) + len(rest["data"]) == 3 and rest["next_cursor"] is None

    with pytest.raises(Forbidden):
        service(store, MANAGER).list_deliveries({})
    with pytest.raises(Forbidden):
        service(store, MANAGER).get_delivery(sms["id"])
    with pytest.raises(NotFound):
        admin.get_delivery("nope")
    with pytest.raises(BadRequest):
        admin.list_deliveries({"where": {"body": "x"}})


# emails queued before the channels existed
