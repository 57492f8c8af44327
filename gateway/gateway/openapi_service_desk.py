"""The service-desk part of the OpenAPI document: tickets with their SLA, comments, satisfaction and
merges, SLA policies, business calendars, service-team rosters and the service report. Built from
the blocks of gateway.openapi, which imports this module lazily."""

from .openapi import (
    BOOL,
    ID,
    INT,
    NS,
    NTS,
    TS,
    S,
    _closed,
    _collection,
    _equals,
    _item,
    _json,
    _list,
    _list_params,
    _null,
    _obj,
    _operation,
    _page,
    _query,
    _record,
    _ref,
    _subset,
    _text,
)

TAG = "service desk"
TICKET_KINDS = ("inquiry", "incident", "complaint", "request")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "phone", "chat", "web", "social", "visit")
TICKET_STATUSES = ("new", "open", "pending", "on_hold", "resolved", "closed", "reopened")
VALUE_GRADES = ("A", "B", "C", "D")
METRICS = ("first_response", "resolution")
PAUSE_STATUSES = ("pending", "on_hold")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ASSIGNMENTS = ("round_robin", "least_loaded", "manual")
MINUTES = {"type": "integer", "minimum": 1, "maximum": 525600}
NUMBER = {"type": ["number", "null"]}

# Tickets

ATTACHMENT = _closed(
    ["name", "content_type", "size_bytes", "url"],
    name=_text(255, nullable=False),
    content_type=_text(100, nullable=False),
    size_bytes={"type": "integer", "minimum": 0},
    url={**_text(2000, nullable=False), "description": "an http(s) link to the file, stored elsewhere"},
)
ATTACHMENTS = {**_list(ATTACHMENT, 20), "description": "metadata only: the files themselves live elsewhere"}
TICKET_FIELDS = dict(
    subject=_text(required=True),
    description=_text(20000, nullable=False),
    kind={"enum": list(TICKET_KINDS)},
    priority={"enum": list(PRIORITIES)},
    channel={"enum": list(CHANNELS)},
    category={**_text(100), "description": "free text; SLA policies may match on it"},
    contact_id=_text(64, required=True),
    company_id=ID,
    assignee_id={**ID, "description": "unset: the team's roster may assign it (see PUT /service-teams/{id})"},
    team_id=ID,
    received_at={
        "type": "string",
        "format": "date-time",
        "description": "when the customer's request arrived, with a time zone; at most 30 days back, default "
        "now. The SLA clocks start there.",
    },
    attachments=ATTACHMENTS,
)
TICKET_UPDATABLE = ("subject", "description", "kind", "priority", "category", "assignee_id", "team_id", "attachments")
CLOCK = _obj(
    ["target_minutes", "used_minutes", "running_since", "due_at", "stopped_at", "breached_at"],
    target_minutes={**INT, "description": "business minutes allowed"},
    used_minutes={**INT, "description": "business minutes used before running_since"},
    running_since={**NTS, "description": "null while paused or stopped"},
    due_at={**NTS, "description": "null while paused; kept when stopped"},
    stopped_at={**NTS, "description": "when the target was met or the clock finished"},
    breached_at={**NTS, "description": "the due time the clock passed, to the minute"},
    breach_announced_at={**NTS, "description": "when the SLA timer announced the breach"},
)
ACTION = {
    "oneOf": [
        _closed(
            ["type", "recipients"],
            type={"const": "notify"},
            recipients={
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"},
                "minItems": 1,
                "maxItems": 20,
                "description": "assignee, team_managers, contact_owner or a user id",
            },
        ),
        _closed(
            ["type", "to"],
            type={"const": "reassign"},
            to={
                "type": "string",
                "minLength": 1,
                "maxLength": 64,
                "pattern": r"\S",
                "description": "least_loaded, round_robin (among the team's available agents) or a user id",
            },
        ),
        _closed(["type"], type={"const": "raise_priority"}),
    ]
}
STEP_FIELDS = dict(
    id={
        "type": ["string", "null"],
        "pattern": "^[A-Za-z0-9_-]{1,64}$",
        "description": "unique in the policy; given, or s1, s2... by the server",
    },
    metric={"enum": list(METRICS)},
    when={"enum": ["before", "after"], "description": "before or after the metric's due time"},
    minutes={"type": "integer", "minimum": 0, "maximum": 43200, "description": "0 with `after`: at the breach"},
    actions={"type": "array", "items": ACTION, "minItems": 1, "maxItems": 10},
)
SLA_STEP = _obj(
    ["id", "metric", "when", "minutes", "actions", "fire_at", "fired_at"],
    **STEP_FIELDS,
    fire_at={**NTS, "description": "null while its clock is paused or stopped"},
    fired_at=NTS,
)
TICKET_SLA = _obj(
    ["policy_id", "policy_name", "calendar_id", "pause_statuses", "first_response", "resolution", "steps"],
    policy_id={**NS, "description": "null: the built-in default policy"},
    policy_name=S,
    calendar_id={**NS, "description": "null: 24x7"},
    pause_statuses={"type": "array", "items": {"enum": list(PAUSE_STATUSES)}},
    first_response=CLOCK,
    resolution=CLOCK,
    steps={"type": "array", "items": SLA_STEP, "description": "the escalation ladder, with what has fired"},
)
SATISFACTION = _obj(
    ["status"],
    status={"enum": ["requested", "answered"]},
    requested_at=NTS,
    score={"type": ["integer", "null"], "minimum": 1, "maximum": 5},
    comment={"type": ["string", "null"], "maxLength": 2000},
    answered_at=NTS,
    recorded_by=NS,
)
TICKET_SERVER = dict(
    status={"enum": list(TICKET_STATUSES)},
    received_at=TS,
    breached={**BOOL, "description": "a target is missed: also while a running clock is past its due time"},
    contact_owner_id={**NS, "description": "the owner of the ticket's contact"},
    customer_grade={"enum": [*VALUE_GRADES, None], "description": "the contact's value grade"},
    first_response_due_at={**NTS, "description": "null while the clock is paused"},
    resolution_due_at={**NTS, "description": "null while the clock is paused"},
    sla_next_check_at={**NTS, "description": "when the SLA timer looks at the ticket next"},
    sla={**TICKET_SLA, "type": ["object", "null"]},
    first_responded_at={**NTS, "description": "the first public reply by staff"},
    resolved_at=NTS,
    closed_at=NTS,
    reopened_count=INT,
    escalation_level={**INT, "description": "ladder steps fired"},
    merged_into={**NS, "description": "the surviving ticket of a merge (this one is closed)"},
    satisfaction={**SATISFACTION, "type": ["object", "null"]},
    created_by=S,
)
TICKET_NOTES = {
    "post": "admin, manager, support_agent and sales_rep (403 otherwise); a support agent files for their own "
    "teams (the first one unless told). The first matching active SLA policy (GET /sla-policies, by position) "
    "sets the targets and the escalation ladder, else the built-in default; its clocks start at received_at. "
    "An unassigned ticket of a team with a roster is assigned by it. A customer with an email address is told "
    "by email (queued).",
    "patch": "admins, the managers of its team and the support agents who see it (403 otherwise). The status "
    "moves new/open/pending/on_hold/reopened -> open, pending, on_hold, resolved or closed; resolved -> closed "
    "or reopened; closed is final (422). `pending` (and `on_hold` when the policy says so) pauses the SLA "
    "clocks; resolving stops them and asks the customer for a satisfaction rating.",
}


def _ticket_paths() -> list:
    equality = _equals(
        "contact_id",
        "company_id",
        "assignee_id",
        "team_id",
        "category",
        status={"enum": list(TICKET_STATUSES)},
        priority={"enum": list(PRIORITIES)},
        kind={"enum": list(TICKET_KINDS)},
        breached=BOOL,
    )
    merge = _operation(
        "post",
        "/tickets/{id}/merge",
        TAG,
        "Merge duplicate tickets into this one",
        {200: _json(_ref("Ticket"), "The surviving ticket", ("ETag",))},
        body="TicketMergeRequest",
        errors=(403,),
        description="The duplicates (same contact, each one the caller may change, none closed; 422 otherwise) "
        "become closed with merged_into, their comments move to this ticket (keeping `merged_from`).",
    )
    return [
        *_collection(TAG, "/tickets", "Ticket", "TicketInput", equality, descriptions=TICKET_NOTES),
        *_item(TAG, "/tickets/{id}", "Ticket", "TicketUpdate", descriptions=TICKET_NOTES),
        *_collection(
            TAG,
            "/tickets/{id}/comments",
            "TicketComment",
            "TicketCommentInput",
            _equals("author_id", public=BOOL, author_type={"enum": ["staff", "customer"]}),
            descriptions={
                "get": "Oldest first unless sorted, cursor-paged; to whoever sees the ticket (404 otherwise), internal "
                "notes included.",
                "post": "A public reply to the customer or an internal note (default). Public staff replies by those "
                "who may change the ticket: the first one stops the first-response clock and moves a new ticket to "
                "open, and the customer is told by email (queued). Internal notes also by the sales side who sees "
                "the ticket; viewers never (403). author_type customer logs the customer's own words (an email "
                "reply): on a pending ticket it reopens the work (open), on a resolved one it reopens the ticket. "
                "Location is the ticket's comment list.",
            },
        ),
        _operation(
            "get",
            "/tickets/{id}/satisfaction",
            TAG,
            "The ticket's satisfaction rating (CSAT)",
            {200: _json(_ref("Satisfaction"))},
            description="null fields until the customer was asked (on resolution) and answered.",
        ),
        _operation(
            "post",
            "/tickets/{id}/satisfaction",
            TAG,
            "Record the customer's satisfaction rating",
            {201: _json(_ref("Satisfaction"), "Recorded", ("Location",))},
            body="SatisfactionInput",
            errors=(403, 409),
            description="admin, manager and support_agent who see the ticket (403 otherwise). Only on a resolved or "
            "closed ticket, and once (409 otherwise). A low score (2 or less) makes a follow-up task for the "
            "contact's owner.",
        ),
        merge,
    ]


# SLA policies and business calendars

TARGET = _closed(
    ["first_response_minutes", "resolution_minutes"], first_response_minutes=MINUTES, resolution_minutes=MINUTES
)
CONDITION = {
    "type": ["array", "null"],
    "items": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
    "minItems": 1,
    "maxItems": 50,
    "description": "null: any",
}
SLA_POLICY_FIELDS = dict(
    name=_text(200, required=True),
    position={
        "type": "integer",
        "minimum": 0,
        "maximum": 1000000,
        "description": "lowest first; the first active match wins; default after the last one",
    },
    active={**BOOL, "description": "default true"},
    conditions={
        **_closed(
            [],
            priority={**CONDITION, "items": {"enum": list(PRIORITIES)}},
            kind={**CONDITION, "items": {"enum": list(TICKET_KINDS)}},
            category=CONDITION,
            customer_grade={**CONDITION, "items": {"enum": list(VALUE_GRADES)}},
            company_id=CONDITION,
        ),
        "description": "each list given must hold the ticket's value (company_id: company ids); none given: "
        "every ticket",
    },
    targets={
        **_closed(list(PRIORITIES), **{priority: TARGET for priority in PRIORITIES}),
        "description": "per priority, in business minutes of the calendar",
    },
    calendar_id={**ID, "description": "a business calendar; null: 24x7"},
    pause_statuses={
        "type": "array",
        "items": {"enum": list(PAUSE_STATUSES)},
        "description": 'the clocks stop counting in these statuses; default ["pending"]',
    },
    escalations={
        "type": "array",
        "items": _closed(["metric", "when", "minutes", "actions"], **STEP_FIELDS),
        "maxItems": 20,
        "description": "the ladder: each step fires once per ticket",
    },
)
HOURS = {
    "type": "array",
    "items": {
        "type": "array",
        "items": {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"},
        "minItems": 2,
        "maxItems": 2,
    },
    "maxItems": 4,
    "description": 'opening ranges ["09:00", "18:00"], ordered, not overlapping; "24:00" may end one',
}
DAYS = {"type": "array", "items": {"type": "string", "format": "date"}, "maxItems": 1000}
CALENDAR_FIELDS = dict(
    name=_text(200, required=True),
    time_zone={**_text(64, nullable=False), "description": "an IANA time zone, e.g. Asia/Shanghai"},
    working_hours={
        **_closed([], **{day: HOURS for day in WEEKDAYS}),
        "description": "a day not given is closed (answers list all seven); open on at least one day",
    },
    holidays={**DAYS, "description": "closed all day"},
    workdays={**DAYS, "description": "make-up working days, open with makeup_hours (default Monday's hours)"},
    makeup_hours={**HOURS, "type": ["array", "null"], "minItems": 1, "description": "null: Monday's hours"},
    holiday_preset={
        "enum": ["CN", None],
        "description": "CN adds the official Chinese public holidays and make-up working days of 2025 and 2026",
    },
)
ADMIN_WRITES = {
    "get": "Every role reads them.",
    "post": "Admins only (403).",
    "patch": "Admins only (403).",
    "delete": "Admins only (403).",
}


def _policy_paths() -> list:
    policy_notes = {
        **ADMIN_WRITES,
        "get": "Every role reads them; by position unless sorted.",
        "post": "Admins only (403). A policy applies to tickets created, or whose matched fields change, after it; "
        "other tickets keep the targets they were given.",
    }
    calendar_notes = {
        **ADMIN_WRITES,
        "delete": "Admins only (403). 409 while an SLA policy counts in it.",
    }
    return [
        *_collection(
            TAG,
            "/sla-policies",
            "SlaPolicy",
            "SlaPolicyInput",
            _equals("name", "calendar_id", active=BOOL),
            create_errors=(403, 409),
            descriptions=policy_notes,
        ),
        *_item(
            TAG,
            "/sla-policies/{id}",
            "SlaPolicy",
            "SlaPolicyUpdate",
            deletable=True,
            write_errors=(403, 409),
            descriptions=policy_notes,
        ),
        *_collection(
            TAG,
            "/business-calendars",
            "BusinessCalendar",
            "BusinessCalendarInput",
            _equals("name", "time_zone", holiday_preset={"enum": ["CN"]}),
            create_errors=(403, 409),
            descriptions=calendar_notes,
        ),
        *_item(
            TAG,
            "/business-calendars/{id}",
            "BusinessCalendar",
            "BusinessCalendarUpdate",
            deletable=True,
            write_errors=(403, 409),
            descriptions=calendar_notes,
        ),
    ]


# Service teams

AGENT = _closed(
    ["user_id"],
    user_id=_text(64, nullable=False),
    available={**BOOL, "description": "default true; only available agents get new tickets"},
    max_open={
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": 1000,
        "description": "an agent with this many working tickets gets no more; null: no limit",
    },
)
SERVICE_TEAM_FIELDS = dict(
    assignment={
        "enum": list(ASSIGNMENTS),
        "description": "how new unassigned tickets of the team are given out: round_robin (the next available "
        "agent), least_loaded (fewest working tickets; ties in roster order) or manual",
    },
    agents={
        **_list(AGENT, 200),
        "description": "active members of the team with the support_agent role, each once (422 otherwise)",
    },
    manager_ids={
        **_list({"type": "string", "minLength": 1, "maxLength": 64}, 50),
        "uniqueItems": True,
        "description": "managers of the team (422 otherwise) whom escalations to team_managers reach",
    },
)


def _team_paths() -> list:
    return [
        _operation(
            "get",
            "/service-teams",
            TAG,
            "List the service teams' rosters",
            {200: _json(_page("ServiceTeam"))},
            query=_list_params("ServiceTeam", *_equals(assignment={"enum": list(ASSIGNMENTS)})),
            description="The teams that have a roster, by team id unless sorted; cursor-paged.",
        ),
        _operation(
            "get",
            "/service-teams/{id}",
            TAG,
            "A team's roster (the team is one of GET /teams)",
            {200: _json(_ref("ServiceTeam"), headers=("ETag",))},
            description="404 for a team that does not exist or has no roster yet.",
        ),
        _operation(
            "put",
            "/service-teams/{id}",
            TAG,
            "Set a team's roster",
            {200: _json(_ref("ServiceTeam"), headers=("ETag",))},
            body="ServiceTeamInput",
            errors=(403, 409),
            description="Admins and the team's managers (403 otherwise). Creates or replaces the assignment "
            "method, the agents and the managers escalations reach (the round-robin pointer stays). If-Match "
            "applies once a roster exists.",
        ),
        _operation(
            "put",
            "/service-teams/{id}/agents/{user_id}/availability",
            TAG,
            "Mark an agent of the roster available or away",
            {200: _json(_ref("ServiceTeam"), headers=("ETag",))},
            body="AgentAvailability",
            errors=(403, 409),
            if_match=False,
            description="The agent themself, a manager of the team or an admin (403 otherwise); 404 for an agent "
            "not on the roster. An agent away gets no new tickets.",
        ),
    ]


# The service report

GROUPS = ("team", "agent", "category", "customer_grade", "priority", "kind", "period")
OPEN_STATUSES = ("new", "open", "pending", "on_hold", "reopened")
DAY = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
PERIODS = ("day", "week", "month")
SPREAD = _obj(
    ["median", "p90", "count"],
    median={**NUMBER, "description": "business minutes; null without tickets"},
    p90=NUMBER,
    count=INT,
)
REPORT_FIGURES = dict(
    backlog={
        **_obj(
            ["total", "by_status"],
            total=INT,
            by_status=_obj(list(OPEN_STATUSES), **{status: INT for status in OPEN_STATUSES}),
        ),
        "description": "working tickets now (whenever created; by period: `earlier` / `later` rows hold those "
        "created outside the range)",
    },
    created=INT,
    resolved=INT,
    first_response_minutes=SPREAD,
    resolution_minutes=SPREAD,
    sla=_obj(
        ["met", "breached", "compliance"],
        met=INT,
        breached=INT,
        compliance={**NUMBER, "description": "met / (met + breached), 0..1; null without either"},
    ),
    csat=_obj(
        ["responses", "average", "distribution", "satisfied_rate"],
        responses=INT,
        average=NUMBER,
        distribution=_obj(list("12345"), **{score: INT for score in "12345"}),
        satisfied_rate={**NUMBER, "description": "scores of 4 and 5 / responses; null without responses"},
    ),
)


def _report_paths() -> list:
    return [
        _operation(
            "get",
            "/reports/service",
            TAG,
            "Service figures: backlog, volumes, response and resolution times, SLA compliance, CSAT",
            {200: _json(_ref("ServiceReport"))},
            query=[
                _query("group_by", {"enum": list(GROUPS), "default": "period"}, "Rows per team, agent, ..."),
                _query("period", {"enum": list(PERIODS), "default": "week"}, "With group_by=period: row length"),
                _query("from", DAY, "First day, UTC (default: 30 days up to `to`)"),
                _query("to", DAY, "Last day, UTC, inclusive (default today; at most 366 days after `from`)"),
            ],
            description="Every role: over the tickets created in the range (by created_at) that the caller sees "
            "(an agent their teams' and their own, a manager their teams' and their members' customers', a rep "
            "their customers', admins all); merged duplicates do not count. Times are the business minutes the "
            "SLA clocks used, once stopped. Rows by key (null: no team, agent, ...); by period every period of "
            "the range (2026-11-23, 2026-W48, 2026-11). Unknown parameters are a 400.",
        ),
    ]


def service_desk_paths() -> list:
    return [*_ticket_paths(), *_policy_paths(), *_team_paths(), *_report_paths()]


def service_desk_schemas() -> dict:
    comment_fields = dict(
        body={"type": "string", "minLength": 1, "maxLength": 20000, "pattern": r"\S"},
        public={**BOOL, "description": "a reply the customer sees; default false: an internal note"},
        author_type={
            "enum": ["staff", "customer"],
            "description": "default staff; customer: the customer's words logged on their behalf",
        },
        attachments=ATTACHMENTS,
    )
    ticket_input = {**TICKET_FIELDS, "received_at": _null(TICKET_FIELDS["received_at"])}
    return {
        "TicketInput": _closed(["subject", "contact_id"], **ticket_input),
        "TicketUpdate": _closed([], **_subset(TICKET_FIELDS, TICKET_UPDATABLE), status={"enum": list(TICKET_STATUSES)}),
        "Ticket": _record({**TICKET_FIELDS, "category": NS, **TICKET_SERVER}),
        "TicketCommentInput": _closed(["body"], **comment_fields),
        "TicketComment": _obj(
            [
                "id",
                "ticket_id",
                "body",
                "public",
                "author_id",
                "author_type",
                "attachments",
                "merged_from",
                "created_at",
            ],
            id=S,
            ticket_id=S,
            **comment_fields,
            author_id=S,
            created_at=TS,
            version=INT,
            merged_from={**NS, "description": "the merged ticket it was written on"},
        ),
        "Satisfaction": _obj(
            ["ticket_id", *SATISFACTION["properties"]],
            ticket_id=S,
            **{
                **SATISFACTION["properties"],
                "status": {"enum": ["requested", "answered", None], "description": "null: not asked yet"},
            },
        ),
        "TicketMergeRequest": _closed(
            ["duplicate_ids"],
            duplicate_ids={
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 64},
                "minItems": 1,
                "maxItems": 50,
                "uniqueItems": True,
                "description": "the tickets merged into this one (not this one itself)",
            },
        ),
        "SatisfactionInput": _closed(
            ["score"],
            score={"type": "integer", "minimum": 1, "maximum": 5},
            comment={"type": ["string", "null"], "maxLength": 2000},
        ),
        "SlaPolicyInput": _closed(["name", "targets"], **SLA_POLICY_FIELDS),
        "SlaPolicyUpdate": _closed([], **SLA_POLICY_FIELDS),
        "SlaPolicy": _record(
            {**SLA_POLICY_FIELDS, "escalations": {"type": "array", "items": _obj(["id"], **STEP_FIELDS)}},
            created_by=S,
        ),
        "BusinessCalendarInput": _closed(["name", "time_zone", "working_hours"], **CALENDAR_FIELDS),
        "BusinessCalendarUpdate": _closed([], **CALENDAR_FIELDS),
        "BusinessCalendar": _record(
            {**CALENDAR_FIELDS, "working_hours": _obj(list(WEEKDAYS), **{day: HOURS for day in WEEKDAYS})},
            created_by=S,
        ),
        "ServiceTeamInput": _closed(["assignment"], **SERVICE_TEAM_FIELDS),
        "ServiceTeam": _obj(
            ["id", "assignment", "agents", "manager_ids", "last_assigned_user_id", "version", "updated_at"],
            id={**S, "description": "the team's id (GET /teams)"},
            **SERVICE_TEAM_FIELDS,
            last_assigned_user_id={**NS, "description": "the round-robin pointer"},
            version=INT,
            updated_at=TS,
        ),
        "AgentAvailability": _closed(["available"], available=BOOL),
        "ServiceReport": _obj(
            ["from", "to", "group_by", "period", "generated_at", "rows", "totals"],
            **{"from": DAY, "to": DAY},
            group_by={"enum": list(GROUPS)},
            period={"enum": [*PERIODS, None], "description": "null unless group_by=period"},
            generated_at=TS,
            rows={
                "type": "array",
                "items": _obj(
                    ["key", *REPORT_FIGURES], key={**NS, "description": "the group's value"}, **REPORT_FIGURES
                ),
            },
            totals=_obj(list(REPORT_FIGURES), **REPORT_FIGURES),
        ),
    }
