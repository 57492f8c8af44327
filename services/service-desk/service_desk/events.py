"""Events the service desk publishes."""
SOURCE = "service_desk"

TICKET_CREATED = "ticket_created"  # payload: the ticket as stored
