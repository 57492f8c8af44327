"""Input validation for tickets at the service's edge."""

from crm_common.schema import Field

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
    "contact_owner_id",
)
# status is the server's at creation (`new`) and the client's afterwards.
UPDATE_SERVER_OWNED = tuple(name for name in SERVER_OWNED if name != "status")
STATUSES = ("new", "open", "pending", "resolved", "closed")
KINDS = ("inquiry", "incident", "complaint", "request")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "phone", "chat", "web", "social", "visit")

TICKET_FIELDS = {
    "subject": Field("text", required=True),
    "description": Field("text", max_length=20000, nullable=False),
    "kind": Field("choice", choices=KINDS, nullable=False),
    "priority": Field("choice", choices=PRIORITIES, nullable=False),
    "channel": Field("choice", choices=CHANNELS, nullable=False),
    "contact_id": Field("id", required=True, max_length=64),
    "company_id": Field("id", max_length=64),
    "assignee_id": Field("id", max_length=64),
    "team_id": Field("id", max_length=64),
}

TICKET_UPDATE_FIELDS = {
    **{name: TICKET_FIELDS[name] for name in ("subject", "description", "priority", "assignee_id", "team_id")},
    "status": Field("choice", choices=STATUSES, nullable=False),
}

TICKET_FILTERABLE = (
    "kind",
    "priority",
    "status",
    "contact_id",
    "company_id",
    "assignee_id",
    "team_id",
    "contact_owner_id",
    "breached",
    "created_at",
)
TICKET_SORTABLE = ("created_at", "updated_at")
