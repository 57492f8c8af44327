"""Events the search service consumes and the one it publishes.

Consumed: contacts.company_created, contacts.company_updated, contacts.company_deleted,
contacts.contact_created, contacts.contact_updated, contacts.contact_deleted, contacts.contact_erased,
contacts.contact_merged, contacts.company_merged (the merged records leave the index),
sales.deal_created, sales.deal_updated, service_desk.ticket_created, service_desk.ticket_updated.
"""

# payload: {contact_id, erasure_id, service: "search", detail: {documents_removed}} after contacts.contact_erased
PERSONAL_DATA_ERASED = "personal_data_erased"
