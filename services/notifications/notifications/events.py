"""Events the notifications service publishes and consumes.

Consumed (each staff notice is told as its kind's rule says, notices.py):
contacts.contact_created / contact_updated / contact_deleted / contact_merged / contact_claimed /
contact_released (owner projection),
contacts.contact_assigned / contact_reclaimed / pool_reclaim_warned / customers_handed_over (the
customer pool: the new, the former or the warned owner, the hand-over's recipients),
sales.deal_created and service_desk.ticket_created (notify the customer's owner),
sales.task_created / task_updated / task_reminder_due / task_overdue, deal_updated (a deal whose
status became won: deal_won), deal_rotting and churn_risk_changed (notify the assignee, the task's
creator, the deal's or the customer's owner; see sales_alerts.py),
contacts.interaction_logged / interaction_updated (the colleagues an interaction's summary newly
mentions; see mentions.py),
contacts.erasure_completed (tell the admin who asked for the erasure),
service_desk.ticket_created / ticket_updated / ticket_commented / ticket_sla_warning /
ticket_escalated / ticket_satisfaction_requested (the assignee, the people a staff comment
mentions, the escalation's recipients, and emails queued for the customer; see
service_desk_alerts.py). Every catalog event also feeds the webhook subscriptions (webhook_feed.py).
"""

# A message to a contact (email or SMS) was queued in `deliveries` (dispatch.py `_queue_delivery`).
# Payload: the delivery as stored (delivery_rules.new_delivery: {id, channel, to, subject, body,
# kind, language, contact_id, campaign_id, dedupe_key, status: "queued", ref, event_id, created_at,
# ...}) with `ticket`: {id, version, contact_id, company_id, team_id, assignee_id, contact_owner_id}
# for a customer email about a ticket, else null (contacts puts it on the customer's timeline, seen
# by who sees the ticket, or the customer).
MESSAGE_QUEUED = "message_queued"

# A message to a contact went out (the dispatcher, after the provider took it). Payload
# {id, contact_id, company_id, channel, subject, kind, language, ref, campaign_id, provider_id,
# sent_at, ticket} (delivery_rules.sent_event: never the body or the address); contacts puts it
# on the timeline like message_queued.
MESSAGE_SENT = "message_sent"

# Consumed: contacts.contact_erased (scrub the notifications about the contact and the contacts
# merged into it). Published then:
# payload {contact_id, erasure_id, service: "notifications",
#          detail: {notifications_scrubbed, deliveries_scrubbed, owner_projection_removed}}
PERSONAL_DATA_ERASED = "personal_data_erased"

# An in-app notification was written (inbox.py `_put_in_app`; once per notification, never for a
# change to a stored one). Payload {id, recipient_id, title, body, ref: {type, id}, created_at}:
# consumed by the gateway's live event stream (GET /api/v1/events/stream) from an exclusive queue
# per gateway process, and by the durable `notifications.live-sink` queue (live_sink.py), which
# keeps nothing: the event is a live signal, the inbox (list_notifications) is the record.
NOTIFICATION_CREATED = "notification_created"

# A webhook subscription was switched off after WEBHOOK_DISABLE_AFTER dead deliveries in a row, or
# a 410 Gone (webhooks.py). Payload: the webhook without its secret {id, url, event_types, filters,
# description, active: false, disabled_reason, disabled_at, consecutive_failures, created_by, ...}.
# Consumed by notifications itself (webhook_feed.py): the admin who created it is told in-app.
WEBHOOK_DISABLED = "webhook_disabled"
