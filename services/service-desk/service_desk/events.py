"""Events the service desk publishes, and those it consumes.

Consumed: contacts.contact_updated / contact_deleted (each ticket's `contact_owner_id`),
contacts.contact_erased (scrub the contact's tickets), contacts.contact_merged / company_merged
(tickets move to the survivor; each is a ticket_updated).
"""

TICKET_CREATED = "ticket_created"  # payload: the ticket as stored
TICKET_UPDATED = "ticket_updated"  # payload: the ticket after the change, plus `changes`: the changed field names
# payload: {contact_id, erasure_id, service: "service_desk", detail: {tickets_scrubbed}} after contacts.contact_erased
PERSONAL_DATA_ERASED = "personal_data_erased"
