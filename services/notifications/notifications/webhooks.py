"""Webhook subscriptions (admins only): their CRUD, delivery log and replay, the fan-out of catalog
events into deliveries (channel `webhook`, sent by the dispatcher), and switching off a subscription
whose receiver keeps failing (a mixin of NotificationsService, before the delivery machinery)."""

from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.caller import SYSTEM_USER
from crm_common.config import int_setting
from crm_common.envelope import new_event
from crm_common.errors import Conflict, NotFound, PreconditionFailed
from crm_common.listing import parse_list_query

from . import delivery_rules, events, webhook_rules
from .channels.webhook import GONE
from .store import DELIVERIES, WEBHOOKS

WEBHOOK_FILTERABLE = ("active", "url", "event_types", "created_by")
WEBHOOK_SORTABLE = ("created_at", "updated_at", "url")


def disable_after() -> int:
    """How many dead deliveries in a row switch a subscription off (WEBHOOK_DISABLE_AFTER, default 3)."""
    return max(1, int_setting("WEBHOOK_DISABLE_AFTER", 3))


class WebhooksRpc:
    """RPC entrypoints of webhook subscriptions, and the hooks the event handlers and dispatcher call."""

    def _webhook(self, source, webhook_id: str) -> dict:
        webhook = source[WEBHOOKS].get(webhook_id) if isinstance(webhook_id, str) else None
        if webhook is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return webhook

    @rpc
    def create_webhook(self, data: dict) -> dict:
        """The new subscription, with its signing `secret`: the only answer that shows it."""
        require_role(self.caller, (ADMIN,), "manage webhooks")
        fields = webhook_rules.checked_fields(data)
        webhook = webhook_rules.new_webhook(fields, self.caller.user_id, delivery_rules.stamp(self._now()))
        with self.store.transaction() as tx:
            return tx[WEBHOOKS].insert(webhook)

    @rpc
    def get_webhook(self, webhook_id: str) -> dict:
        require_role(self.caller, (ADMIN,), "manage webhooks")
        return webhook_rules.public(self._webhook(self.store, webhook_id))

    @rpc
    def list_webhooks(self, query: dict) -> dict:
        require_role(self.caller, (ADMIN,), "manage webhooks")
        q = parse_list_query(query, filterable=WEBHOOK_FILTERABLE, sortable=WEBHOOK_SORTABLE, booleans=("active",))
        page = self.store[WEBHOOKS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": [webhook_rules.public(w) for w in page.items], "next_cursor": page.next_cursor}

    @rpc
    def update_webhook(self, webhook_id: str, data: dict, expected_version: int | None = None) -> dict:
        """Change the URL, event types, filters, description or `active`; switching a disabled
        subscription back on clears its failure count. The secret never changes."""
        require_role(self.caller, (ADMIN,), "manage webhooks")
        changes = webhook_rules.checked_fields(data, partial=True)
        with self.store.transaction() as tx:
            current = self._webhook(tx, webhook_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"webhook {webhook_id} is at version {current['version']}")
            updated, changed = webhook_rules.apply_changes(current, changes, delivery_rules.stamp(self._now()))
            if not changed:
                return webhook_rules.public(current)
            if "active" in changed and not updated["active"]:
                self._stop_pending(tx, webhook_id, delivery_rules.DEAD, "the webhook was switched off")
            stored = tx[WEBHOOKS].replace(updated, current["version"])
        return webhook_rules.public(stored)

    @rpc
    def delete_webhook(self, webhook_id: str, expected_version: int | None = None) -> None:
        """Remove the subscription; its deliveries not sent yet are cancelled, the log stays."""
        require_role(self.caller, (ADMIN,), "manage webhooks")
        with self.store.transaction() as tx:
            current = self._webhook(tx, webhook_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"webhook {webhook_id} is at version {current['version']}")
            self._stop_pending(tx, webhook_id, delivery_rules.CANCELLED, "the webhook was deleted")
            tx[WEBHOOKS].delete(webhook_id, current["version"])

    # the delivery log

    @rpc
    def list_webhook_deliveries(self, webhook_id: str, query: dict) -> dict:
        """The subscription's deliveries, newest first; the delivery log's query (`where` / `filter`
        on status, kind (the event type), event_id, order_key, contact_id)."""
        require_role(self.caller, (ADMIN,), "manage webhooks")
        self._webhook(self.store, webhook_id)
        return self._find_deliveries(query, {"subscription_id": webhook_id, "channel": "webhook"})

    @rpc
    def replay_webhook_delivery(self, webhook_id: str, delivery_id: str) -> dict:
        """Send a dead or sent delivery again (the same row and id, attempts from 0, `replays` + 1,
        due now: a receiver may dedupe on the id). Refused while the subscription is switched off."""
        require_role(self.caller, (ADMIN,), "manage webhooks")
        webhook = self._webhook(self.store, webhook_id)
        if not webhook["active"]:
            raise Conflict(f"webhook {webhook_id} is switched off: switch it back on (active: true) to replay")
        return self._replay(delivery_id, scope={"subscription_id": webhook_id, "channel": "webhook"})

    # the fan-out, called by the handler of each catalog event

    def _feed_webhooks(self, tx, event) -> None:
        """One delivery per active subscription to the event's type whose filters match; none for an
        event about an erased customer. A redelivered event queues nothing twice (`dedupe_key`)."""
        event_type = f"{event.source}.{event.event_type}"
        if event_type not in webhook_rules.CATALOG:
            return
        _, _, contact_id = webhook_rules.record_of(event_type, event.payload)
        if contact_id and self._erased(tx, contact_id):
            return
        now = delivery_rules.stamp(self._now())
        for webhook in tx[WEBHOOKS].iterate({"active": True, "event_types": {"$contains": event_type}}):
            if not webhook_rules.matches(webhook["filters"], event.payload):
                continue
            self._queue_delivery(tx, webhook_rules.delivery(webhook, event_type, event, now))

    def _stop_pending(self, tx, webhook_id: str, status: str, reason: str) -> int:
        """End the subscription's deliveries still waiting (not one being sent right now): `dead`
        when it is switched off (replayable once it is back on), `cancelled` when it is deleted."""
        waiting = {"subscription_id": webhook_id, "status": {"$in": [delivery_rules.QUEUED, delivery_rules.RETRYING]}}
        now = delivery_rules.stamp(self._now())
        stopped = 0
        for delivery in list(tx[DELIVERIES].iterate(waiting)):
            ended = {**delivery, "status": status, "last_error": reason, "next_attempt_at": None, "updated_at": now}
            tx[DELIVERIES].replace(ended, delivery["version"])
            stopped += 1
        return stopped

    def _before_send(self, delivery: dict) -> dict:
        """A webhook delivery goes to its subscription's current URL, signed with its secret (which
        the delivery row never holds); without either (deleted, switched off) the sender refuses it."""
        delivery = super()._before_send(delivery)
        if delivery.get("channel") != "webhook":
            return delivery
        webhook = self.store[WEBHOOKS].get(delivery.get("subscription_id") or "")
        if webhook is None or not webhook["active"]:
            return {**delivery, "secret": None}
        return {**delivery, "to": webhook["url"], "secret": webhook["secret"]}

    def _on_delivery_result(self, tx, delivery: dict) -> None:
        """Count a webhook's dead deliveries in a row: a sent one resets the count; WEBHOOK_DISABLE_AFTER
        of them (or one answered 410 Gone) switch the subscription off, end what it still has
        waiting (dead: replayable once it is back on), and announce `webhook_disabled`."""
        super()._on_delivery_result(tx, delivery)
        # Written with put, read in this transaction: a version conflict here would undo the
        # recorded outcome and get the delivery sent twice; a lost count is the lesser harm.
        if delivery.get("channel") != "webhook" or delivery.get("status") not in ("sent", "dead"):
            return
        webhook = tx[WEBHOOKS].get(delivery.get("subscription_id") or "")
        if webhook is None:
            return
        if delivery["status"] == "sent":
            if webhook["consecutive_failures"]:
                tx[WEBHOOKS].put({**webhook, "consecutive_failures": 0})
            return
        failures = webhook["consecutive_failures"] + 1
        gone = (delivery.get("last_error") or "").startswith(GONE)
        if not webhook["active"] or (failures < disable_after() and not gone):
            tx[WEBHOOKS].put({**webhook, "consecutive_failures": failures})
            return
        now = delivery_rules.stamp(self._now())
        reason = (
            "the receiver answered 410 Gone"
            if gone
            else f"{failures} deliveries in a row failed; the last: {delivery.get('last_error')}"
        )[:500]
        disabled = {
            **webhook,
            "active": False,
            "consecutive_failures": failures,
            "disabled_reason": reason,
            "disabled_at": now,
            "updated_at": now,
        }
        stored = tx[WEBHOOKS].put(disabled)
        self._stop_pending(
            tx, webhook["id"], delivery_rules.DEAD, "the webhook was switched off after failing deliveries"
        )
        # The dispatcher acts as the system, whoever's request queued the delivery.
        tx.emit(new_event(events.WEBHOOK_DISABLED, self.name, webhook_rules.public(stored), actor=SYSTEM_USER))
