"""Events the search service consumes (it publishes none).

contacts.company_created, contacts.contact_created, contacts.contact_updated, contacts.contact_deleted,
sales.deal_created, service_desk.ticket_created.
"""
