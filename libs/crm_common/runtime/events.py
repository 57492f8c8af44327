"""Reliable event consumption: idempotent handlers, retries with backoff, a dead-letter store.

nameko's own event_handler acks a message whose handler raised, losing the event. Here a failed
attempt is first written to the service's `_failed_events` collection and only then acked; if
even that write fails, the message is requeued. A retrier re-runs due failures with exponential
backoff and parks them as dead after the cap, where they can be listed and replayed.
"""

import functools
import logging
import time
import traceback
from datetime import UTC, datetime, timedelta

import eventlet
from nameko.events import SERVICE_POOL, EventHandler
from nameko.extensions import SharedExtension
from nameko.rpc import rpc

from ..config import float_setting, int_setting
from ..envelope import parse_event
from ..errors import NotFound, ValidationFailed
from ..ids import utc_now
from ..listing import parse_limit
from ..logs import set_request_id
from ..metrics import DEAD_LETTERS, EVENTS_DEAD_LETTERED, EVENTS_FAILED, EVENTS_HANDLED
from ..store import FAILED_EVENTS, PROCESSED_EVENTS, DocumentStore
from .idempotency import prune_idempotent_calls
from .store import SharedStore

log = logging.getLogger(__name__)

RETRY_POLL_SECONDS = 0.5
LEASE_SECONDS = 60
PRUNE_EVERY_SECONDS = 600


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> datetime:
    return datetime.now(UTC)


def _correlation_id(body) -> str:
    # A replayed poison event may be anything at all, not even an object.
    return (body.get("correlation_id") or "") if isinstance(body, dict) else ""


def retry_delay(attempts: int) -> float:
    """Exponential backoff: base * 2^(attempts-1), capped (EVENT_RETRY_BASE_SECONDS, ..._MAX_SECONDS)."""
    base = float_setting("EVENT_RETRY_BASE_SECONDS", 1.0)
    return min(float_setting("EVENT_RETRY_MAX_SECONDS", 300.0), base * 2 ** (attempts - 1))


def max_attempts() -> int:
    return int_setting("EVENT_MAX_ATTEMPTS", 5)


def prune_processed(store: DocumentStore, now: float, batch: int = 1000) -> int:
    """Forget processed-event marks older than PROCESSED_EVENTS_RETENTION_DAYS (default 14).
    Marks are keyed `<event_id>:<handler>` and event ids start with their creation time in hex
    nanoseconds, so an id bound is a time bound and the primary key serves the scan."""
    cutoff = f"{int((now - float_setting('PROCESSED_EVENTS_RETENTION_DAYS', 14.0) * 86400) * 1e9):016x}"
    processed = store[PROCESSED_EVENTS]
    removed = 0
    while True:
        old = processed.find({"id": {"$lt": cutoff}}, [("id", 1)], limit=batch).items
        for mark in old:
            removed += processed.delete(mark["id"])
        if len(old) < batch:
            return removed


def record_failure(
    store: DocumentStore, service: str, handler: str, body, exc: BaseException, failure_id: str | None = None
) -> None:
    """Note a failed attempt: schedule the next try, or park the event as dead after the cap.
    A retry passes the `failure_id` it is retrying, so one event keeps one record."""
    event_id = body.get("event_id") if isinstance(body, dict) else None
    failure_id = failure_id or f"{event_id or 'invalid-' + str(time.time_ns())}:{handler}"
    failures = store[FAILED_EVENTS]
    existing = failures.get(failure_id)
    attempts = (existing["attempts"] if existing else 0) + 1
    poison = isinstance(exc, ValidationFailed) and getattr(exc, "poison", False)
    dead = poison or attempts >= max_attempts()
    doc = {
        "id": failure_id,
        "event_id": event_id,
        "handler": handler,
        "event": body,
        "attempts": attempts,
        "status": "dead" if dead else "retrying",
        "next_attempt_at": _iso(_now() + timedelta(seconds=retry_delay(attempts))),
        "last_error": "".join(traceback.format_exception_only(type(exc), exc)).strip()[:2000],
        "first_failed_at": existing["first_failed_at"] if existing else utc_now(),
        "last_failed_at": utc_now(),
    }
    failures.put(doc)
    EVENTS_FAILED.labels(service, handler).inc()
    if dead:
        EVENTS_DEAD_LETTERED.labels(service, handler).inc()
        log.error("event parked in the dead-letter store after %d attempts", attempts, extra={"event_id": event_id})


class FailedEventRetrier(SharedExtension):
    """Re-runs due failed events through the same entrypoint, one container-wide loop."""

    store = SharedStore()

    def __init__(self, *args, **kwargs) -> None:
        # State lives from construction: entrypoints register before this extension's setup.
        super().__init__(*args, **kwargs)
        self.entrypoints: dict[str, ReliableEventHandler] = {}
        self._running = False

    def register(self, entrypoint: "ReliableEventHandler") -> None:
        self.entrypoints[entrypoint.method_name] = entrypoint

    def start(self) -> None:
        self._running = True
        self.container.spawn_managed_thread(self._run)

    def stop(self) -> None:
        self._running = False

    def _run(self) -> None:
        last_prune = 0.0
        while self._running:
            try:
                self.retry_due()
                if time.time() - last_prune > PRUNE_EVERY_SECONDS:
                    last_prune = time.time()
                    prune_processed(self.store.document_store(), last_prune)
                    prune_idempotent_calls(self.store.document_store(), last_prune)
            except Exception:
                log.warning("could not scan failed events; trying again", exc_info=True)
            eventlet.sleep(RETRY_POLL_SECONDS)

    def retry_due(self) -> int:
        store = self.store.document_store()
        failures = store[FAILED_EVENTS]
        due = failures.find(
            {"status": "retrying", "next_attempt_at": {"$lte": _iso(_now())}}, [("next_attempt_at", 1)], limit=50
        ).items
        for failure in due:
            entrypoint = self.entrypoints.get(failure["handler"])
            if entrypoint is None:
                continue
            # Lease it so the next scan does not start it again while it runs.
            leased = failures.replace({**failure, "next_attempt_at": _iso(_now() + timedelta(seconds=LEASE_SECONDS))})
            self.container.spawn_worker(
                entrypoint,
                (failure["event"],),
                {},
                context_data={"request_id": _correlation_id(failure["event"])},
                handle_result=functools.partial(self._finished, leased),
            )
        DEAD_LETTERS.labels(self.container.service_name).set(failures.count({"status": "dead"}))
        return len(due)

    def _finished(self, failure: dict, worker_ctx, result=None, exc_info=None):
        store = self.store.document_store()
        if exc_info is None:
            store[FAILED_EVENTS].delete(failure["id"])
            EVENTS_HANDLED.labels(self.container.service_name, failure["handler"]).inc()
        else:
            record_failure(
                store, self.container.service_name, failure["handler"], failure["event"], exc_info[1], failure["id"]
            )
        return result, exc_info


class ReliableEventHandler(EventHandler):
    """A durable service-pool event handler that never acks a failure it has not recorded."""

    store = SharedStore()
    retrier = FailedEventRetrier()

    def __init__(self, source_service: str, event_type: str, **kwargs):
        super().__init__(
            source_service,
            event_type,
            handler_type=SERVICE_POOL,
            reliable_delivery=True,
            requeue_on_error=True,
            **kwargs,
        )

    def setup(self) -> None:
        super().setup()
        self.retrier.register(self)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        service = self.container.service_name
        unrecorded = None  # a failure we could not write down: requeue the message, never ack it
        if exc_info is None:
            EVENTS_HANDLED.labels(service, self.method_name).inc()
        else:
            try:
                record_failure(self.store.document_store(), service, self.method_name, message.payload, exc_info[1])
            except Exception:
                log.exception("could not record a failed event; requeueing it")
                unrecorded = exc_info
        self.handle_message_processed(message, result, unrecorded)
        return result, exc_info


class PoisonEvent(ValidationFailed):
    """An event that can never be processed (malformed envelope): dead-lettered at once."""

    poison = True


def handle_event(source_service: str, event_type: str):
    """Decorate `fn(self, tx, event)`: runs once per event id, inside one store transaction that
    also records the event as processed, so the effect and the dedupe mark commit together.
    The service must inject its DocumentStore as `self.store`."""

    def decorator(fn):
        @functools.wraps(fn)
        def consume(self, body):
            try:
                event = parse_event(body)
            except ValidationFailed as exc:
                raise PoisonEvent(exc.detail) from None
            set_request_id(event.correlation_id)
            key = f"{event.event_id}:{fn.__name__}"
            with self.store.transaction() as tx:
                if tx[PROCESSED_EVENTS].get(key) is not None:
                    return None
                result = fn(self, tx, event)
                tx[PROCESSED_EVENTS].insert({"id": key, "processed_at": utc_now()})
            return result

        return ReliableEventHandler.decorator(source_service, event_type)(consume)

    return decorator


class DeadLetterRpc:
    """RPC methods to inspect and replay a service's dead-lettered events (mixed into services)."""

    @rpc
    def list_dead_letters(self, limit: int = 50, cursor: str | None = None) -> dict:
        page = self.store[FAILED_EVENTS].find(
            {"status": "dead"}, [("last_failed_at", -1)], parse_limit(limit), cursor or None
        )
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def replay_dead_letter(self, failure_id: str) -> dict:
        """Put a dead event back in line for an immediate retry (after the fix is deployed)."""
        failures = self.store[FAILED_EVENTS]
        failure = failures.get(failure_id)
        if failure is None or failure["status"] != "dead":
            raise NotFound(f"no dead-lettered event {failure_id}")
        return failures.replace({**failure, "status": "retrying", "attempts": 0, "next_attempt_at": _iso(_now())})
