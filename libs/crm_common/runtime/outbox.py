"""The outbox relay: publishes committed outbox events to RabbitMQ with confirms, then marks them sent."""

import logging
import threading
import time

from nameko.amqp.publish import Publisher, UndeliverableMessage
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider, SharedExtension
from nameko.standalone.events import get_event_exchange

from ..config import float_setting
from ..ids import utc_now
from ..metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG
from ..store import OUTBOX
from .store import SharedStore

log = logging.getLogger(__name__)

BATCH = 200
POLL_SECONDS = 1.0
SENT_RETENTION_SECONDS = 3600


class OutboxRelayExtension(SharedExtension):
    store = SharedStore()

    def setup(self) -> None:
        self._wake = threading.Event()
        self._running = False
        self._last_prune = 0.0
        self._last_release = time.time()
        self._seen_emitted = 0
        self.publisher = Publisher(
            self.container.config[AMQP_URI_CONFIG_KEY], use_confirms=True, mandatory=True, serializer="json"
        )

    def start(self) -> None:
        self._running = True
        self.container.spawn_managed_thread(self._run)

    def stop(self) -> None:
        self._running = False
        self._wake.set()

    def wake_if_emitted(self) -> None:
        """Called after every worker: reads must not cost the relay a query."""
        emitted = self.store.document_store().emitted
        if emitted != self._seen_emitted:
            self._seen_emitted = emitted
            self._wake.set()

    def _run(self) -> None:
        failures = 0
        while self._running:
            self._wake.clear()
            try:
                published = self.flush()
                failures = 0
            except Exception:  # broker or store down: keep the rows, back off, try again
                failures += 1
                log.warning("outbox relay could not publish; retrying", exc_info=True)
                # A plain sleep, not the wake event: finished workers must not cut the backoff short.
                time.sleep(min(30.0, 0.5 * 2 ** min(failures, 6)))
                continue
            if published < BATCH:
                self._wake.wait(POLL_SECONDS)

    def flush(self) -> int:
        """Publish pending events in creation order. An event no queue takes yet is held back as
        `unroutable`, with every later event of the same record, so per-record order survives."""
        outbox = self.store.document_store()[OUTBOX]
        self._release_unroutable(outbox)
        rows = outbox.find({"status": "pending"}, [("id", 1)], limit=BATCH).items
        service = self.container.service_name
        held = {row.get("record") for row in outbox.find({"status": "unroutable"}, [("id", 1)], limit=1000).items}
        marked: list[dict] = []  # the batch's rows as sent or held back, written together below
        try:
            for row in rows:
                event = row["event"]
                if row.get("record") in held:
                    marked.append({**row, "status": "unroutable"})
                    continue
                exchange = get_event_exchange(event["source"], self.container.config)
                try:
                    self.publisher.publish(
                        event,
                        exchange=exchange,
                        declare=[exchange],
                        routing_key=event["event_type"],
                        headers={"nameko.request_id": event.get("correlation_id") or ""},
                    )
                except UndeliverableMessage:
                    # No queue is bound for it yet (its consumer has never started): keep it.
                    log.warning(
                        "no consumer queue for %s yet; held in the outbox",
                        event["event_type"],
                        extra={"event_id": event["event_id"], "event_type": event["event_type"]},
                    )
                    held.add(row.get("record"))
                    marked.append({**row, "status": "unroutable"})
                    continue
                marked.append({**row, "status": "sent", "sent_at": utc_now()})
                EVENTS_PUBLISHED.labels(service, event["event_type"]).inc()
        finally:
            # One transaction, one commit for the batch, not one per event (an import emits 100k),
            # also when the broker fails half-way: what was published is not published again.
            if marked:
                with self.store.document_store().transaction() as tx:
                    for row in marked:
                        tx[OUTBOX].replace(row)
        OUTBOX_BACKLOG.labels(service).set(outbox.count({"status": {"$in": ["pending", "unroutable"]}}))
        self._prune(outbox)
        return len(rows)

    def _release_unroutable(self, outbox) -> None:
        """Every OUTBOX_UNROUTABLE_RETRY_SECONDS (default 30), put held events back in line, in order."""
        now = time.time()
        if now - self._last_release < float_setting("OUTBOX_UNROUTABLE_RETRY_SECONDS", 30.0):
            return
        self._last_release = now
        for row in outbox.find({"status": "unroutable"}, [("id", 1)], limit=1000).items:
            outbox.replace({**row, "status": "pending"})

    def _prune(self, outbox) -> None:
        now = time.time()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        # Ids start with their creation time in hex nanoseconds, so an id bound is a time bound.
        cutoff = f"{int((now - SENT_RETENTION_SECONDS) * 1e9):016x}"
        for row in outbox.find({"status": "sent", "id": {"$lt": cutoff}}, [("id", 1)], limit=1000).items:
            outbox.delete(row["id"])


class OutboxRelay(DependencyProvider):
    """Declare on a service to run its relay; wakes it after every worker that wrote an event."""

    relay = OutboxRelayExtension()

    def get_dependency(self, worker_ctx) -> OutboxRelayExtension:
        return self.relay

    def worker_teardown(self, worker_ctx) -> None:
        self.relay.wake_if_emitted()
