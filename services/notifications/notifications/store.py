"""The notifications service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

NOTIFICATIONS = "notifications"
CONTACT_OWNERS = "contact_owners"  # projection of contacts events: who owns which customer

SPECS = (
    CollectionSpec(NOTIFICATIONS, (Index(("recipient_id", "created_at")), Index(("recipient_id", "read")))),
    CollectionSpec(CONTACT_OWNERS),
)
