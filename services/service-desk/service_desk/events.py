"""Events the service desk publishes, and those it consumes.

Consumed: contacts.contact_created / contact_updated / contact_deleted (each ticket's
`contact_owner_id`, the customer's value grade), contacts.contact_erased (scrub the contact's tickets),
contacts.contact_merged / company_merged (tickets move to the survivor; each is a ticket_updated).
Every payload below is the ticket as stored, plus the extras named.
"""

TICKET_CREATED = "ticket_created"
TICKET_UPDATED = "ticket_updated"  # + `changes`: the changed field names
TICKET_COMMENTED = "ticket_commented"  # {comment: {...}, ticket: {...}}
TICKET_MERGED = "ticket_merged"  # the survivor + `merged_ids`
TICKET_SLA_WARNING = "ticket_sla_warning"  # + metric, due_at, step_id, recipient_ids
TICKET_SLA_BREACHED = "ticket_sla_breached"  # + target (the metric), due_at, breached_at
TICKET_ESCALATED = "ticket_escalated"  # + step_id, reason (warning | breach), actions, recipient_ids
TICKET_SATISFACTION_REQUESTED = "ticket_satisfaction_requested"
TICKET_SATISFACTION_RATED = "ticket_satisfaction_rated"  # + score, comment, low
# payload: {contact_id, erasure_id, service: "service_desk", detail: {tickets_scrubbed, comments_scrubbed}}
# after contacts.contact_erased
PERSONAL_DATA_ERASED = "personal_data_erased"
