"""The in-app inbox live: a customer given to a rep through the API reaches the rep's open event
stream (contacts -> notifications -> outbox relay -> RabbitMQ -> the gateway's consumer), then
the rep marks it read and the inbox's unread count follows."""

import json
import time
import uuid

import pytest

PASSWORD = "a-long-enough-password"


def next_event(lines, deadline: float) -> dict:
    """The next SSE message with an event, comments (heartbeats) skipped."""
    message: dict = {}
    for line in lines:
        if time.monotonic() > deadline:
            break
        if line == "":
            if "event" in message:
                return message
            message = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            message[name] = json.loads(value) if name == "data" else value
    raise AssertionError("no event on the stream before the deadline")


@pytest.mark.timeout(120)
def test_a_new_customer_reaches_the_owners_open_stream(api) -> None:
    tag = uuid.uuid4().hex[:8]
    rep = api.new_user(f"rep-{tag}@stream.test", ["sales_rep"], PASSWORD)
    with rep.get("/events/stream", stream=True, timeout=(5, 40)) as stream:
        assert stream.status_code == 200, stream.text
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        deadline = time.monotonic() + 60
        assert next_event(lines, deadline)["event"] == "ready"  # the gateway's consumer is bound now

        contact = api.create(
            "/contacts", {"first_name": "Fang", "last_name": f"Wang {tag}", "owner_id": rep.user["id"]}
        )

        received = next_event(lines, deadline)
    assert received["event"] == "notification_created"
    notification = received["data"]
    assert received["id"] == notification["id"]
    assert notification["recipient_id"] == rep.user["id"]
    assert notification["ref"] == {"type": "contact", "id": contact["id"]}
    assert notification["title"] == "New customer assigned to you"

    inbox = rep.get("/notifications").json()
    assert notification["id"] in [n["id"] for n in inbox["data"]] and inbox["unread_count"] == 1
    marked = rep.post(f"/notifications/{notification['id']}/read")
    assert marked.status_code == 200, marked.text
    assert marked.json()["read"] is True and marked.json()["unread_count"] == 0
    assert api.post(f"/notifications/{notification['id']}/read").status_code == 404  # not the admin's
