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
# Who hears of what (notice_rules.py): one rule per notice kind (id = the kind), written by admins;
# a kind without one follows its built-in default.
NOTIFICATION_RULES = "notification_rules"
# Each staff user's own notification preferences (id = user id): channels, quiet hours, digest, mutes.
NOTIFICATION_PREFERENCES = "notification_preferences"
# Staff notices for their recipient's email digest (id = the notice's id: a redelivered event
# writes one entry once): `state` "waiting" until the digest timer sends them, then "sent" with the
# `digest_delivery_id` of the email that told them (kept: the export and an erasure find it).
NOTICE_DIGEST_ENTRIES = "notice_digest_entries"
# Who was already told of a mention in a text (id `interaction:<interaction_id>:<user_id>` or
# `comment:<comment_id>:<user_id>`): editing an interaction tells only the newly mentioned.
MENTIONS_SEEN = "mentions_seen"

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
            Index(("about_contact_id", "created_at")),  # staff notices naming a customer (export, erasure)
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
    CollectionSpec(NOTIFICATION_RULES),
    CollectionSpec(NOTIFICATION_PREFERENCES),
    CollectionSpec(
        NOTICE_DIGEST_ENTRIES,
        (
            Index(("state", "user_id", "created_at")),  # the digest timer's work list: waiting ones
            Index(("about_contact_id",)),  # a customer's (export, erasure)
        ),
    ),
    CollectionSpec(MENTIONS_SEEN),
)
