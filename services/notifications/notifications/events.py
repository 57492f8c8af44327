"""Events the notifications service publishes (none yet) and consumes.

Consumed: contacts.contact_created / contact_updated / contact_deleted (owner projection),
sales.deal_created and service_desk.ticket_created (notify the customer's owner).
"""
