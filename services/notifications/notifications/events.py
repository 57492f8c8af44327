"""Events the notifications service publishes and consumes.

Consumed: contacts.contact_created / contact_updated / contact_deleted / contact_merged (owner projection),
sales.deal_created and service_desk.ticket_created (notify the customer's owner),
sales.task_created / task_updated / task_reminder_due / task_overdue, deal_rotting and churn_risk_changed
(notify the assignee, the task's creator, the deal's or the customer's owner; see sales_alerts.py),
contacts.erasure_completed (tell the admin who asked for the erasure),
service_desk.ticket_created / ticket_updated / ticket_commented / ticket_sla_warning /
ticket_escalated / ticket_satisfaction_requested (the assignee, the
escalation's recipients, and emails queued for the customer; see service_desk_alerts.py).
"""

# An email to a customer was queued (the email channel, issue 7, sends it). Payload: the message
# {id, contact_id, channel: "email", to, subject, body, status: "queued", kind, language, ref,
# event_id, created_at} plus `ticket`: {id, version, contact_id, company_id, team_id, assignee_id,
# contact_owner_id} (contacts puts it on the ticket's timeline, seen by who sees the ticket).
MESSAGE_QUEUED = "message_queued"

# Consumed: contacts.contact_erased (scrub the notifications about the contact and the contacts
# merged into it). Published then:
# payload {contact_id, erasure_id, service: "notifications",
#          detail: {notifications_scrubbed, customer_messages_scrubbed, owner_projection_removed}}
PERSONAL_DATA_ERASED = "personal_data_erased"
