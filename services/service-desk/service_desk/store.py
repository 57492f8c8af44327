"""The service desk's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

TICKETS = "tickets"

SPECS = (
    CollectionSpec(
        TICKETS,
        (
            Index(("created_at",)),
            Index(("contact_id", "created_at")),
            Index(("status", "created_at")),
            Index(("assignee_id", "created_at")),
        ),
    ),
)
