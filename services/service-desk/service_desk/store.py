"""The service desk's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

TICKETS = "tickets"
# Projection of the contacts events: each customer's newest known owner and its version.
CONTACT_OWNERS = "contact_owners"
# Contacts whose personal data was erased: later events and new tickets about them are refused.
ERASED_SUBJECTS = "erased_subjects"
# Customers merged into another (contacts' contact_merged / company_merged): id
# `<subject_type>:<old id>`, `merged_into`. Tickets follow them, also tickets filed during a merge.
MERGED_CUSTOMERS = "merged_customers"

SPECS = (
    CollectionSpec(
        TICKETS,
        (
            Index(("created_at",)),
            Index(("contact_id", "created_at")),
            Index(("company_id", "created_at")),
            Index(("status", "created_at")),
            Index(("assignee_id", "created_at")),
            Index(("team_id", "created_at")),
            Index(("contact_owner_id", "created_at")),
        ),
    ),
    CollectionSpec(CONTACT_OWNERS),
    CollectionSpec(ERASED_SUBJECTS),
    CollectionSpec(MERGED_CUSTOMERS),
)
