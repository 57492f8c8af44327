"""Input validation at the service's edge: pipelines, deals, orders, tasks and quotas."""

from crm_common.schema import Field

from .domain import FORECAST_CATEGORIES, MAX_STAGES
from .money import CURRENCIES

# A deal's server-kept fields: refused in a body.
SERVER_OWNED = (
    "id",
    "created_at",
    "updated_at",
    "version",
    "created_by",
    "stage_history",
    "closed_at",
    "stage_entered_at",
    "rotting_at",
    "rotting",
    "furthest_stage_id",
)

# pipelines and deals

# A pipeline's stages come whole: a PATCH with `stages` replaces the list (ids keep a stage's deals).
STAGE_FIELDS = {
    "id": Field("id", max_length=64),
    "name": Field("text", required=True, max_length=100),
    "probability": Field("int", required=True, nullable=False),
    "rotting_days": Field("int"),
    "forecast_category": Field("choice", choices=FORECAST_CATEGORIES),
}
PIPELINE_FIELDS = {
    "name": Field("text", required=True, max_length=100),
    "business_line": Field("text", max_length=100),
    "stages": Field("records", required=True, nullable=False, max_items=MAX_STAGES, fields=STAGE_FIELDS),
}
PIPELINE_SERVER_OWNED = ("id", "created_at", "updated_at", "version", "created_by")
PIPELINE_FILTERABLE = ("name", "business_line", "created_at")
PIPELINE_SORTABLE = ("name", "created_at", "updated_at")

# A deal's and an order's line items alike (money.settled_amount makes their amount).
LINE_ITEM_FIELDS = {
    "product": Field("text", required=True),
    "sku": Field("text", max_length=64),
    "quantity": Field("decimal", required=True, nullable=False),
    "unit_price": Field("decimal", required=True, nullable=False),
}
DEAL_STATUSES = ("open", "won", "lost")

DEAL_FIELDS = {
    "title": Field("text", required=True),
    # Required unless the deal has line items: then it is their sum.
    "amount": Field("decimal", nullable=False),
    "currency": Field("choice", required=True, choices=CURRENCIES),
    "pipeline_id": Field("id", max_length=64),
    "stage_id": Field("id", max_length=64),
    "contact_id": Field("id", required=True, max_length=64),
    "company_id": Field("id", max_length=64),
    # Deals have no pool: every deal has an owner (the creator unless given).
    "owner_id": Field("id", max_length=64, nullable=False),
    "shared_with": Field("ids", nullable=False),
    "expected_close_date": Field("date"),
    "line_items": Field("records", nullable=False, max_items=100, fields=LINE_ITEM_FIELDS),
    # won: to the pipeline's won stage; lost (with lost_reason): to its first lost stage; open: reopen.
    "status": Field("choice", nullable=False, choices=DEAL_STATUSES),
    "lost_reason": Field("text", max_length=500),
}

# What update_deal may change; the customer and the pipeline stay as created.
DEAL_UPDATE_FIELDS = {
    name: DEAL_FIELDS[name]
    for name in (
        "title",
        "amount",
        "currency",
        "stage_id",
        "status",
        "lost_reason",
        "line_items",
        "expected_close_date",
        "owner_id",
        "shared_with",
    )
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
    "closed_at",
    "rotting",
)
DEAL_SORTABLE = ("created_at", "updated_at", "expected_close_date", "title", "closed_at")

# orders

ORDER_STATUSES = ("pending", "confirmed", "paid", "shipped", "completed", "cancelled", "refunded")
PAYMENT_METHODS = ("cash", "bank_transfer", "card", "alipay", "wechat_pay", "credit", "other")
ORDER_SERVER_OWNED = ("id", "created_at", "updated_at", "version", "created_by", "deal_id")
ORDER_FIELDS = {
    "contact_id": Field("id", max_length=64),
    "company_id": Field("id", max_length=64),
    "ordered_at": Field("datetime"),
    "line_items": Field("records", max_items=200, fields=LINE_ITEM_FIELDS, nullable=False),
    # Required unless the order has line items: then it is their sum.
    "amount": Field("decimal", nullable=False),
    "currency": Field("choice", required=True, choices=CURRENCIES),
    "status": Field("choice", choices=ORDER_STATUSES, nullable=False),
    "payment_method": Field("choice", choices=PAYMENT_METHODS),
    "reference": Field("text", max_length=64),
    "notes": Field("text", max_length=2000),
    "owner_id": Field("id", max_length=64, nullable=False),
    "shared_with": Field("ids", nullable=False),
}
# The customer an order belongs to stays as created (merges move it, nobody else).
ORDER_UPDATE_FIELDS = {name: spec for name, spec in ORDER_FIELDS.items() if name not in ("contact_id", "company_id")}
ORDER_FILTERABLE = (
    "contact_id",
    "company_id",
    "deal_id",
    "owner_id",
    "shared_with",
    "status",
    "payment_method",
    "currency",
    "reference",
    "ordered_at",
    "created_at",
)
ORDER_SORTABLE = ("ordered_at", "created_at", "updated_at")

# Tasks

TASK_KINDS = ("call", "email", "meeting", "visit", "return_visit", "todo")
TASK_PRIORITIES = ("low", "normal", "high")
TASK_SERVER_OWNED = (
    "id",
    "created_at",
    "updated_at",
    "version",
    "created_by",
    "done_at",
    "reminded_for",
    "escalated_for",
    "reminder_due_at",
    "overdue_due_at",
)
TASK_FIELDS = {
    "title": Field("text", required=True),
    "description": Field("text", max_length=5000),
    "kind": Field("choice", choices=TASK_KINDS, nullable=False),
    "priority": Field("choice", choices=TASK_PRIORITIES, nullable=False),
    "due_at": Field("datetime"),
    "remind_at": Field("datetime"),
    "reminder_minutes_before": Field("int"),
    # Tasks have no pool: every task has an assignee (the creator unless given).
    "assignee_id": Field("id", max_length=64, nullable=False),
    "contact_id": Field("id", max_length=64),
    "company_id": Field("id", max_length=64),
    "deal_id": Field("id", max_length=64),
    "done": Field("bool", nullable=False),
}
TASK_FILTERABLE = (
    "title",
    "kind",
    "priority",
    "done",
    "assignee_id",
    "created_by",
    "contact_id",
    "company_id",
    "deal_id",
    "due_at",
    "remind_at",
    "done_at",
    "created_at",
)
TASK_SORTABLE = ("due_at", "remind_at", "created_at", "updated_at", "title")

# quotas

QUOTA_SERVER_OWNED = ("id", "created_at", "updated_at", "version", "created_by")
QUOTA_FIELDS = {
    "owner_id": Field("id", required=True, max_length=64),
    "period": Field("text", required=True, max_length=7),  # YYYY-MM or YYYY-Qn (checked in reports.py)
    "amount": Field("decimal", required=True),
    "currency": Field("choice", required=True, choices=CURRENCIES),
}
# A quota's owner and period are what it is: change the amount, or delete it and set another.
QUOTA_UPDATE_FIELDS = {name: QUOTA_FIELDS[name] for name in ("amount", "currency")}
QUOTA_FILTERABLE = ("owner_id", "period", "currency", "created_at")
QUOTA_SORTABLE = ("period", "owner_id", "created_at", "updated_at")
