"""Events the service desk publishes."""

TICKET_CREATED = "ticket_created"  # payload: the ticket as stored
