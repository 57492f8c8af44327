"""Events the sales service publishes (names here; payloads in the README's events table).

Consumed: contacts' customer and interaction events (the `customers` projection, lead scoring),
contact_merged / company_merged (deals, orders, tasks and figures follow the survivor),
contact_erased; service_desk.ticket_satisfaction_rated (a low answer: a follow-up task for the owner).
"""

DEAL_CREATED = "deal_created"  # payload: the deal as stored
DEAL_UPDATED = "deal_updated"  # payload: the deal after the change, plus `changes` and `stage_name`
DEAL_ROTTING = "deal_rotting"  # payload: the deal, plus `stage_name` and `rotting_days`: it sat too long in its stage
ORDER_CREATED = "order_created"  # payload: the order as stored
ORDER_UPDATED = "order_updated"  # payload: the order after the change, plus `changes`
TASK_CREATED = "task_created"  # payload: the task as stored
TASK_UPDATED = "task_updated"  # payload: the task after the change, plus `changes`
TASK_REMINDER_DUE = "task_reminder_due"  # payload: the task; its reminder time has come
TASK_OVERDUE = "task_overdue"  # payload: the task; past its due time and not done (once per due time)
CUSTOMER_GRADED = "customer_graded"  # payload: {subject_type, id, value_grade, rfm}
CHURN_RISK_CHANGED = (
    "churn_risk_changed"  # payload: {subject_type, id, churn_risk, reason, evidence, owner_id, display_name}
)
LEAD_SCORED = "lead_scored"  # payload: {subject_type: contact, id, score, breakdown, lifecycle_stage}
# payload: {contact_id, erasure_id, service: "sales", detail: {...}} after contacts.contact_erased
PERSONAL_DATA_ERASED = "personal_data_erased"
