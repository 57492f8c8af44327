"""Input validation for deals at the service's edge."""

from crm_common.schema import Field

SERVER_OWNED = ("id", "created_at", "updated_at", "version", "created_by", "status", "stage_history")
CURRENCIES = ("CNY", "USD", "EUR", "GBP", "JPY", "HKD", "SGD")

DEAL_FIELDS = {
    "title": Field("text", required=True),
    "amount": Field("decimal", required=True),
    "currency": Field("choice", required=True, choices=CURRENCIES),
    "pipeline_id": Field("id", max_length=64),
    "stage_id": Field("id", max_length=64),
    "contact_id": Field("id", required=True, max_length=64),
    "company_id": Field("id", max_length=64),
    # Deals have no pool: every deal has an owner (the creator unless given).
    "owner_id": Field("id", max_length=64, nullable=False),
    "shared_with": Field("ids", nullable=False),
    "expected_close_date": Field("date"),
}

# What update_deal may change; the customer and the pipeline stay as created.
DEAL_UPDATE_FIELDS = {
    name: DEAL_FIELDS[name]
    for name in ("title", "amount", "currency", "stage_id", "expected_close_date", "owner_id", "shared_with")
}

DEAL_FILTERABLE = (
    "title",
    "pipeline_id",
    "stage_id",
    "status",
    "contact_id",
    "company_id",
    "owner_id",
    "shared_with",
    "currency",
    "expected_close_date",
    "created_at",
)
DEAL_SORTABLE = ("created_at", "updated_at", "expected_close_date", "title")
