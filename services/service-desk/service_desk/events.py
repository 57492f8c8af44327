"""Events the service desk publishes, and those it consumes.

Consumed: contacts.contact_updated / contact_deleted (each ticket's `contact_owner_id`).
"""

TICKET_CREATED = "ticket_created"  # payload: the ticket as stored
TICKET_UPDATED = "ticket_updated"  # payload: the ticket after the change, plus `changes`: the changed field names
