"""The sales service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

PIPELINES = "pipelines"
DEALS = "deals"

SPECS = (
    CollectionSpec(PIPELINES, (Index(("name",)),)),
    CollectionSpec(
        DEALS,
        (
            Index(("created_at",)),
            Index(("contact_id", "created_at")),
            Index(("owner_id", "created_at")),
            Index(("pipeline_id", "stage_id")),
        ),
    ),
)
