"""Events the search service consumes (it publishes none).

contacts.company_created, contacts.company_updated, contacts.company_deleted, contacts.contact_created,
contacts.contact_updated, contacts.contact_deleted, sales.deal_created, sales.deal_updated,
service_desk.ticket_created, service_desk.ticket_updated.
"""
