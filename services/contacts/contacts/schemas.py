"""Input validation for companies, contacts, interactions and custom field definitions at the service's edge."""

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
VALUE_GRADES = ("A", "B", "C", "D")  # published by sales: A brings the most
CHURN_LEVELS = ("low", "medium", "high")  # published by sales
# The stages a lead score (published by sales) moves a contact along, forward only; a contact
# past them is never moved by a score.
SCORED_STAGES = ("subscriber", "lead", "marketing_qualified", "sales_qualified")
SOURCE_CHANNELS = (
    "web",
    "referral",
    "event",
    "campaign",
    "advertising",
    "social",
    "cold_call",
    "partner",
    "import",
    "walk_in",
    "other",
)
ADDRESS_KINDS = ("work", "home", "billing", "shipping", "registered", "other")
SERVER_OWNED = (
    "id",
    "created_at",
    "updated_at",
    "version",
    "created_by",
    "display_name",
    "value_grade",
    "churn_risk",
    "lifecycle_history",
    "owner_history",
    "pool",
    "last_activity_at",
    "open_deal_count",
    "lead_score",
)

ADDRESS_FIELDS = {
    "kind": Field("choice", choices=ADDRESS_KINDS),
    "line1": Field("text", max_length=200),
    "line2": Field("text", max_length=200),
    "city": Field("text", max_length=100),
    "region": Field("text", max_length=100),
    "postal_code": Field("text", max_length=20),
    "country": Field("text", max_length=2),
}

# Fields companies and contacts share. owner_id null puts a customer in the shared pool; fields
# with defaults refuse null.
_COMMON = {
    "local_name": Field("text", max_length=100),
    "email": Field("email", max_length=254),
    "phone": Field("phone", max_length=40),
    "addresses": Field("records", max_items=10, fields=ADDRESS_FIELDS, nullable=False),
    "source_channel": Field("choice", choices=SOURCE_CHANNELS),
    "source_campaign": Field("text", max_length=100),
    "tags": Field("tags", nullable=False),
    "owner_id": Field("id", max_length=64),
    "shared_with": Field("ids", nullable=False),
    "custom_fields": Field("object", nullable=False),
}

COMPANY_FIELDS = {
    "name": Field("text", required=True),
    "tax_id": Field("text", max_length=64),
    "account_number": Field("text", max_length=64),
    "industry": Field("text", max_length=100),
    "size": Field("text", max_length=50),
    "business_scope": Field("text", max_length=2000),
    "credit_rating": Field("text", max_length=20),
    "website": Field("text", max_length=200),
    **_COMMON,
}

CONTACT_FIELDS = {
    "first_name": Field("text", max_length=100),
    "last_name": Field("text", max_length=100),
    "other_emails": Field("emails", max_length=254, max_items=10, nullable=False),
    "other_phones": Field("phones", max_length=40, max_items=10, nullable=False),
    "company_id": Field("id", max_length=64),
    "title": Field("text", max_length=100),
    "birthday": Field("date"),
    "preferred_language": Field("text", max_length=20),
    "lifecycle_stage": Field("choice", choices=LIFECYCLE_STAGES, nullable=False),
    "interests": Field("tags", nullable=False),
    "preferences": Field("object", nullable=False),
    **_COMMON,
}

_SERVER_FILTERABLE = ("value_grade", "churn_risk", "last_activity_at", "open_deal_count", "created_at", "updated_at")
CONTACT_FILTERABLE = (
    "first_name",
    "last_name",
    "local_name",
    "email",
    "phone",
    "company_id",
    "owner_id",
    "shared_with",
    "lifecycle_stage",
    "tags",
    "interests",
    "title",
    "birthday",
    "preferred_language",
    "source_channel",
    "source_campaign",
    "lead_score",
    *_SERVER_FILTERABLE,
    "custom_fields.",
)
CONTACT_SORTABLE = ("created_at", "updated_at", "last_name", "first_name", "email", "last_activity_at")
COMPANY_FILTERABLE = (
    "name",
    "local_name",
    "tax_id",
    "account_number",
    "industry",
    "size",
    "credit_rating",
    "email",
    "phone",
    "owner_id",
    "shared_with",
    "tags",
    "source_channel",
    "source_campaign",
    *_SERVER_FILTERABLE,
    "custom_fields.",
)
COMPANY_SORTABLE = ("created_at", "updated_at", "name", "last_activity_at")
TIMELINE_KINDS = ("contact", "company", "interaction", "deal", "order", "ticket", "message")

INTERACTION_KINDS = ("call", "email", "meeting", "chat", "visit", "web", "note")
DIRECTIONS = ("inbound", "outbound")
PARTICIPANT_FIELDS = {
    "name": Field("text", max_length=200),
    "email": Field("email", max_length=254),
    "phone": Field("phone", max_length=40),
    "user_id": Field("id", max_length=64),
    "contact_id": Field("id", max_length=64),
}
INTERACTION_FIELDS = {
    "kind": Field("choice", choices=INTERACTION_KINDS, required=True),
    "direction": Field("choice", choices=DIRECTIONS),
    "contact_id": Field("id", max_length=64),
    "company_id": Field("id", max_length=64),
    "occurred_at": Field("datetime", nullable=False),
    "duration_seconds": Field("int"),
    "subject": Field("text", max_length=200),
    "summary": Field("text", max_length=20000),
    "outcome": Field("text", max_length=200),
    "participants": Field("records", max_items=50, fields=PARTICIPANT_FIELDS, nullable=False),
    "channel_ref": Field("text", max_length=200),
}
# An interaction stays with the customer it was logged for.
INTERACTION_UPDATABLE = {k: v for k, v in INTERACTION_FIELDS.items() if k not in ("contact_id", "company_id")}
INTERACTION_SERVER_OWNED = ("id", "version", "owner_id", "shared_with", "logged_by", "created_at", "updated_at")
INTERACTION_FILTERABLE = (
    "kind",
    "direction",
    "contact_id",
    "company_id",
    "occurred_at",
    "outcome",
    "logged_by",
    "owner_id",
    "created_at",
)
INTERACTION_SORTABLE = ("occurred_at", "created_at")

CUSTOM_FIELD_TYPES = ("text", "number", "date", "choice", "multi_choice", "boolean")
CUSTOM_FIELD_ENTITIES = ("contact", "company")
CUSTOM_FIELD_DEFINITION = {
    "entity": Field("choice", choices=CUSTOM_FIELD_ENTITIES, required=True),
    "key": Field("text", max_length=64, required=True),
    "label": Field("text", max_length=100, required=True),
    "type": Field("choice", choices=CUSTOM_FIELD_TYPES, required=True),
    "choices": Field("tags", nullable=False),
    "required": Field("bool", nullable=False),
    "description": Field("text", max_length=500),
    "max_length": Field("int"),
}
# What may change on a definition: its entity, key and type are fixed once records use it.
CUSTOM_FIELD_UPDATE = {
    **{name: CUSTOM_FIELD_DEFINITION[name] for name in ("label", "choices", "required", "description", "max_length")},
    "active": Field("bool", nullable=False),
}
CUSTOM_FIELD_SERVER_OWNED = ("id", "version", "created_at", "updated_at", "created_by")
