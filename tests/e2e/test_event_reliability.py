"""No event is lost: not when a consumer is killed mid-flow, not when a handler keeps failing."""

import json
import os
import signal
import sqlite3
import threading
import uuid

import pika

from crm_common.devstack import SERVICES
from crm_common.envelope import new_event
from crm_common.testing import eventually

SEARCH = next(s for s in SERVICES if s.name == "search")
NOTIFICATIONS = next(s for s in SERVICES if s.name == "notifications")


def _search_total(api, q: str) -> int:
    return api.get("/search", params={"q": q, "types": "contact", "limit": 1}).json()["total"]


def test_killing_a_consumer_mid_flow_loses_no_event(api, stack):
    tag = f"k{uuid.uuid4().hex[:8]}"
    created: list[str] = []

    def create_contacts(count: int) -> None:
        for i in range(count):
            created.append(
                api.create(
                    "/contacts", {"first_name": f"Kill{i}", "last_name": "Nine", "email": f"n{i}@{tag}.example"}
                )["id"]
            )

    writer = threading.Thread(target=create_contacts, args=(60,))
    writer.start()
    eventually(lambda: len(created) >= 15, timeout=30, interval=0.02)
    stack.stop(SEARCH, signal.SIGKILL)
    writer.join(timeout=120)
    assert len(created) == 60
    stack.start(SEARCH)
    stack.wait_ready([SEARCH])
    assert eventually(lambda: _search_total(api, f"{tag}.example") == 60, timeout=60)


def _publish(stack, source: str, event_type: str, body: dict) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(stack.amqp_uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            f"{source}.events",
            event_type,
            json.dumps(body),
            pika.BasicProperties(content_type="application/json", delivery_mode=2),
            mandatory=True,
        )
    finally:
        connection.close()


def _dead_letters(api, service: str) -> list[dict]:
    response = api.get(f"/dead-letters/{service}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_a_failing_handler_is_retried_then_dead_lettered_then_replayed(api, stack):
    # A ticket for a customer the notifications service has never heard of cannot be routed to
    # an owner: the handler raises on every attempt until the customer's event arrives.
    contact_id = f"ghost-{uuid.uuid4().hex[:8]}"
    ticket = {
        "id": f"t-{uuid.uuid4().hex[:8]}",
        "subject": "Where is my order",
        "priority": "urgent",
        "contact_id": contact_id,
        "version": 1,
    }
    trace = f"trace-{uuid.uuid4().hex[:10]}"
    event = new_event("ticket_created", "service_desk", ticket, correlation_id=trace).as_dict()
    _publish(stack, "service_desk", "ticket_created", event)

    def parked():
        return [d for d in _dead_letters(api, "notifications") if d["event_id"] == event["event_id"]]

    dead = eventually(parked, timeout=30)[0]
    assert dead["attempts"] == 3 and dead["status"] == "dead" and "OwnerUnknown" in dead["last_error"]
    assert dead["event"] == event  # the whole event is kept, nothing dropped
    # the failure is in the service's JSON log under the request id the event carried
    with open(os.path.join(stack.log_dir, "notifications.log"), encoding="utf-8") as log:
        traced = [json.loads(line) for line in log if line.startswith("{") and trace in line]
    assert traced and all(entry["request_id"] == trace for entry in traced)
    assert any(entry["level"] == "error" for entry in traced)

    # The fix: the customer becomes known. Replaying the parked event now delivers the notice.
    contact = {
        "id": contact_id,
        "first_name": "Ghost",
        "last_name": "Customer",
        "display_name": "Ghost Customer",
        "owner_id": api.user["id"],
        "version": 1,
    }
    _publish(stack, "contacts", "contact_created", new_event("contact_created", "contacts", contact).as_dict())
    response = api.post(f"/dead-letters/notifications/{dead['id']}/replay")
    assert response.status_code == 202, response.text

    def delivered():
        inbox = api.get("/notifications", params={"limit": 200}).json()["data"]
        return [n for n in inbox if n["ref"] == {"type": "ticket", "id": ticket["id"]}]

    assert len(eventually(delivered, timeout=30)) == 1
    eventually(lambda: not parked())


def test_a_malformed_event_is_parked_at_once(api, stack):
    marker = uuid.uuid4().hex
    _publish(stack, "contacts", "contact_created", {"not": "an envelope", "marker": marker})

    def parked():
        return [d for d in _dead_letters(api, "search") if (d["event"] or {}).get("marker") == marker]

    dead = eventually(parked, timeout=20)[0]
    assert dead["attempts"] == 1 and "PoisonEvent" in dead["last_error"]


def test_a_replayed_event_is_not_applied_twice(api, stack):
    contact_id = f"dup-{uuid.uuid4().hex[:8]}"
    contact = {
        "id": contact_id,
        "first_name": "Twice",
        "display_name": "Twice",
        "owner_id": "usr-someone-else",
        "version": 1,
    }
    _publish(stack, "contacts", "contact_created", new_event("contact_created", "contacts", contact).as_dict())
    ticket = {
        "id": f"t-{uuid.uuid4().hex[:8]}",
        "subject": "Dup check",
        "priority": "low",
        "contact_id": contact_id,
        "version": 1,
    }
    event = new_event("ticket_created", "service_desk", ticket).as_dict()
    for _ in range(3):  # the same event delivered three times
        _publish(stack, "service_desk", "ticket_created", event)

    def notices() -> int:
        db = sqlite3.connect(os.path.join(stack.data_dir, "notifications.db"))
        try:
            rows = db.execute(
                "SELECT doc FROM c_notifications WHERE json_extract(doc, '$.ref.id') = ?", (ticket["id"],)
            )
            return len(rows.fetchall())
        finally:
            db.close()

    eventually(lambda: notices() >= 1, timeout=20)
    assert notices() == 1


def test_replaying_a_malformed_event_parks_it_again_without_stalling_retries(api, stack):
    marker = uuid.uuid4().hex
    _publish(stack, "contacts", "contact_updated", ["not", "an", "object", marker])

    def parked():
        return [d for d in _dead_letters(api, "search") if marker in json.dumps(d["event"])]

    dead = eventually(parked, timeout=20)[0]
    assert api.post(f"/dead-letters/search/{dead['id']}/replay").status_code == 202

    def parked_again():
        again = parked()
        return again if again and again[0]["last_failed_at"] > dead["last_failed_at"] else None

    again = eventually(parked_again, timeout=20)
    assert [d["id"] for d in again] == [dead["id"]]  # the same record, not a second one
    # the retrier keeps working for everyone else
    contact = api.create("/contacts", {"first_name": "After", "last_name": f"Replay{marker[:6]}"})
    eventually(lambda: api.get("/search", params={"q": f"replay{marker[:6]}"}).json()["total"] == 1, timeout=20)
    assert contact["id"]
