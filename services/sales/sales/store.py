"""The sales service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

PIPELINES = "pipelines"
DEALS = "deals"
# Customers merged into another (contacts' contact_merged / company_merged): id
# `<subject_type>:<old id>`, `merged_into`. Deals follow them, also deals created during a merge.
MERGED_CUSTOMERS = "merged_customers"

SPECS = (
    CollectionSpec(PIPELINES, (Index(("name",)),)),
    CollectionSpec(
        DEALS,
        (
            Index(("created_at",)),
            Index(("contact_id", "created_at")),
            Index(("company_id", "created_at")),
            Index(("owner_id", "created_at")),
            Index(("pipeline_id", "stage_id")),
        ),
    ),
    CollectionSpec(MERGED_CUSTOMERS),
)
