"""Webhooks (SQLite, no broker): subscriptions and their validation, the fan-out of events into
deliveries, and the dispatcher POSTing them to a real HTTP receiver on 127.0.0.1 that checks the
signature and timestamp; retries with backoff on a controllable clock, dead letters and replay,
per-record order, and switching off a subscription whose receiver keeps failing."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from notifications import webhook_rules
from notifications.service import NotificationsService
from notifications.store import DELIVERIES, NOTIFICATIONS, SPECS, WEBHOOKS

SYSTEM = Caller("system", ("system",))
ADMIN = Caller("a1", ("admin",))
TOLERANCE_SECONDS = 300  # what the receiver accepts between the timestamp and its own clock


@dataclass
class Receiver:
    """A webhook receiver as a customer would write one: it checks the signature over the
    timestamp and the raw body, and the timestamp's freshness, before accepting anything."""

    url: str = ""
    secret: str = ""
    statuses: list[int] = field(default_factory=lambda: [200])  # one per request; the last repeats
    delay: float = 0.0
    accepted: list[dict] = field(default_factory=list)  # {headers, body} of verified requests
    refused: list[str] = field(default_factory=list)  # why a request was not verified
    calls: int = 0

    def verify(self, headers, raw: bytes) -> str | None:
        timestamp = headers.get("X-CRM-Timestamp") or ""
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
            return "stale or missing timestamp"
        expected = hmac.new(self.secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("X-CRM-Signature") or "", f"v1={expected}"):
            return "bad signature"
        return None


@contextmanager
def receiver(**options) -> Iterator[Receiver]:
    state = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.calls += 1
            if state.delay:
                time.sleep(state.delay)
            problem = state.verify(self.headers, raw)
            if problem:
                state.refused.append(problem)
                status = 401
            else:
                state.accepted.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)})
                status = state.statuses[min(len(state.accepted), len(state.statuses)) - 1]
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else f"failed with {status}".encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/crm?source=test"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def worker(store: DocumentStore, clock: Clock, caller: Caller = SYSTEM) -> NotificationsService:
    service = worker_factory(NotificationsService, store=store, caller=caller)
    service._now = lambda: clock.now
    return service


def handle(store, clock, handler: str, source: str, event_type: str, payload: dict) -> dict:
    body = new_event(event_type, source, payload, actor="u1").as_dict()
    getattr(worker(store, clock), handler)(body)
    return body


def deal(deal_id: str = "d1", **fields) -> dict:
    return {"id": deal_id, "version": 2, "title": "Printers", "status": "open", "contact_id": "c1", **fields}


def subscribe(store, clock, hook: Receiver, **fields) -> dict:
    data = {"url": hook.url, "event_types": ["sales.deal_updated"], **fields}
    created = worker(store, clock, ADMIN).create_webhook(data)
    hook.secret = created["secret"]
    return created


def dispatch(store, clock) -> dict:
    return dict(worker(store, clock).dispatch_due(clock.now))


def webhook_deliveries(store, clock, webhook_id: str, **where) -> list[dict]:
    query = {"where": where, "sort": "created_at"} if where else {"sort": "created_at"}
    return worker(store, clock, ADMIN).list_webhook_deliveries(webhook_id, query)["data"]


# subscriptions


def test_the_secret_is_shown_on_create_only(store, clock) -> None:
    with receiver() as hook:
        created = subscribe(store, clock, hook, description="ERP sync")
    assert len(created["secret"]) == 64 and int(created["secret"], 16) >= 0
    assert created["active"] is True and created["consecutive_failures"] == 0 and created["created_by"] == "a1"
    admin = worker(store, clock, ADMIN)
    shown = admin.get_webhook(created["id"])
    assert "secret" not in shown and shown["description"] == "ERP sync"
    assert all("secret" not in w for w in admin.list_webhooks({})["data"])
    updated = admin.update_webhook(created["id"], {"description": "ERP"})
    assert "secret" not in updated and updated["version"] == 2


def test_only_admins_manage_webhooks(store, clock) -> None:
    with receiver() as hook:
        created = subscribe(store, clock, hook)
    for roles in (("manager",), ("sales_rep",), ("support_agent",), ("viewer",)):
        other = worker(store, clock, Caller("u9", roles))
        calls = [
            ("create_webhook", {"url": "https://example.com/h", "event_types": ["sales.deal_updated"]}),
            ("get_webhook", created["id"]),
            ("list_webhooks", {}),
            ("update_webhook", created["id"], {"active": False}),
            ("delete_webhook", created["id"]),
            ("list_webhook_deliveries", created["id"], {}),
            ("replay_webhook_delivery", created["id"], "x"),
        ]
        for method, *args in calls:
            with pytest.raises(Forbidden):
                getattr(other, method)(*args)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "ftp://example.com/h"}, "url"),
        ({"url": "example.com/hook"}, "url"),
        ({"url": "https://user:pw@example.com/h"}, "url"),
        ({"url": "https:///no-host"}, "url"),
        ({"url": "http://example.com:99999/h"}, "url"),
        ({"event_types": ["sales.deal_won"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"event_types": "sales.deal_updated"}, "event_types"),
        ({"filters": ["status"]}, "filters"),
        ({"filters": {"status": {"$ne": "won"}}}, "filters"),
        ({"filters": {"a b": 1}}, "filters"),
        ({"filters": {"status": []}}, "filters"),
        ({"secret": "mine"}, "secret"),
        ({"consecutive_failures": 0}, "consecutive_failures"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_subscription_is_validated(store, clock, data: dict, field: str) -> None:
    valid = {"url": "https://example.com/hooks", "event_types": ["sales.deal_updated"]}
    with pytest.raises(ValidationFailed) as refused:
        worker(store, clock, ADMIN).create_webhook({**valid, **data})
    assert field in [e["field"] for e in refused.value.errors]


def test_updates_are_validated_and_unknown_ids_are_not_found(store, clock) -> None:
    admin = worker(store, clock, ADMIN)
    created = admin.create_webhook({"url": "https://example.com/h", "event_types": ["contacts.contact_created"]})
    with pytest.raises(ValidationFailed):
        admin.update_webhook(created["id"], {"url": "javascript:alert(1)"})
    for call in (
        lambda: admin.get_webhook("nope"),
        lambda: admin.update_webhook("nope", {"active": False}),
        lambda: admin.delete_webhook("nope"),
        lambda: admin.list_webhook_deliveries("nope", {}),
        lambda: admin.replay_webhook_delivery(created["id"], "nope"),
    ):
        with pytest.raises(NotFound):
            call()
    assert store[WEBHOOKS].get(created["id"])["url"] == "https://example.com/h"


def test_field_filters_match_scalars_lists_and_nested_paths() -> None:
    payload = {"status": "won", "amount": 10, "changes": ["status", "stage_id"], "ticket": {"priority": "high"}}
    assert webhook_rules.matches({}, payload)
    assert webhook_rules.matches({"status": "won", "amount": 10.0}, payload)
    assert webhook_rules.matches({"status": ["won", "lost"]}, payload)
    assert webhook_rules.matches({"changes": "stage_id"}, payload)  # a list field holds the value
    assert webhook_rules.matches({"ticket.priority": "high"}, payload)
    assert webhook_rules.matches({"owner_id": None}, payload)  # missing is null
    assert not webhook_rules.matches({"status": "lost"}, payload)
    assert not webhook_rules.matches({"amount": True}, {"amount": 1})  # true is not 1
    assert not webhook_rules.matches({"ticket.priority": "low"}, payload)


# deliveries to a real receiver


def test_a_matching_event_is_posted_signed_once(store, clock) -> None:
    with receiver() as hook:
        created = subscribe(store, clock, hook, filters={"status": "won"})
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal(status="open", changes=["title"]))
        assert store[DELIVERIES].count() == 0  # filtered out
        won = handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal(status="won", changes=["status"]))
        second = handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal(status="won"))  # another event
        [first, _] = webhook_deliveries(store, clock, created["id"])
        worker(store, clock).on_deal_updated(won)  # redelivered: nothing queued twice
        assert store[DELIVERIES].count() == 2
        assert dispatch(store, clock) == {"sent": 2}
    assert hook.refused == [] and [r["body"]["event_id"] for r in hook.accepted] == [
        won["event_id"],
        second["event_id"],
    ]
    request = hook.accepted[0]
    assert request["path"] == "/hooks/crm?source=test"
    assert request["headers"]["X-CRM-Event"] == "sales.deal_updated"
    assert request["headers"]["X-CRM-Delivery"] == first["id"]
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert request["body"] == {
        "id": first["id"],
        "event_id": won["event_id"],
        "event_type": "sales.deal_updated",
        "occurred_at": won["occurred_at"],
        "data": won["payload"],
    }
    sent = store[DELIVERIES].get(first["id"])
    assert (sent["status"], sent["attempts"], sent["provider_id"]) == ("sent", 1, "HTTP 200")
    assert (sent["channel"], sent["subscription_id"], sent["order_key"]) == (
        "webhook",
        created["id"],
        f"{created['id']}:deal:d1",
    )
    assert sent["ref"] == {"type": "deal", "id": "d1"} and "secret" not in sent
    # a POST to an integration is no message to the customer: nothing for the contacts timeline
    assert [row["event"]["event_type"] for row in store[OUTBOX].find().items] == []


def test_events_notifications_already_handles_feed_webhooks_too(store, clock) -> None:
    with receiver() as hook:
        created = subscribe(
            store,
            clock,
            hook,
            event_types=["contacts.contact_created", "service_desk.ticket_commented"],
            filters={},
        )
        contact = {"id": "c1", "version": 1, "display_name": "Wang Fang", "owner_id": "u2", "email": "w@example.cn"}
        handle(store, clock, "on_contact_created", "contacts", "contact_created", contact)
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal())  # not subscribed
        comment = {
            "comment": {"id": "cm1", "public": False, "body": "internal"},
            "ticket": {"id": "tk1", "contact_id": "c1"},
        }
        handle(store, clock, "on_ticket_commented", "service_desk", "ticket_commented", comment)
        assert dispatch(store, clock) == {"sent": 2}
    assert [r["headers"]["X-CRM-Event"] for r in hook.accepted] == [
        "contacts.contact_created",
        "service_desk.ticket_commented",
    ]
    [_, commented] = webhook_deliveries(store, clock, created["id"])
    assert commented["order_key"] == f"{created['id']}:ticket:tk1" and commented["contact_id"] == "c1"
    assert store[NOTIFICATIONS].count() == 1  # the owner's in-app notice still happens


def test_nested_field_filters_select_events(store, clock) -> None:
    with receiver() as hook:
        created = subscribe(
            store, clock, hook, event_types=["service_desk.ticket_commented"], filters={"comment.public": True}
        )
        ticket = {"id": "tk1", "contact_id": None}
        for public in (False, True):
            payload = {"comment": {"id": f"cm-{public}", "public": public}, "ticket": ticket}
            handle(store, clock, "on_ticket_commented", "service_desk", "ticket_commented", payload)
        [only] = webhook_deliveries(store, clock, created["id"])
    assert only["payload"]["data"]["comment"]["public"] is True


def test_an_erased_customers_events_go_to_no_webhook(store, clock) -> None:
    with receiver() as hook:
        subscribe(store, clock, hook)
        erasure = {"id": "c1", "version": 3, "erasure_id": "e1"}
        handle(store, clock, "on_contact_erased", "contacts", "contact_erased", erasure)
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal())
    assert store[DELIVERIES].count() == 0


def test_an_erasure_scrubs_and_stops_the_webhook_deliveries_about_the_customer(store, clock) -> None:
    with receiver() as hook:
        created = subscribe(store, clock, hook)
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal(title="Printers for Wang Fang"))
        erasure = {"id": "c1", "version": 3, "erasure_id": "e1"}
        handle(store, clock, "on_contact_erased", "contacts", "contact_erased", erasure)
        assert dispatch(store, clock) == {}
    [scrubbed] = webhook_deliveries(store, clock, created["id"])
    assert (scrubbed["status"], scrubbed["payload"]) == ("cancelled", {"erased": True})
    assert hook.calls == 0


def test_a_failing_receiver_gets_retries_with_backoff_then_dead_and_a_replay_delivers_again(
    store, clock, monkeypatch
) -> None:
    monkeypatch.setenv("DELIVERY_MAX_ATTEMPTS", "3")
    with receiver(statuses=[500, 500, 503, 200]) as hook:
        created = subscribe(store, clock, hook)
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal(status="won"))
        [delivery] = webhook_deliveries(store, clock, created["id"])
        start = clock.now
        assert dispatch(store, clock) == {"retrying": 1}
        retrying = store[DELIVERIES].get(delivery["id"])
        assert retrying["last_error"] == "HTTP 500: failed with 500"
        assert retrying["next_attempt_at"] == (start + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        clock.advance(29)
        assert dispatch(store, clock) == {}  # not due yet
        clock.advance(1)
        assert dispatch(store, clock) == {"retrying": 1}
        second = store[DELIVERIES].get(delivery["id"])
        assert second["next_attempt_at"] == (clock.now + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        clock.advance(60)
        assert dispatch(store, clock) == {"dead": 1}
        dead = store[DELIVERIES].get(delivery["id"])
        assert (dead["status"], dead["attempts"], dead["last_error"]) == ("dead", 3, "HTTP 503: failed with 503")
        assert store[WEBHOOKS].get(created["id"])["consecutive_failures"] == 1
        assert webhook_deliveries(store, clock, created["id"], status="dead") == [dead]

        replayed = worker(store, clock, ADMIN).replay_webhook_delivery(created["id"], delivery["id"])
        assert (replayed["status"], replayed["attempts"], replayed["replays"]) == ("queued", 0, 1)
        assert dispatch(store, clock) == {"sent": 1}
    assert hook.refused == [] and hook.calls == 4
    assert {r["headers"]["X-CRM-Delivery"] for r in hook.accepted} == {delivery["id"]}
    assert store[DELIVERIES].get(delivery["id"])["status"] == "sent"
    assert store[WEBHOOKS].get(created["id"])["consecutive_failures"] == 0  # a success starts the count afresh
    admin = worker(store, clock, ADMIN)
    admin.replay_webhook_delivery(created["id"], delivery["id"])  # a sent one may go again too
    with pytest.raises(Conflict):  # but not while it is on its way
        admin.replay_webhook_delivery(created["id"], delivery["id"])


def test_one_records_events_go_out_in_order_others_do_not_wait(store, clock) -> None:
    with receiver(statuses=[500, 200]) as hook:
        created = subscribe(store, clock, hook)
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal("d1", title="first"))
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal("d1", title="second"))
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal("d2", title="other"))
        assert dispatch(store, clock) == {"retrying": 1, "skipped": 1, "sent": 1}
        clock.advance(30)
        dispatch(store, clock)
        dispatch(store, clock)
    titles = [r["body"]["data"]["title"] for r in hook.accepted]
    assert titles == ["first", "other", "first", "second"]  # the failed first, d2 meanwhile, then d1 in order
    statuses = {d["payload"]["data"]["title"]: d["status"] for d in webhook_deliveries(store, clock, created["id"])}
    assert statuses == {"first": "sent", "second": "sent", "other": "sent"}


def test_a_receiver_that_keeps_failing_is_switched_off_and_back_on(store, clock, monkeypatch) -> None:
    monkeypatch.setenv("DELIVERY_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("WEBHOOK_DISABLE_AFTER", "2")
    with receiver(statuses=[500, 500, 200]) as hook:
        created = subscribe(store, clock, hook)
        for deal_id in ("d1", "d2", "d3"):
            handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal(deal_id))
        assert dispatch(store, clock) == {"dead": 2, "skipped": 1}
        off = store[WEBHOOKS].get(created["id"])
        assert (off["active"], off["consecutive_failures"]) == (False, 2)
        assert off["disabled_reason"].startswith("2 deliveries in a row failed; the last: HTTP 500")
        third = webhook_deliveries(store, clock, created["id"])[2]
        assert (third["status"], third["last_error"]) == (
            "dead",
            "the webhook was switched off after failing deliveries",
        )
        [announced] = [r["event"] for r in store[OUTBOX].find().items if r["event"]["event_type"] == "webhook_disabled"]
        assert announced["payload"]["id"] == created["id"] and "secret" not in announced["payload"]

        # the admin who set it up is told in-app
        worker(store, clock).on_webhook_disabled(announced)
        [notice] = [n for n in store[NOTIFICATIONS].find().items if n["recipient_id"] == "a1"]
        assert notice["title"] == "Webhook switched off" and notice["ref"] == {"type": "webhook", "id": created["id"]}

        # switched off: new events queue nothing, replays are refused
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal("d4"))
        assert len(webhook_deliveries(store, clock, created["id"])) == 3
        admin = worker(store, clock, ADMIN)
        with pytest.raises(Conflict):
            admin.replay_webhook_delivery(created["id"], third["id"])

        back = admin.update_webhook(created["id"], {"active": True})
        assert (back["active"], back["consecutive_failures"], back["disabled_reason"]) == (True, 0, None)
        admin.replay_webhook_delivery(created["id"], third["id"])
        assert dispatch(store, clock) == {"sent": 1}
    assert [r["body"]["data"]["id"] for r in hook.accepted] == ["d1", "d2", "d3"]


def test_a_receiver_answering_410_switches_the_webhook_off_at_once(store, clock) -> None:
    with receiver(statuses=[410]) as hook:
        created = subscribe(store, clock, hook)
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal())
        assert dispatch(store, clock) == {"dead": 1}
    off = store[WEBHOOKS].get(created["id"])
    assert (off["active"], off["disabled_reason"]) == (False, "the receiver answered 410 Gone")


def test_a_client_error_is_dead_at_once_a_slow_or_absent_receiver_is_retried(store, clock, monkeypatch) -> None:
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "0.3")
    with receiver(statuses=[404]) as hook:
        subscribe(store, clock, hook)
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal("d1"))
        assert dispatch(store, clock) == {"dead": 1}
        hook.statuses, hook.delay = [200], 1.0
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal("d2"))
        assert dispatch(store, clock) == {"retrying": 1}
    errors = sorted(d["last_error"] for d in store[DELIVERIES].find().items)
    assert errors == ["HTTP 404: failed with 404", "no answer within 0.3 s"]
    # the receiver is gone: connection refused, retried
    handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal("d3"))
    clock.advance(3600)
    assert dispatch(store, clock) == {"retrying": 2}
    assert all(
        d["last_error"].startswith("could not reach the receiver")
        for d in store[DELIVERIES].find({"status": "retrying"}).items
    )


def test_switching_off_or_deleting_a_webhook_stops_what_it_has_waiting(store, clock) -> None:
    with receiver() as hook:
        created = subscribe(store, clock, hook)
        handle(store, clock, "on_deal_updated", "sales", "deal_updated", deal("d1"))
        admin = worker(store, clock, ADMIN)
        admin.update_webhook(created["id"], {"active": False})
        [stopped] = webhook_deliveries(store, clock, created["id"])
        assert (stopped["status"], stopped["last_error"]) == ("dead", "the webhook was switched off")
        admin.update_webhook(created["id"], {"active": True})
        admin.replay_webhook_delivery(created["id"], stopped["id"])
        admin.delete_webhook(created["id"])
        assert store[DELIVERIES].get(stopped["id"])["status"] == "cancelled"
        assert dispatch(store, clock) == {}
    assert hook.calls == 0
    with pytest.raises(NotFound):
        admin.get_webhook(created["id"])
