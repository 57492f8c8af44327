"""GET /api/v1/events/stream: the signed-in user's live events as server-sent events.

Each gateway process runs one background consumer thread (pika, its own connection) with an
exclusive, auto-delete queue bound to the `notifications.events` topic exchange for
`notification_created`; it hands each event to the streams of its recipient open in this process.
The consumer starts with the process's first stream and lives as long as the process.

Each stream holds one gunicorn gthread thread for its whole life, so the process serves at most
EVENT_STREAM_MAX_CLIENTS streams (default 50), and never more than half its worker's threads
(the other half stays for ordinary requests); over that: 503 with Retry-After. A stream ends after
EVENT_STREAM_MAX_SECONDS (default 300): EventSource clients reconnect by themselves.
"""

import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pika
from flask import Response, current_app
from prometheus_client import Gauge

from crm_common.config import DEFAULT_AMQP_URI, float_setting, int_setting
from crm_common.envelope import parse_event
from crm_common.errors import ValidationFailed

from .api import blueprint
from .auth import current_caller
from .problems import problem_response

log = logging.getLogger(__name__)

EXCHANGE = "notifications.events"  # nameko's event exchange of the notifications service
EVENT_TYPES = ("notification_created",)
# What a notification_created event shows the browser (its payload's fields).
NOTIFICATION_FIELDS = ("id", "recipient_id", "title", "body", "ref", "created_at")
# Events waiting for one slow stream; past this the stream ends (the client reconnects and refetches).
STREAM_BUFFER = 256
RECONNECT_MILLISECONDS = 3000  # the `retry:` the browser waits before it reconnects
CAPACITY_RETRY_AFTER_SECONDS = 15

OPEN_STREAMS = Gauge("crm_event_streams", "Open live event streams", multiprocess_mode="livesum")

# The gthread worker's thread count, set by gunicorn_conf.post_worker_init (None outside gunicorn).
worker_threads: int | None = None

_END = object()  # tells a stream to finish


@dataclass(frozen=True)
class StreamSettings:
    amqp_uri: str
    max_clients: int
    max_seconds: float
    heartbeat_seconds: float
    connect_timeout_seconds: float

    @classmethod
    def from_env(cls) -> "StreamSettings":
        max_clients = max(1, int_setting("EVENT_STREAM_MAX_CLIENTS", 50))
        if worker_threads:
            max_clients = min(max_clients, max(1, worker_threads // 2))
        return cls(
            amqp_uri=os.environ.get("AMQP_URI", DEFAULT_AMQP_URI),
            max_clients=max_clients,
            max_seconds=max(1.0, float_setting("EVENT_STREAM_MAX_SECONDS", 300.0)),
            heartbeat_seconds=max(0.1, float_setting("EVENT_STREAM_HEARTBEAT_SECONDS", 15.0)),
            connect_timeout_seconds=max(0.1, float_setting("EVENT_STREAM_CONNECT_TIMEOUT_SECONDS", 5.0)),
        )


class Subscription:
    """One open stream: the events waiting for it."""

    def __init__(self, hub: "EventHub", user_id: str):
        self.hub = hub
        self.user_id = user_id
        self.events: queue.Queue = queue.Queue(STREAM_BUFFER)
        self.overflowed = False
        self._closed = False

    def push(self, item) -> None:
        try:
            self.events.put_nowait(item)
        except queue.Full:
            self.overflowed = True  # too slow a reader: end it rather than drop events silently

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.hub.unsubscribe(self)


class StreamsFull(Exception):
    pass


class BrokerUnreachable(Exception):
    pass


class EventHub:
    """This process's consumer and the streams it feeds."""

    def __init__(self, settings: StreamSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._streams: dict[str, set[Subscription]] = {}
        self._count = 0
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def open_streams(self) -> int:
        return self._count

    def subscribe(self, user_id: str) -> Subscription:
        """A stream slot for `user_id`, once the consumer is bound (so nothing published after
        this returns is missed). Raises StreamsFull or BrokerUnreachable."""
        with self._lock:
            if self._count >= self.settings.max_clients:
                raise StreamsFull
            subscription = Subscription(self, user_id)
            self._streams.setdefault(user_id, set()).add(subscription)
            self._count += 1
            OPEN_STREAMS.inc()
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="event-stream-consumer", daemon=True)
                self._thread.start()
        if not self._ready.wait(self.settings.connect_timeout_seconds):
            subscription.close()
            raise BrokerUnreachable
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            streams = self._streams.get(subscription.user_id)
            if streams is None or subscription not in streams:
                return
            streams.discard(subscription)
            if not streams:
                del self._streams[subscription.user_id]
            self._count -= 1
            OPEN_STREAMS.dec()

    def deliver(self, body: bytes) -> None:
        """Hand one message from the broker to the streams of its recipient."""
        try:
            event = parse_event(json.loads(body))
        except (ValueError, ValidationFailed):
            log.warning("ignored a malformed event on the live stream queue")
            return
        if event.event_type not in EVENT_TYPES:
            return
        data = {name: event.payload.get(name) for name in NOTIFICATION_FIELDS}
        with self._lock:
            streams = list(self._streams.get(str(data["recipient_id"]), ()))
        for subscription in streams:
            subscription.push((event.event_type, data["id"], data))

    def end_all(self) -> None:
        with self._lock:
            streams = [s for subscriptions in self._streams.values() for s in subscriptions]
        for subscription in streams:
            subscription.push(_END)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.end_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            connection = None
            try:
                connection = self._consume()
                failures = 0
            except Exception:
                failures += 1
                log.warning("the live event stream lost the broker; reconnecting", exc_info=True)
            finally:
                # Streams end with the connection: events published meanwhile are not seen here, so
                # their clients reconnect and read the inbox again rather than miss them unknowingly.
                self._ready.clear()
                self.end_all()
                if connection is not None and connection.is_open:
                    try:
                        connection.close()
                    except Exception:
                        pass
            if failures:
                self._stopping.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))

    def _consume(self):
        parameters = pika.URLParameters(self.settings.amqp_uri)
        parameters.socket_timeout = self.settings.connect_timeout_seconds
        connection = pika.BlockingConnection(parameters)
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
        name = f"gateway.event-stream.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        channel.queue_declare(name, exclusive=True, auto_delete=True, arguments={"x-max-length": 10_000})
        for event_type in EVENT_TYPES:
            channel.queue_bind(name, EXCHANGE, routing_key=event_type)
        channel.basic_consume(name, lambda _ch, _method, _props, body: self.deliver(body), auto_ack=True)
        self._ready.set()
        while not self._stopping.is_set():
            connection.process_data_events(time_limit=1)
        return connection


_hub_lock = threading.Lock()


def hub_of(app) -> EventHub:
    with _hub_lock:
        hub = app.extensions.get("event_stream")
        if hub is None:
            hub = app.extensions["event_stream"] = EventHub(StreamSettings.from_env())
        return hub


def _message(event: str, data: dict, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _stream(subscription: Subscription, settings: StreamSettings) -> Iterator[bytes]:
    messages = _messages(subscription, settings)
    try:
        for text in messages:
            yield text.encode()
    finally:
        messages.close()


def _messages(subscription: Subscription, settings: StreamSettings) -> Iterator[str]:
    try:
        ready = {"max_seconds": settings.max_seconds, "heartbeat_seconds": settings.heartbeat_seconds}
        yield f"retry: {RECONNECT_MILLISECONDS}\n" + _message("ready", ready)
        deadline = time.monotonic() + settings.max_seconds
        last_write = time.monotonic()
        while not subscription.overflowed:
            now = time.monotonic()
            if now >= deadline:
                yield ": the stream ends here; reconnect\n\n"
                return
            wait = min(deadline, last_write + settings.heartbeat_seconds) - now
            try:
                item = subscription.events.get(timeout=max(0.0, wait))
            except queue.Empty:
                if time.monotonic() - last_write >= settings.heartbeat_seconds:
                    yield ": heartbeat\n\n"
                    last_write = time.monotonic()
                continue
            if item is _END:
                return
            event, event_id, data = item
            yield _message(event, data, event_id)
            last_write = time.monotonic()
    finally:
        subscription.close()


@blueprint.get("/events/stream")
def event_stream():
    """The caller's live events (text/event-stream); see the module docstring and the README."""
    hub = hub_of(current_app)
    try:
        subscription = hub.subscribe(current_caller().user_id)
    except StreamsFull:
        return problem_response(
            503,
            "Service unavailable",
            f"this gateway process serves {hub.settings.max_clients} live event streams already; try again later",
            {"Retry-After": str(CAPACITY_RETRY_AFTER_SECONDS)},
        )
    except BrokerUnreachable:
        return problem_response(
            503, "Service unavailable", "the live event stream cannot reach the message broker", {"Retry-After": "5"}
        )
    response = Response(_stream(subscription, hub.settings), mimetype="text/event-stream", direct_passthrough=True)
    # A client gone before the first chunk never starts the generator: free its slot anyway.
    response.call_on_close(subscription.close)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # proxies must not hold events back
    return response
