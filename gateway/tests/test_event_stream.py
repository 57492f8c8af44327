"""GET /api/v1/events/stream on a real broker: a notification_created event published to the
notifications exchange reaches its recipient's open stream, and nobody else's; heartbeats; the
stream's time limit; the per-process client limit (503); no broker (503). Every read is bounded:
heartbeats every 0.2 s keep each chunk coming, and each test reads against a deadline."""

import json
import time

import pika
import pytest

from crm_common.envelope import new_event

from .conftest import sign_in

STREAM = "/api/v1/events/stream"


@pytest.fixture
def stream_settings(monkeypatch, amqp_uri):
    monkeypatch.setenv("AMQP_URI", amqp_uri)
    monkeypatch.setenv("EVENT_STREAM_HEARTBEAT_SECONDS", "0.2")
    monkeypatch.setenv("EVENT_STREAM_MAX_SECONDS", "30")
    monkeypatch.setenv("EVENT_STREAM_CONNECT_TIMEOUT_SECONDS", "10")


@pytest.fixture
def hub_stopped(app):
    yield
    hub = app.extensions.get("event_stream")
    if hub is not None:
        hub.stop()


class Stream:
    """An open event stream read through the Flask test client, message by message."""

    def __init__(self, client, headers: dict | None = None):
        self.response = client.get(STREAM, headers=headers or {}, buffered=False)
        assert self.response.status_code == 200, self.response.get_data(as_text=True)
        self.chunks = iter(self.response.response)
        self.buffer = ""
        self.comments: list[str] = []
        self.ended = False

    def next_message(self, deadline: float) -> dict | None:
        """The next message with an event (comments are kept aside); None when the stream ended."""
        while time.monotonic() < deadline:
            if "\n\n" not in self.buffer:
                try:
                    chunk = next(self.chunks)
                except StopIteration:
                    self.ended = True
                    return None
                self.buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
                continue
            block, self.buffer = self.buffer.split("\n\n", 1)
            message: dict = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(": ")
                    message[name] = value
            if "event" in message:
                if "data" in message:
                    message["data"] = json.loads(message["data"])
                return message
        raise AssertionError("no message before the deadline")

    def next_event(self, timeout: float = 10.0) -> dict | None:
        return self.next_message(time.monotonic() + timeout)

    def close(self) -> None:
        self.response.close()


def publish(amqp_uri: str, recipient_id: str, notification_id: str) -> dict:
    """What the notifications service's outbox relay publishes for a new in-app notification."""
    payload = {
        "id": notification_id,
        "recipient_id": recipient_id,
        "title": "New customer assigned to you",
        "body": "王芳 is now yours",
        "ref": {"type": "contact", "id": "c1"},
        "created_at": "2030-01-02T03:04:05.000000Z",
    }
    event = new_event("notification_created", "notifications", payload, actor="system").as_dict()
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    try:
        channel = connection.channel()
        channel.exchange_declare("notifications.events", exchange_type="topic", durable=True)
        channel.basic_publish(
            "notifications.events",
            "notification_created",
            json.dumps(event).encode(),
            pika.BasicProperties(content_type="application/json", delivery_mode=2),
        )
    finally:
        connection.close()
    return payload


def new_user(client, email: str) -> tuple[str, dict]:
    response = client.post(
        "/api/v1/users",
        json={"email": email, "name": "Second", "password": "a-long-enough-password", "roles": ["sales_rep"]},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    tokens = sign_in(client, email, "a-long-enough-password")
    return response.get_json()["id"], {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.mark.timeout(60)
def test_an_event_reaches_its_recipients_stream_and_nobody_elses(
    app, client, amqp_uri, stream_settings, hub_stopped
) -> None:
    admin_id = client.get("/api/v1/me").get_json()["id"]
    other_id, other_headers = new_user(client, "second@test.local")
    mine, theirs = Stream(client), Stream(client, other_headers)
    try:
        assert mine.response.mimetype == "text/event-stream"
        assert mine.response.headers["Cache-Control"] == "no-cache"
        ready = mine.next_event()
        assert (ready["event"], ready["data"]["max_seconds"]) == ("ready", 30.0)
        assert theirs.next_event()["event"] == "ready"
        # The other user's event first: had it reached my stream, it would come before mine.
        their_notification = publish(amqp_uri, other_id, "e1:" + other_id)
        my_notification = publish(amqp_uri, admin_id, "e2:" + admin_id)
        received = mine.next_event()
        assert (received["event"], received["id"], received["data"]) == (
            "notification_created",
            my_notification["id"],
            my_notification,
        )
        assert theirs.next_event()["data"] == their_notification
    finally:
        mine.close()
        theirs.close()
    assert app.extensions["event_stream"].open_streams == 0


@pytest.mark.timeout(60)
def test_a_stream_ends_after_its_time_and_frees_its_place(
    app, client, stream_settings, hub_stopped, monkeypatch
) -> None:
    monkeypatch.setenv("EVENT_STREAM_MAX_SECONDS", "1")
    stream = Stream(client)
    assert stream.next_event()["event"] == "ready"
    started = time.monotonic()
    assert stream.next_event(timeout=5) is None  # the server ended it
    assert 0.5 < time.monotonic() - started < 3
    assert stream.ended and "the stream ends here; reconnect" in stream.comments
    assert stream.comments.count("heartbeat") >= 2
    stream.close()
    assert app.extensions["event_stream"].open_streams == 0


@pytest.mark.timeout(60)
def test_over_the_client_limit_is_503_with_retry_after(app, client, stream_settings, hub_stopped, monkeypatch) -> None:
    monkeypatch.setenv("EVENT_STREAM_MAX_CLIENTS", "2")
    first, second = Stream(client), Stream(client)
    refused = client.get(STREAM)
    assert refused.status_code == 503
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    assert "2 live event streams" in refused.get_json()["detail"]
    first.close()
    third = Stream(client)  # a closed stream gives its place back
    assert third.next_event()["event"] == "ready"
    second.close()
    third.close()
    assert app.extensions["event_stream"].open_streams == 0


@pytest.mark.timeout(60)
def test_without_a_broker_the_stream_is_503(app, client, hub_stopped, monkeypatch) -> None:
    monkeypatch.setenv("AMQP_URI", "amqp://guest:guest@127.0.0.1:1/")
    monkeypatch.setenv("EVENT_STREAM_CONNECT_TIMEOUT_SECONDS", "0.5")
    refused = client.get(STREAM)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "broker" in refused.get_json()["detail"]
    assert app.extensions["event_stream"].open_streams == 0


def test_the_stream_needs_a_signed_in_user(app) -> None:
    response = app.test_client().get(STREAM)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
