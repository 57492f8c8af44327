"""The contacts service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

COMPANIES = "companies"
CONTACTS = "contacts"
TIMELINE = "timeline"
# Projection of the service desk's tickets: which customers each service team's tickets link to.
SERVICE_LINKS = "service_links"
# Projection of deals and tickets: their newest known access tokens, for their timeline entries.
REF_ACCESS = "ref_access"
# Every version of each company and contact, for `as_of` and for history that outlives a delete.
HISTORY = "history"
INTERACTIONS = "interactions"
CUSTOM_FIELDS = "custom_fields"
# Projection of sales' deals: which are open, per customer (open_deal_count on the customer).
DEAL_LINKS = "deal_links"

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
    CollectionSpec(HISTORY, (Index(("subject_id", "version")),)),
    CollectionSpec(
        INTERACTIONS,
        (
            Index(("contact_id", "occurred_at")),
            Index(("company_id", "occurred_at")),
            Index(("owner_id", "occurred_at")),
            Index(("occurred_at",)),
        ),
    ),
    CollectionSpec(CUSTOM_FIELDS, (Index(("entity", "key")),)),
    CollectionSpec(DEAL_LINKS, (Index(("contact_id", "open")), Index(("company_id", "open")))),
)
