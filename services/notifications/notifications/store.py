"""The notifications service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

NOTIFICATIONS = "notifications"
CONTACT_OWNERS = "contact_owners"  # projection of contacts events: who owns which customer
# Contacts whose personal data was erased: later events about them notify nobody.
ERASED_SUBJECTS = "erased_subjects"
# The delivery log of every email, SMS and webhook POST (in-app notifications are their own log):
# queued by whoever decides to tell someone, sent by the dispatcher (dispatch.py); `dedupe_key`
# unique, so one event (or campaign occurrence) never queues one message twice.
DELIVERIES = "deliveries"
# Greeting campaigns (campaigns.py): the campaigns, one claim per occurrence (id
# `<campaign_id>:<occurrence date>`: who is sending it, how far through the segment), and the
# contacts who unsubscribed from a channel (id `<contact_id>:<channel>`).
CAMPAIGNS = "campaigns"
CAMPAIGN_RUNS = "campaign_runs"
OPT_OUTS = "opt_outs"
# Webhook subscriptions (webhooks.py): {url, event_types, filters, secret, active, ...}; their
# deliveries are rows of the delivery log, channel `webhook`.
WEBHOOKS = "webhooks"
# Message templates admins wrote (templates.py): one per (key, channel, language); without one the
# built-in default of template_rules.py is used.
NOTIFICATION_TEMPLATES = "notification_templates"

SPECS = (
    CollectionSpec(
        NOTIFICATIONS,
        (
            Index(("recipient_id", "created_at")),
            Index(("recipient_id", "read")),
            # Which notifications are about a contact (its own, its deals' and tickets'): for the
            # personal-data export and erasure.
            Index(("contact_id",)),
            Index(("ref.id",)),
        ),
    ),
    CollectionSpec(CONTACT_OWNERS),
    CollectionSpec(ERASED_SUBJECTS),
    CollectionSpec(
        DELIVERIES,
        (
            Index(("dedupe_key",), unique=True),
            Index(("status", "next_attempt_at")),  # the dispatcher's work list
            Index(("order_key", "created_at")),  # who goes first among one record's deliveries
            Index(("contact_id", "created_at")),  # a contact's messages (export, erasure, the log)
            Index(("subscription_id", "created_at")),
            Index(("campaign_id", "created_at")),
            Index(("channel", "created_at")),
        ),
    ),
    CollectionSpec(CAMPAIGNS, (Index(("active", "created_at")), Index(("name",)))),
    CollectionSpec(CAMPAIGN_RUNS, (Index(("campaign_id", "occurrence")),)),
    CollectionSpec(OPT_OUTS, (Index(("contact_id",)),)),
    CollectionSpec(WEBHOOKS, (Index(("active", "created_at")),)),
    CollectionSpec(NOTIFICATION_TEMPLATES, (Index(("key", "channel", "language"), unique=True),)),
)
