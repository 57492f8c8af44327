"""The contacts service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

COMPANIES = "companies"
CONTACTS = "contacts"
TIMELINE = "timeline"

SPECS = (
    CollectionSpec(COMPANIES, (Index(("created_at",)), Index(("owner_id", "created_at")), Index(("name",)))),
    CollectionSpec(
        CONTACTS,
        (
            Index(("created_at",)),
            Index(("owner_id", "created_at")),
            Index(("email",)),
            Index(("company_id",)),
            Index(("lifecycle_stage", "created_at")),
        ),
    ),
    CollectionSpec(TIMELINE, (Index(("subject_id", "occurred_at")), Index(("subject_id", "kind", "occurred_at")))),
)
