"""The service desk's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

TICKETS = "tickets"
# Projection of the contacts events: each customer's newest known owner and its version.
CONTACT_OWNERS = "contact_owners"

SPECS = (
    CollectionSpec(
        TICKETS,
        (
            Index(("created_at",)),
            Index(("contact_id", "created_at")),
            Index(("status", "created_at")),
            Index(("assignee_id", "created_at")),
            Index(("team_id", "created_at")),
            Index(("contact_owner_id", "created_at")),
        ),
    ),
    CollectionSpec(CONTACT_OWNERS),
)
