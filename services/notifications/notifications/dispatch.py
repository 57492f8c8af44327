"""The delivery log and its dispatcher (a mixin of NotificationsService): queueing a delivery once
per dedupe key, the timer that sends what is due on its channel (claimed by version: several
instances never send one delivery twice; one record's deliveries in creation order), retries
with backoff, dead letters, replay, and the admins' RPCs over the log."""

import logging
from collections import Counter
from datetime import datetime

from nameko.rpc import rpc
from nameko.timer import timer

from crm_common.access import ADMIN, require_role
from crm_common.config import float_setting
from crm_common.errors import Conflict, NotFound, PreconditionFailed
from crm_common.listing import parse_list_query

from . import delivery_rules as rules
from . import events
from .channels import SENDERS, ChannelNotConfigured, DeliveryFailed, Settings
from .store import DELIVERIES

log = logging.getLogger(__name__)

DELIVERY_TIMER_SECONDS = float_setting("DELIVERY_TIMER_SECONDS", 2.0)

FILTERABLE = (
    "channel",
    "status",
    "kind",
    "contact_id",
    "about_contact_id",
    "subscription_id",
    "campaign_id",
    "recipient_user_id",
    "event_id",
    "order_key",
)
SORTABLE = ("created_at", "updated_at", "next_attempt_at", "sent_at")


class DeliveriesRpc:
    """Queue, send and show deliveries (email, SMS, webhook)."""

    # queueing (used by every handler or timer that sends something)

    def _queue_delivery(self, tx, delivery: dict) -> dict | None:
        """Store a delivery built by `delivery_rules.new_delivery`, once per dedupe key: None when
        one with that key exists (a redelivered event, a second campaign run). Two writers racing
        past the check collide on the unique index: Conflict, and the loser's transaction rolls
        back (its event is retried, and then finds the delivery). A delivery to a contact is
        announced with `message_queued` (contacts puts it on the customer's timeline)."""
        if tx[DELIVERIES].find({"dedupe_key": delivery["dedupe_key"]}, None, 1).items:
            return None
        stored = tx[DELIVERIES].insert(delivery)
        if stored.get("contact_id") and stored["channel"] != "webhook":  # a webhook POST is no message to the customer
            self.emit(tx, events.MESSAGE_QUEUED, stored)
        return stored

    # the dispatcher

    @timer(interval=DELIVERY_TIMER_SECONDS)
    def run_deliveries(self) -> None:
        try:
            counts = self.dispatch_due()
        except Exception:
            log.exception("the delivery dispatcher failed; the next run tries again")
            return
        if counts:
            log.info("deliveries dispatched: %s", dict(counts))

    def dispatch_due(self, now: datetime | None = None) -> Counter:
        """One dispatcher pass at `now` (default the clock): send every due delivery on a
        configured channel, oldest due first; returns the outcomes counted (sent, retrying, dead,
        queued (its channel is not configured), skipped (another instance has it, or an older
        delivery with its order_key is not finished))."""
        settings = Settings.from_env()
        now = now or self._now()
        at = rules.stamp(now)
        ready = [channel for channel in SENDERS if settings.not_configured(channel) is None]
        self._note_unconfigured(settings, now)
        counts: Counter = Counter()
        if not ready:
            return counts
        due = {"status": {"$in": list(rules.DUE)}, "next_attempt_at": {"$lte": at}, "channel": {"$in": ready}}
        cursor = None
        while True:
            page = self.store[DELIVERIES].find(due, [("next_attempt_at", 1)], settings.batch, cursor)
            for delivery in page.items:
                counts[self._deliver(delivery, settings, now)] += 1
            if not page.next_cursor:
                return counts
            cursor = page.next_cursor

    def _deliver(self, seen: dict, settings: Settings, now: datetime) -> str:
        claim = self._claim(seen, settings, now)
        if claim is None:
            return "skipped"
        try:
            provider_id = SENDERS[claim["channel"]](self._before_send(claim), settings)
        except ChannelNotConfigured as exc:
            outcome = rules.waiting_for_channel(claim, str(exc), now)
        except DeliveryFailed as exc:
            outcome = self._failed(claim, str(exc), exc.retryable, settings, now)
        except Exception as exc:  # a sender's own bug: retried like a provider failure, never lost
            log.exception("sending delivery %s failed unexpectedly", claim["id"])
            outcome = self._failed(claim, f"{type(exc).__name__}: {exc}", True, settings, now)
        else:
            outcome = rules.succeeded(claim, provider_id, now)
        return self._record(claim, outcome)

    def _failed(self, claim: dict, error: str, retryable: bool, settings: Settings, now: datetime) -> dict:
        return rules.failed(
            claim,
            error,
            retryable,
            now,
            settings.retry_base_seconds,
            settings.retry_max_seconds,
            settings.max_attempts,
        )

    def _claim(self, seen: dict, settings: Settings, now: datetime) -> dict | None:
        """Take the delivery for one attempt, if it is still as this pass saw it (the version
        check: another instance that took it first wins) and no older delivery with its
        order_key is unfinished."""
        at = rules.stamp(now)
        try:
            with self.store.transaction() as tx:
                current = tx[DELIVERIES].get(seen["id"])
                if current is None or current["version"] != seen["version"] or not rules.is_due(current, at):
                    return None
                if current.get("order_key") and self._waits_for_older(tx, current):
                    return None
                return tx[DELIVERIES].replace(
                    rules.claimed(current, now, settings.sending_lease_seconds), current["version"]
                )
        except (PreconditionFailed, Conflict):
            return None

    def _waits_for_older(self, tx, delivery: dict) -> bool:
        unfinished = {"order_key": delivery["order_key"], "status": {"$in": list(rules.OPEN)}}
        oldest = tx[DELIVERIES].find(unfinished, [("created_at", 1)], 1).items
        return bool(oldest) and oldest[0]["id"] != delivery["id"] and rules.goes_before(oldest[0], delivery)

    def _record(self, claim: dict, outcome: dict) -> str:
        """Store the attempt's outcome, with its event and hook, in one transaction. A claim
        taken over meanwhile (its lease ran out, an erasure cancelled it) keeps its new state."""
        try:
            with self.store.transaction() as tx:
                stored = tx[DELIVERIES].replace(outcome, claim["version"])
                if stored["status"] == rules.SENT and stored.get("contact_id") and stored["channel"] != "webhook":
                    self.emit(tx, events.MESSAGE_SENT, rules.sent_event(stored))
                self._on_delivery_result(tx, stored)
        except (PreconditionFailed, NotFound):
            log.warning("delivery %s changed while being sent; its %s is not recorded", claim["id"], outcome["status"])
            return "skipped"
        return stored["status"]

    def _note_unconfigured(self, settings: Settings, now: datetime) -> None:
        """Queued deliveries of a channel that is not configured say why they wait (written once,
        not on every pass); they go out as soon as the channel is configured."""
        for channel in SENDERS:
            reason = settings.not_configured(channel)
            if reason is None:
                continue
            flt = {"channel": channel, "status": rules.QUEUED, "last_error": {"$ne": reason}}
            for delivery in self.store[DELIVERIES].find(flt, [("created_at", 1)], settings.batch).items:
                try:
                    with self.store.transaction() as tx:
                        tx[DELIVERIES].replace(rules.waiting_for_channel(delivery, reason, now), delivery["version"])
                except (PreconditionFailed, NotFound):
                    continue  # it moved meanwhile: the next pass looks again

    # hooks for the other mixins

    def _before_send(self, delivery: dict) -> dict:
        """What the sender gets: the stored delivery (a channel mixin may add what the store must
        not hold in the delivery, such as a signing secret)."""
        return delivery

    def _on_delivery_result(self, tx, delivery: dict) -> None:
        """Called in the transaction that records an attempt's outcome (sent, retrying, dead,
        or queued again for an unconfigured channel)."""

    # the log

    def _delivery(self, source, delivery_id: str) -> dict:
        delivery = source[DELIVERIES].get(delivery_id) if isinstance(delivery_id, str) else None
        if delivery is None:
            raise NotFound(f"delivery {delivery_id} not found")
        return delivery

    def _find_deliveries(self, query: dict, scope: dict | None = None) -> dict:
        """A page of deliveries matching the list query within `scope` (a fixed filter)."""
        q = parse_list_query(query or {}, filterable=FILTERABLE, sortable=SORTABLE)
        clauses = [c for c in (scope, q.filter) if c]
        flt = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        page = self.store[DELIVERIES].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def list_deliveries(self, query: dict) -> dict:
        """The delivery log (admins): newest first; `where` / `filter` on channel, status, kind,
        contact_id, subscription_id, campaign_id, recipient_user_id, event_id, order_key."""
        require_role(self.caller, (ADMIN,), "read the delivery log")
        return self._find_deliveries(query)

    @rpc
    def get_delivery(self, delivery_id: str) -> dict:
        require_role(self.caller, (ADMIN,), "read the delivery log")
        return self._delivery(self.store, delivery_id)

    @rpc
    def replay_delivery(self, delivery_id: str) -> dict:
        """Queue a sent or dead delivery again (the same row: attempts from 0, `replays` + 1),
        due now; Conflict for one that is still on its way or was cancelled."""
        require_role(self.caller, (ADMIN,), "replay deliveries")
        return self._replay(delivery_id)

    def _replay(self, delivery_id: str, scope: dict | None = None) -> dict:
        with self.store.transaction() as tx:
            current = self._delivery(tx, delivery_id)
            if scope and any(current.get(field) != value for field, value in scope.items()):
                raise NotFound(f"delivery {delivery_id} not found")
            if current["status"] not in rules.REPLAYABLE:
                raise Conflict(f"delivery {delivery_id} is {current['status']}: only sent or dead ones can be replayed")
            return tx[DELIVERIES].replace(rules.replayed(current, self._now()), current["version"])
