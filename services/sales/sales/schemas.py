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
    "owner_id": Field("id", max_length=64),
    "expected_close_date": Field("date"),
}

DEAL_FILTERABLE = (
    "title",
    "pipeline_id",
    "stage_id",
    "status",
    "contact_id",
    "company_id",
    "owner_id",
    "currency",
    "expected_close_date",
    "created_at",
)
DEAL_SORTABLE = ("created_at", "updated_at", "expected_close_date", "title")
