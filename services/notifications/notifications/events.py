"""Events the notifications service publishes and consumes.

Consumed: contacts.contact_created / contact_updated / contact_deleted / contact_merged (owner projection),
sales.deal_created and service_desk.ticket_created (notify the customer's owner),
sales.task_created / task_updated / task_reminder_due / task_overdue, deal_rotting and churn_risk_changed
(notify the assignee, the task's creator, the deal's or the customer's owner; see sales_alerts.py),
contacts.erasure_completed (tell the admin who asked for the erasure).
"""

# Consumed: contacts.contact_erased (scrub the notifications about the contact and the contacts
# merged into it). Published then:
# payload {contact_id, erasure_id, service: "notifications", detail: {notifications_scrubbed, owner_projection_removed}}
PERSONAL_DATA_ERASED = "personal_data_erased"
