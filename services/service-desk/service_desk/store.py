"""The service desk's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

TICKETS = "tickets"
# Replies and internal notes (ticket_id, created_at); a merged ticket's comments move to the survivor.
TICKET_COMMENTS = "ticket_comments"
# SLA policies (first active match by `position` wins) and the business calendars they count in.
SLA_POLICIES = "sla_policies"
BUSINESS_CALENDARS = "business_calendars"
# Per service team (id = the gateway's team id): assignment method, the agents with their
# availability, the managers escalations reach, the round-robin pointer.
SERVICE_TEAMS = "service_teams"
# Projection of the contacts events: each customer's newest known owner and value grade, with its version.
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
            # The SLA timer's work list: the next warning, breach or ladder step of each ticket.
            Index(("sla_next_check_at",)),
            Index(("status", "resolved_at")),
            Index(("assignee_id", "status")),
        ),
    ),
    CollectionSpec(TICKET_COMMENTS, (Index(("ticket_id", "created_at")),)),
    CollectionSpec(SLA_POLICIES, (Index(("position",)), Index(("name",), unique=True))),
    CollectionSpec(BUSINESS_CALENDARS, (Index(("name",), unique=True),)),
    CollectionSpec(SERVICE_TEAMS),
    CollectionSpec(CONTACT_OWNERS),
    CollectionSpec(ERASED_SUBJECTS),
    CollectionSpec(MERGED_CUSTOMERS),
)
