"""Events the search service consumes and the one it publishes.

Consumed: contacts.company_created, contacts.company_updated, contacts.company_deleted,
contacts.contact_created, contacts.contact_updated, contacts.contact_deleted, contacts.contact_erased,
contacts.contact_merged, contacts.company_merged (the merged records leave the index),
contacts.interaction_logged, contacts.interaction_updated, contacts.interaction_deleted,
sales.deal_created, sales.deal_updated, sales.order_created, sales.order_updated,
service_desk.ticket_created, service_desk.ticket_updated, service_desk.ticket_merged (the merged
duplicates leave the index).
"""

# payload: {contact_id, erasure_id, service: "search", detail: {documents_removed}} after contacts.contact_erased
PERSONAL_DATA_ERASED = "personal_data_erased"
