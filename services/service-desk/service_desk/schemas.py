"""Input validation for tickets and their comments at the service's edge."""

from crm_common.schema import Field

from .domain import STATUSES

# Set by the server: the workflow's stamps, the SLA (sla.py), the roster, the survey, merges.
SERVER_OWNED = (
    "id",
    "created_at",
    "updated_at",
    "version",
    "created_by",
    "status",
    "breached",
    "first_response_due_at",
    "resolution_due_at",
    "sla",
    "sla_next_check_at",
    "contact_owner_id",
    "customer_grade",
    "first_responded_at",
    "resolved_at",
    "closed_at",
    "reopened_count",
    "merged_into",
    "escalation_level",
    "satisfaction",
)
# status is the server's at creation (`new`) and the client's afterwards; when the request
# arrived is said once, at creation (the SLA clocks started there).
UPDATE_SERVER_OWNED = tuple(name for name in SERVER_OWNED if name != "status") + ("received_at",)
KINDS = ("inquiry", "incident", "complaint", "request")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "phone", "chat", "web", "social", "visit")
VALUE_GRADES = ("A", "B", "C", "D")  # the contacts' value_grade (published by sales): A brings the most
MAX_ATTACHMENTS = 20

# Metadata only: the file itself lives wherever `url` points.
ATTACHMENT_FIELDS = {
    "name": Field("text", required=True, max_length=255),
    "content_type": Field("text", required=True, max_length=100),
    "size_bytes": Field("int", required=True),
    "url": Field("text", required=True, max_length=2000),
}
ATTACHMENTS = Field("records", fields=ATTACHMENT_FIELDS, max_items=MAX_ATTACHMENTS, nullable=False)

TICKET_FIELDS = {
    "subject": Field("text", required=True),
    "description": Field("text", max_length=20000, nullable=False),
    "kind": Field("choice", choices=KINDS, nullable=False),
    "priority": Field("choice", choices=PRIORITIES, nullable=False),
    "channel": Field("choice", choices=CHANNELS, nullable=False),
    "category": Field("text", max_length=100),
    "contact_id": Field("id", required=True, max_length=64),
    "company_id": Field("id", max_length=64),
    "assignee_id": Field("id", max_length=64),
    "team_id": Field("id", max_length=64),
    "received_at": Field("datetime", max_length=64),
    "attachments": ATTACHMENTS,
}

TICKET_UPDATE_FIELDS = {
    **{
        name: TICKET_FIELDS[name]
        for name in ("subject", "description", "kind", "priority", "category", "assignee_id", "team_id", "attachments")
    },
    "status": Field("choice", choices=STATUSES, nullable=False),
}

TICKET_FILTERABLE = (
    "kind",
    "priority",
    "status",
    "category",
    "customer_grade",
    "channel",
    "contact_id",
    "company_id",
    "assignee_id",
    "team_id",
    "contact_owner_id",
    "breached",
    "received_at",
    "created_at",
    "first_response_due_at",
    "resolution_due_at",
)
# Stored fields only: `breached` and the due times of a paused clock are read live.
TICKET_SORTABLE = ("created_at", "updated_at", "received_at", "first_response_due_at", "resolution_due_at")

COMMENT_FIELDS = {
    "body": Field("text", required=True, max_length=20000),
    "public": Field("bool", nullable=False),
    # `customer`: the customer's own message, logged on their behalf (an email reply an integration posts).
    "author_type": Field("choice", choices=("staff", "customer"), nullable=False),
    "attachments": ATTACHMENTS,
}
COMMENT_SERVER_OWNED = ("id", "ticket_id", "author_id", "created_at", "version", "merged_from")
COMMENT_FILTERABLE = ("public", "author_type", "author_id", "created_at")

MERGE_FIELDS = {"duplicate_ids": Field("ids", required=True)}
MAX_DUPLICATES = 50
