"""The contacts service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

COMPANIES = "companies"
CONTACTS = "contacts"
TIMELINE = "timeline"
# Projection of the service desk's tickets: which customers each service team's tickets link to.
SERVICE_LINKS = "service_links"
# Projection of deals and tickets: their newest known access tokens, for their timeline entries.
REF_ACCESS = "ref_access"

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
    CollectionSpec(
        TIMELINE,
        (Index(("subject_id", "occurred_at")), Index(("subject_id", "kind", "occurred_at")), Index(("ref.id",))),
    ),
    CollectionSpec(SERVICE_LINKS, (Index(("subject_type", "team_id", "linked_at")),)),
    CollectionSpec(REF_ACCESS),
)
