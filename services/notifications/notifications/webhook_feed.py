"""Handlers of the catalog events nothing else in notifications consumes: each only feeds the
webhook subscriptions (the handlers of the other catalog events call `_feed_webhooks` themselves);
and the notice (kind `webhook_disabled`) to the admin who set up a webhook that was switched off. A mixin of
NotificationsService."""

from crm_common.runtime.events import handle_event


class WebhookFeed:
    """One handler per event type; the method name is part of its durable queue's name."""

    @handle_event("contacts", "company_created")
    def on_company_created(self, tx, event) -> None:
        self._feed_webhooks(tx, event)

    @handle_event("contacts", "company_updated")
    def on_company_updated(self, tx, event) -> None:
        self._feed_webhooks(tx, event)

    @handle_event("contacts", "company_deleted")
    def on_company_deleted(self, tx, event) -> None:
        self._feed_webhooks(tx, event)

    @handle_event("sales", "order_created")
    def on_order_created(self, tx, event) -> None:
        self._feed_webhooks(tx, event)

    @handle_event("sales", "order_updated")
    def on_order_updated(self, tx, event) -> None:
        self._feed_webhooks(tx, event)

    @handle_event("service_desk", "ticket_sla_breached")
    def on_ticket_sla_breached(self, tx, event) -> None:
        # Who hears of a breach in-app is the escalation ladder's (ticket_escalated): webhooks only.
        self._feed_webhooks(tx, event)

    @handle_event("service_desk", "ticket_satisfaction_rated")
    def on_ticket_satisfaction_rated(self, tx, event) -> None:
        self._feed_webhooks(tx, event)

    @handle_event("notifications", "webhook_disabled")
    def on_webhook_disabled(self, tx, event) -> None:
        webhook = event.payload
        # One the platform set up has nobody to tell but the rule's user_ids (`_notify` skips `system`).
        body = f"{webhook['url']}: {webhook.get('disabled_reason') or 'deliveries kept failing'}"[:1000]
        audiences = {"creator": [webhook.get("created_by")]}
        self._notify(
            tx, event, "webhook_disabled", audiences, "Webhook switched off", body, "webhook", {"id": webhook["id"]}
        )
