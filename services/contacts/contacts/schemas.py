"""Input validation for companies and contacts at the service's edge."""

from crm_common.schema import Field

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketing_qualified",
    "sales_qualified",
    "opportunity",
    "customer",
    "loyal",
    "churned",
)
SERVER_OWNED = (
    "id",
    "created_at",
    "updated_at",
    "version",
    "created_by",
    "display_name",
    "value_grade",
    "churn_risk",
    "owner_history",
)

COMPANY_FIELDS = {
    "name": Field("text", required=True),
    "tax_id": Field("text", max_length=64),
    "industry": Field("text", max_length=100),
    "size": Field("text", max_length=50),
    "owner_id": Field("id", max_length=64),
    "shared_with": Field("ids", nullable=False),
    "custom_fields": Field("object", nullable=False),
}

# owner_id null puts a customer in the shared pool; fields with defaults refuse null.
CONTACT_FIELDS = {
    "first_name": Field("text", max_length=100),
    "last_name": Field("text", max_length=100),
    "email": Field("email", max_length=254),
    "phone": Field("phone", max_length=40),
    "company_id": Field("id", max_length=64),
    "owner_id": Field("id", max_length=64),
    "shared_with": Field("ids", nullable=False),
    "lifecycle_stage": Field("choice", choices=LIFECYCLE_STAGES, nullable=False),
    "tags": Field("tags", nullable=False),
    "custom_fields": Field("object", nullable=False),
}

CONTACT_FILTERABLE = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_id",
    "owner_id",
    "shared_with",
    "lifecycle_stage",
    "tags",
    "created_at",
    "updated_at",
    "value_grade",
    "custom_fields.",
)
CONTACT_SORTABLE = ("created_at", "updated_at", "last_name", "first_name", "email")
COMPANY_FILTERABLE = ("name", "tax_id", "industry", "size", "owner_id", "shared_with", "created_at", "custom_fields.")
COMPANY_SORTABLE = ("created_at", "updated_at", "name")
TIMELINE_KINDS = ("contact", "company", "interaction", "deal", "order", "ticket", "message")
