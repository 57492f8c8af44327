"""The sales part of the OpenAPI document: pipelines, deals, orders, tasks, quotas, lead scoring,
settings and reports. Built from the blocks of gateway.openapi, which imports this module lazily."""

from .openapi import (
    BOOL,
    CURRENCIES,
    DECIMAL,
    ID,
    IDS,
    INT,
    MONEY,
    NS,
    NTS,
    SERVER,
    STRINGS,
    TS,
    S,
    _closed,
    _collection,
    _equals,
    _item,
    _json,
    _list,
    _obj,
    _operation,
    _param,
    _query,
    _record,
    _ref,
    _subset,
    _text,
)

STAGE_FIELDS = dict(
    id={**_text(64), "description": "given, or the slug of the name; keep it to keep the stage's deals"},
    name=_text(100, required=True),
    probability={"type": "integer", "minimum": 0, "maximum": 100, "description": "100: won; 0: lost"},
    rotting_days={
        "type": ["integer", "null"],
        "minimum": 0,
        "maximum": 3650,
        "description": "an open deal this many days in the stage is flagged rotting (deal_rotting); null: never",
    },
    forecast_category={
        "enum": ["pipeline", "best_case", "commit", "closed", "omitted", None],
        "description": "how the forecast counts the stage; unset: by probability (100 closed, 0 omitted, "
        "from 75 commit, from 50 best_case, else pipeline)",
    },
)
STAGE = _closed(["name", "probability"], **STAGE_FIELDS)
PIPELINE_FIELDS = dict(
    name=_text(100, required=True),
    business_line=_text(100),
    stages={
        "type": "array",
        "items": STAGE,
        "maxItems": 30,
        "description": "in order; exactly one stage at 100 (won), at least one at 0 (lost); a PATCH replaces "
        "the whole list",
    },
)
LINE_ITEM = _closed(
    ["product", "quantity", "unit_price"],
    product=_text(required=True),
    sku=_text(64),
    quantity=DECIMAL,
    unit_price=DECIMAL,
)
# Deals and orders alike: the amount is money (rounded to cents), the rounded sum of the line items when given.
ITEMS_AMOUNT = {
    **DECIMAL,
    "description": "required without line_items; with them, their sum rounded to cents (an amount given too must "
    "round to the same cents); stored rounded to cents; below 10^15, as is every quantity x unit_price",
}
DEAL_STATUS = {"enum": ["open", "won", "lost"]}
DEAL_FIELDS = dict(
    title=_text(required=True),
    amount=ITEMS_AMOUNT,
    currency={"enum": list(CURRENCIES)},
    pipeline_id=ID,
    stage_id=ID,
    contact_id=_text(64, required=True),
    company_id={
        **ID,
        "description": "default the contact's company; given, it must be one the caller sees (422) and, when the "
        "contact belongs to a company, that one (422)",
    },
    owner_id={**_text(64, nullable=False), "description": "every deal has an owner: the creator unless given"},
    shared_with=IDS,
    expected_close_date={"type": ["string", "null"], "format": "date"},
    line_items=_list(LINE_ITEM, 100),
    status={
        **DEAL_STATUS,
        "description": "won: to the pipeline's won stage; lost: to its first lost stage (needs lost_reason); "
        "open: back to the last open stage it was in",
    },
    lost_reason={**_text(500), "description": "required when the deal is lost; cleared when it is reopened"},
)
DEAL_UPDATABLE = (
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
# Server-kept deal fields that deals written before they existed lack until their next change.
DEAL_LATER_FIELDS = ("line_items", "closed_at", "stage_entered_at", "rotting_at", "rotting", "furthest_stage_id")


# Pipelines and deals


def _deal_paths() -> list:
    return [
        *_collection(
            "sales",
            "/pipelines",
            "Pipeline",
            "PipelineInput",
            _equals("name", "business_line"),
            descriptions={
                "get": "Every pipeline (readable by every role), sorted by name unless sorted; the default "
                "pipeline is created the first time pipelines are read.",
                "post": "Admins only (403 otherwise).",
            },
        ),
        *_item(
            "sales",
            "/pipelines/{id}",
            "Pipeline",
            "PipelineUpdate",
            deletable=True,
            write_errors=(403, 409),
            descriptions={
                "patch": "Admins only. 409 when a stage deals are in would be removed or would cross 0 or 100; "
                "changed rotting days apply to the open deals of the stage.",
                "delete": "Admins only. 409 for the default pipeline and for a pipeline that holds deals.",
            },
        ),
        *_collection(
            "sales",
            "/deals",
            "Deal",
            "DealInput",
            _equals(
                "owner_id", "contact_id", "company_id", "pipeline_id", "stage_id", status=DEAL_STATUS, rotting=BOOL
            ),
        ),
        *_item(
            "sales",
            "/deals/{id}",
            "Deal",
            "DealUpdate",
            descriptions={
                "patch": 'Move a deal (`stage_id`), win it (`{"status": "won"}`), lose it (`{"status": '
                '"lost", "lost_reason": "..."}`: 422 without a reason) or reopen it (`{"status": '
                '"open"}`). A stage at 100% wins, one at 0% loses. Deals are not deleted: lose them. A won '
                "deal has an order (`deal-<deal id>`) that follows its amount, currency, line items, owner and "
                "sharing while it stays won; reopened or lost, the deal cancels that order while it is pending or "
                "confirmed (a paid, shipped, completed or refunded one stays).",
            },
        ),
    ]


def _deal_schemas() -> dict:
    deal = _record(
        {**DEAL_FIELDS, "amount": MONEY},
        created_by=S,
        stage_history={"type": "array", "items": _obj(["stage_id", "at"], stage_id=S, at=TS)},
        closed_at={**NTS, "description": "when the deal was won or lost; null while open"},
        stage_entered_at={**TS, "description": "when the deal entered its current stage"},
        rotting_at={**NTS, "description": "when an open deal starts rotting in its stage; null: never"},
        rotting={**BOOL, "description": "set by the rotting timer; cleared when the deal changes stage"},
        furthest_stage_id={**S, "description": "the furthest stage reached in pipeline order (lost stages never)"},
    )
    deal["required"] = [name for name in deal["required"] if name not in DEAL_LATER_FIELDS]
    stage_out = _obj(
        ["id", "name", "probability"],
        **{**STAGE_FIELDS, "id": S, "name": S},
    )
    return {
        "PipelineInput": _closed(["name", "stages"], **PIPELINE_FIELDS),
        "PipelineUpdate": _closed([], **PIPELINE_FIELDS),
        "Pipeline": _obj(
            ["id", "name", "stages"],
            **SERVER,
            name=S,
            business_line=NS,
            created_by=NS,
            stages={"type": "array", "items": stage_out},
        ),
        "DealInput": _closed(["title", "currency", "contact_id"], **DEAL_FIELDS),
        "DealUpdate": _closed([], **_subset(DEAL_FIELDS, DEAL_UPDATABLE)),
        "Deal": deal,
    }


# Orders

ORDER_STATUSES = ("pending", "confirmed", "paid", "shipped", "completed", "cancelled", "refunded")
PAYMENT_METHODS = ("cash", "bank_transfer", "card", "alipay", "wechat_pay", "credit", "other")
ORDER_FIELDS = dict(
    contact_id={**ID, "description": "a contact_id, a company_id or both; the company defaults to the contact's"},
    company_id=ID,
    ordered_at={**NTS, "description": "default now; may lie in the past (history), at most a day ahead"},
    line_items={**_list(LINE_ITEM, 200), "description": "the amount is their sum (quantity x unit_price)"},
    amount=ITEMS_AMOUNT,
    currency={"enum": list(CURRENCIES)},
    status={"enum": list(ORDER_STATUSES), "default": "confirmed"},
    payment_method={"enum": [*PAYMENT_METHODS, None]},
    reference={**_text(64), "description": "the order's number elsewhere (a shop, an ERP)"},
    notes=_text(2000),
    owner_id={**_text(64, nullable=False), "description": "every order has an owner: the creator unless given"},
    shared_with=IDS,
)
ORDER_UPDATABLE = tuple(name for name in ORDER_FIELDS if name not in ("contact_id", "company_id"))
ORDER_NOTES = {
    "get": "The orders whose owner is in the caller's reach (a rep their own, a manager their teams', a viewer "
    "their teams', admins all) or that are shared with them. Newest first (by ordered_at) unless sorted.",
    "post": "Admins, managers and sales reps (403 for others; and for an owner the caller may not assign). A "
    "contact or company the caller cannot see is a 422, like a missing one. Counts at once in the customer's "
    "value grade and churn risk (cancelled and refunded orders never count).",
    "patch": "Orders are never deleted: cancel or refund them. The customer stays; only admins and managers "
    "reassign the owner.",
}


def _order_paths() -> list:
    equality = _equals(
        "contact_id",
        "company_id",
        "deal_id",
        "owner_id",
        "reference",
        status={"enum": list(ORDER_STATUSES)},
        payment_method={"enum": list(PAYMENT_METHODS)},
        currency={"enum": list(CURRENCIES)},
    )
    batch = _operation(
        "post",
        "/orders/batch",
        "sales",
        "Import orders in one all-or-nothing batch (JSON or CSV)",
        {
            201: _json(_ref("OrderBatchResult"), "Created: every order of the batch"),
            200: _json(_ref("OrderBatchResult"), "A dry run: every row is valid, nothing was written"),
        },
        body="OrderBatch",
        query=[
            _query("dry_run", BOOL, "check only; a JSON body may say it in the body instead (both given must agree)"),
            _query("encoding", S, "CSV bodies: the file's encoding when not UTF-8 (else guessed: UTF-8, GB18030)"),
        ],
        errors=(403,),
        description="At most 1000 orders, each as in POST /orders (the same rules and defaults). Any invalid row "
        "and nothing is written: the 422 lists every problem as `orders[<row>].<field>` (rows from 0). A text/csv "
        "body has a header row of field names (contact_id, company_id, ordered_at, amount, currency, status, "
        "payment_method, reference, notes, owner_id); empty cells are left out. Bodies up to 1 MiB (413).",
    )
    batch[2]["requestBody"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    return [
        *_collection("sales", "/orders", "Order", "OrderInput", equality, descriptions=ORDER_NOTES),
        *_item("sales", "/orders/{id}", "Order", "OrderUpdate", descriptions=ORDER_NOTES),
        batch,
    ]


def _order_schemas() -> dict:
    return {
        "OrderInput": _closed(["currency"], **ORDER_FIELDS),
        "OrderUpdate": _closed([], **_subset(ORDER_FIELDS, ORDER_UPDATABLE)),
        "Order": _record(
            {**ORDER_FIELDS, "amount": MONEY, "ordered_at": TS},
            created_by=S,
            deal_id={**NS, "description": "the won deal that made the order (its id is `deal-<deal id>`)"},
        ),
        "OrderBatch": _closed(
            ["orders"],
            orders={"type": "array", "items": _ref("OrderInput"), "minItems": 1, "maxItems": 1000},
            dry_run={**BOOL, "default": False},
        ),
        "OrderBatchResult": _obj(
            ["dry_run", "count", "ids"],
            dry_run=BOOL,
            count={**INT, "description": "the orders created (or, in a dry run, that would be)"},
            ids={**STRINGS, "description": "the new orders' ids, in row order; empty in a dry run"},
        ),
    }


# Tasks

TASK_KINDS = ("call", "email", "meeting", "visit", "return_visit", "todo")
TASK_PRIORITIES = ("low", "normal", "high")
TASK_FIELDS = dict(
    title=_text(required=True),
    description=_text(5000),
    kind={"enum": list(TASK_KINDS), "default": "todo"},
    priority={"enum": list(TASK_PRIORITIES), "default": "normal"},
    due_at={**NTS, "description": "stored in UTC; a time without an offset is UTC"},
    remind_at={**NTS, "description": "when the assignee is reminded; not after due_at"},
    reminder_minutes_before={
        "type": ["integer", "null"],
        "minimum": 0,
        "maximum": 525600,
        "description": "instead of remind_at: this long before due_at, and following it when due_at moves",
    },
    assignee_id={**_text(64, nullable=False), "description": "every task has an assignee: the creator unless given"},
    contact_id=ID,
    company_id=ID,
    deal_id={**ID, "description": "a task for a deal also takes the deal's contact and company unless given"},
    done=BOOL,
)
TASK_NOTES = {
    "get": "Who sees a task: whoever sees its assignee's records (the owner rules on assignee_id: a rep their own, "
    "a manager their members', a viewer their teams'), the assignee and the task's creator; admins every task. "
    "Times compare as text in the stored form (`2030-01-02T09:30:00.000000Z`).",
    "post": "admin, manager, sales_rep and support_agent create tasks; viewers only read (403). A rep or an agent "
    "assigns only themselves, a manager also the members of their teams (403 otherwise). A contact, company or "
    "deal the caller cannot see is a 422, the same as a missing one. The assignee is notified (in-app) when "
    "someone else gave the task; the reminder at remind_at and the overdue notice after due_at (to the assignee "
    "and the creator) come once each.",
    "patch": "Only the fields sent change; `done` stamps `done_at`. A new assignee follows the same rules as on "
    "create (403) and is notified.",
    "delete": "Its creator, the assignee's manager or an admin (403 for the assignee who did not create it).",
}


def _task_paths() -> list:
    equality = _equals(
        "assignee_id",
        "created_by",
        "contact_id",
        "company_id",
        "deal_id",
        kind={"enum": list(TASK_KINDS)},
        priority={"enum": list(TASK_PRIORITIES)},
        done=BOOL,
    )
    return [
        *_collection("sales", "/tasks", "Task", "TaskInput", equality, descriptions={"post": TASK_NOTES["post"]}),
        *_item("sales", "/tasks/{id}", "Task", "TaskUpdate", deletable=True, descriptions=TASK_NOTES),
    ]


def _task_schemas() -> dict:
    server = "kept by the server for the reminder and overdue timers"
    return {
        "TaskInput": _closed(["title"], **TASK_FIELDS),
        "TaskUpdate": _closed([], **TASK_FIELDS),
        "Task": _record(
            TASK_FIELDS,
            created_by={**S, "description": "`system` for the return visits planned per customer grade"},
            done_at=NTS,
            reminded_for={**NTS, "description": f"the remind_at whose reminder went out; {server}"},
            escalated_for={**NTS, "description": f"the due_at whose overdue notice went out; {server}"},
            reminder_due_at={**NTS, "description": f"the pending reminder, null once sent or done; {server}"},
            overdue_due_at={**NTS, "description": f"the pending overdue notice, null once sent or done; {server}"},
        ),
    }


# Customer value and churn risk

GRADE = {"enum": ["A", "B", "C", "D", None], "description": "A is the highest; null: no counting order"}
CHURN = {"enum": ["medium", "high", None]}
SUBJECT_TYPE = {"enum": ["contact", "company"], "default": "contact"}
VALUE_REPORT_TEXT = (
    "Customers whose owner is in the caller's reach or that are shared with them (a rep their own, a manager "
    "their teams', a viewer their teams', admins all; support agents 403); deleted customers are left out. "
    "Money in the report currency of the sales settings. Grades and churn levels are as of the last grading: on "
    "every order, and daily (POST /grading-runs regrades now)."
)
RFM = _obj(
    ["recency_days", "frequency", "monetary", "r", "f", "m", "score"],
    recency_days={**INT, "description": "days since the last counting order"},
    frequency={**INT, "description": "counting orders in the grading window"},
    monetary={**MONEY, "description": "their value in the report currency"},
    r={**INT, "description": "1-5 by the settings' recency_days bounds"},
    f={**INT, "description": "1-5 by the settings' frequency bounds"},
    m={**INT, "description": "1-5 by the settings' monetary bounds"},
    score={**INT, "description": "r + f + m; the grade is the first of A, B, C whose minimum it reaches, else D"},
)
CUSTOMER_VALUE_ROW = dict(
    subject_type={"enum": ["contact", "company"]},
    subject_id=S,
    display_name=NS,
    owner_id=NS,
    order_count={**INT, "description": "counting orders in the grading window"},
    monetary={**MONEY, "description": "their value in the report currency"},
    first_order_at=NTS,
    last_order_at=NTS,
    rfm={**RFM, "type": ["object", "null"]},
    value_grade=GRADE,
    churn_risk=CHURN,
    graded_at=TS,
)
SALES_SETTINGS_FIELDS = dict(
    report_currency={"enum": list(CURRENCIES), "description": "reports and grades add money up in this currency"},
    exchange_rates={
        "type": "object",
        "properties": {currency: DECIMAL for currency in CURRENCIES},
        "additionalProperties": False,
        "description": "one unit of each currency in report-currency units; the report currency's own is 1",
    },
    value_grading=_closed(
        [],
        window_days={"type": "integer", "minimum": 1, "maximum": 3650, "description": "orders that count (F, M)"},
        recency_days={**_list(INT, 4), "description": "4 rising day bounds: within the first R 5 ... past the last 1"},
        frequency={**_list(INT, 4), "description": "4 rising order counts: reaching the first F 2 ... the last 5"},
        monetary={**_list(DECIMAL, 4), "description": "4 rising amounts: likewise for M"},
        grade_min_scores=_closed(["A", "B", "C"], A=INT, B=INT, C=INT),
    ),
    churn=_closed(
        [],
        recent_months={"type": "integer", "minimum": 1, "maximum": 12, "description": "the last full months"},
        baseline_months={"type": "integer", "minimum": 1, "maximum": 36, "description": "compared to these before"},
        medium_drop={**DECIMAL, "description": "orders or value per month down by this share or more: medium"},
        high_drop={**DECIMAL, "description": "above medium_drop, at most 1: high"},
        min_baseline_orders={"type": "integer", "minimum": 1, "description": "less history: no judgement"},
    ),
    return_visits=_closed(
        [],
        **{grade: {"type": ["integer", "null"], "minimum": 1, "maximum": 3650} for grade in ("A", "B", "C", "D")},
    ),
    lead_scoring=_closed(
        [],
        marketing_qualified={"type": "integer", "minimum": 0, "maximum": 1000},
        sales_qualified={"type": "integer", "minimum": 0, "maximum": 1000, "description": "above marketing_qualified"},
    ),
)


def _value_paths() -> list:
    common = [
        _query("subject_type", SUBJECT_TYPE, "Contacts' figures, or companies' (counting their contacts' orders)"),
        _query("owner_id", S, "Only this owner's customers (and, for reps, only this rep)"),
        _param("limit"),
        _param("cursor"),
    ]
    return [
        _operation(
            "get",
            "/reports/customer-value",
            "sales",
            "Customer value: grade distribution, RFM rows and the Pareto (80/20) view of customers and reps",
            {200: _json(_ref("CustomerValueReport"))},
            errors=(403,),
            query=[
                *common,
                _query("value_grade", {"enum": ["A", "B", "C", "D"]}, "RFM rows of this grade only"),
                _query("pareto_rows", {"type": "integer", "minimum": 1, "maximum": 200}, "Rows per Pareto view"),
            ],
            description=VALUE_REPORT_TEXT + " Reps: what the orders they own brought in the grading window.",
        ),
        _operation(
            "get",
            "/reports/churn-risk",
            "sales",
            "Customers at risk of churning, with the evidence",
            {200: _json(_ref("ChurnRiskReport"))},
            errors=(403,),
            query=[*common, _query("churn_risk", {"enum": ["medium", "high"]}, "Only this level")],
            description=VALUE_REPORT_TEXT + " Largest value first. A customer is at risk when its orders or their "
            "value per month over the last full months fell against its own average before (settings.churn).",
        ),
        _operation(
            "post",
            "/grading-runs",
            "sales",
            "Regrade every customer now (admin)",
            {200: _json(_ref("GradingRun"))},
            errors=(403,),
            description="Admins only. The daily pass regrades the customers not graded today; this one all of them "
            "(after a change of the settings, say): as many as fit in about 2 s now, the rest (remaining) at the "
            "grading timer's next run (queued). Changed grades and churn levels are announced.",
        ),
        _operation(
            "get",
            "/sales-settings",
            "sales",
            "The sales settings: report currency and rates, value grading, churn, return visits, lead thresholds",
            {200: _json(_ref("SalesSettings"), headers=("ETag",))},
            errors=(403,),
            description="Readable by admins, managers, sales reps and viewers. ETag 0 until first saved.",
        ),
        _operation(
            "patch",
            "/sales-settings",
            "sales",
            "Change the sales settings (admin)",
            {200: _json(_ref("SalesSettings"), headers=("ETag",))},
            body="SalesSettingsUpdate",
            errors=(403,),
            description="Admins only. Sections are partial: the keys sent change, the others stay; each changed "
            "section is checked whole (422 naming `<section>.<key>`). A new report currency needs rates in its "
            "units. Grades follow at the next grading (daily) or at once with POST /grading-runs.",
        ),
    ]


def _pareto() -> dict:
    row = _obj(
        ["id", "amount", "share", "cumulative_share", "in_head"],
        id={**S, "description": "the customer's id, or the rep's user id"},
        display_name={**NS, "description": "customers only"},
        amount=MONEY,
        share=RATIO,
        cumulative_share=RATIO,
        in_head={**BOOL, "description": "among the fewest that together bring at least 80% of the total"},
    )
    return _obj(
        ["total", "count", "head", "rows"],
        total=MONEY,
        count={**INT, "description": "customers (or reps) with a value above zero"},
        head=_obj(
            ["count", "share_of_count", "revenue_share"],
            count=INT,
            share_of_count={**RATIO, "description": "head count / count: the '20' of 80/20"},
            revenue_share={**RATIO, "description": "what the head brings of the total: at least 0.8000"},
        ),
        rows={"type": "array", "items": row, "description": "largest first, at most `pareto_rows`"},
    )


def _value_schemas() -> dict:
    averages = dict(months=INT, orders_per_month=RATIO, value_per_month=MONEY)
    evidence = _obj(
        ["months", "baseline", "recent", "drop"],
        months={
            "type": "array",
            "items": _obj(["month", "count", "amount"], month=MONTH, count=INT, amount=MONEY),
            "description": "the monthly series compared, oldest first: the baseline months, then the recent ones",
        },
        baseline=_obj(list(averages), **averages),
        recent=_obj(list(averages), **averages),
        drop=_obj(["orders", "value"], orders=RATIO, value=RATIO),
    )
    value_row = _obj(list(CUSTOMER_VALUE_ROW), **CUSTOMER_VALUE_ROW)
    return {
        "CustomerValueReport": _obj(
            ["currency", "window_days", "grades", "customers", "pareto"],
            currency=S,
            window_days=INT,
            grades=_obj(["A", "B", "C", "D", "none"], A=INT, B=INT, C=INT, D=INT, none=INT),
            customers={
                **_obj(["data", "next_cursor"], data={"type": "array", "items": value_row}, next_cursor=NS),
                "description": "the RFM rows, largest value first, cursor-paged",
            },
            pareto=_obj(["customers", "reps"], customers=_pareto(), reps=_pareto()),
        ),
        "ChurnRiskReport": _obj(
            ["currency", "data", "next_cursor"],
            currency=S,
            data={
                "type": "array",
                "items": _obj(
                    [*CUSTOMER_VALUE_ROW, "churn_reason", "churn_evidence"],
                    **CUSTOMER_VALUE_ROW,
                    churn_reason=S,
                    churn_evidence=evidence,
                ),
            },
            next_cursor=NS,
        ),
        "GradingRun": _obj(
            ["evaluated", "grades_changed", "churn_changed", "skipped", "remaining", "queued"],
            evaluated=INT,
            grades_changed=INT,
            churn_changed=INT,
            skipped={**INT, "description": "customers another instance regraded meanwhile"},
            remaining={**INT, "description": "customers not regraded within this call: the grading timer does them"},
            queued={"type": "boolean", "description": "true when remaining > 0"},
        ),
        "SalesSettings": _obj(
            [*SALES_SETTINGS_FIELDS, "version", "updated_at", "updated_by"],
            **SALES_SETTINGS_FIELDS,
            version={**INT, "description": "0 until an admin first saves the settings"},
            updated_at=NTS,
            updated_by=NS,
        ),
        "SalesSettingsUpdate": _closed([], **SALES_SETTINGS_FIELDS),
    }


# Lead scoring

INTERACTION_KINDS = ("call", "email", "meeting", "chat", "visit", "web", "note")
PROFILE_CONDITION = _closed(
    ["field", "op"],
    field={
        "type": "string",
        "description": "title, lifecycle_stage, source_channel, source_campaign, tags, interests, "
        "preferred_language, company_id, email, phone, value_grade or custom_fields.<key>",
    },
    op={"enum": ["eq", "ne", "in", "contains", "exists"]},
    value={
        "description": "eq/ne: a scalar; in: a list; contains: a text or a list of texts (any); exists: true "
        "(default) or false. Texts compare without regard to case; on a list field eq, in and contains hold "
        "when some item does, ne when none does",
    },
)
ENGAGEMENT_CONDITION = _closed(
    ["interaction_kind", "within_days"],
    interaction_kind={
        "anyOf": [
            {"enum": list(INTERACTION_KINDS)},
            {"type": "array", "items": {"enum": list(INTERACTION_KINDS)}, "minItems": 1},
        ]
    },
    direction={"enum": ["inbound", "outbound", None], "description": "inbound email: a reply; null: either"},
    within_days={"type": "integer", "minimum": 1, "maximum": 3650, "description": "only interactions this recent"},
)
RULE_FIELDS = dict(
    name=_text(100, required=True),
    description=_text(500),
    category={"enum": ["profile", "engagement"]},
    active={**BOOL, "description": "default true; an inactive rule gives no points"},
    points={
        "type": "integer",
        "minimum": -100,
        "maximum": 100,
        "description": "not 0; a profile rule's points once, an engagement rule's per matching interaction",
    },
    max_points={
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": 1000,
        "description": "engagement rules only: the most (or, for negative points, the least) the rule adds up to",
    },
    condition={
        "type": "object",
        "anyOf": [PROFILE_CONDITION, ENGAGEMENT_CONDITION],
        "description": "profile rules test a field of the contact; engagement rules count its interactions",
    },
)
RULE_NOTES = {
    "get": "Every sales role reads the rules (403 for support agents). Six default rules are created the first "
    "time the rules are read; deleted, they do not come back. Sorted by name unless sorted otherwise.",
    "post": "Admins only (403). At most 200 rules (409). Every score is recomputed: at once when read, by the "
    "timer otherwise.",
}


def _scoring_paths() -> list:
    return [
        *_collection(
            "sales",
            "/lead-scoring-rules",
            "LeadScoringRule",
            "LeadScoringRuleInput",
            _equals("name", category={"enum": ["profile", "engagement"]}, active=BOOL),
            descriptions=RULE_NOTES,
        ),
        *_item(
            "sales",
            "/lead-scoring-rules/{id}",
            "LeadScoringRule",
            "LeadScoringRuleUpdate",
            deletable=True,
            descriptions={"patch": "Admins only (403).", "delete": "Admins only (403)."},
        ),
        _operation(
            "get",
            "/contacts/{id}/lead-score",
            "sales",
            "A contact's lead score, explained",
            {200: _json(_ref("LeadScore"))},
            description="To whoever sees the contact (404 otherwise, as for a missing one). Computed now under "
            "the rules in force from the contact's profile and its newest 200 interactions.",
        ),
    ]


def _scoring_schemas() -> dict:
    stage = {"enum": ["marketing_qualified", "sales_qualified", None]}
    part = _obj(
        ["rule_id", "name", "category", "points", "detail"],
        rule_id=S,
        name=S,
        category={"enum": ["profile", "engagement"]},
        points=INT,
        detail={**S, "description": "what matched, e.g. `3 email inbound interactions in the last 30 days (capped)`"},
    )
    return {
        "LeadScoringRuleInput": _closed(["name", "category", "points", "condition"], **RULE_FIELDS),
        "LeadScoringRuleUpdate": _closed([], **RULE_FIELDS),
        "LeadScoringRule": _record(RULE_FIELDS, created_by={**S, "description": "`system` for the default rules"}),
        "LeadScore": _obj(
            ["contact_id", "score", "breakdown", "qualification", "thresholds", "computed_at"],
            contact_id=S,
            score={**INT, "description": "the sum of the breakdown's points"},
            breakdown={"type": "array", "items": part, "description": "the rules that gave points"},
            qualification={**stage, "description": "the stage the score reaches under the thresholds"},
            thresholds=_obj(["marketing_qualified", "sales_qualified"], marketing_qualified=INT, sales_qualified=INT),
            computed_at=TS,
        ),
    }


# Reports and quotas

QUOTA_FIELDS = dict(
    owner_id=_text(64, required=True),
    period={"type": "string", "maxLength": 7, "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])$"},
    amount=DECIMAL,
    currency={"enum": list(CURRENCIES)},
)
RATIO = {
    "type": ["string", "null"],
    "description": 'a ratio as a decimal string with four places ("0.7500" is 75%); null when undefined',
}
NMONEY = {**MONEY, "type": ["string", "null"]}
MONTH = {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"}
REPORT_PERIOD = {"enum": ["month", "quarter"], "default": "quarter"}
GROUPINGS = {"enum": ["owner", "team", "pipeline", "period"], "default": "period"}
OUTCOMES = dict(
    won_count=INT,
    lost_count=INT,
    won_amount=MONEY,
    win_rate=RATIO,
    average_deal_size=NMONEY,
    average_cycle_days={
        "type": ["string", "null"],
        "description": "days from creation to the win, averaged over the won deals, one decimal place",
    },
)
FORECAST_FIGURES = dict(
    pipeline={**MONEY, "description": "the open amount"},
    weighted={**MONEY, "description": "open amounts times their stage's win probability now"},
    commit={**MONEY, "description": "closed won plus open deals in commit stages"},
    best_case={**MONEY, "description": "commit plus open deals in best-case stages"},
    closed_won=MONEY,
    open_count=INT,
    won_count=INT,
    quota={**NMONEY, "description": "by owner or team (its members' quotas), and in the totals; else null"},
    attainment={**RATIO, "description": "closed_won / quota; null without a quota"},
)
REPORT_RANGE = {"currency": S, "period": REPORT_PERIOD, "from": MONTH, "to": MONTH}
REPORT_QUERY_TEXT = (
    "Figures of the owners in the caller's reach only: a rep their own, a manager their teams', an admin all; "
    "support agents get a 403. Money in the report currency of the sales settings, converted at its rates. "
    "`from` / `to` are months (a quarter report widens them to whole quarters; default: the current period; "
    "at most 36 months)."
)


def _report_query(*extra: dict) -> list[dict]:
    return [
        _query("period", REPORT_PERIOD, "Rows per month or per quarter"),
        _query("from", MONTH, "First month (YYYY-MM)"),
        _query("to", MONTH, "Last month (YYYY-MM)"),
        _query("pipeline_id", S, "Only this pipeline's deals"),
        _query("owner_id", S, "Only this owner's deals"),
        _query("team_id", S, "Only the deals of this team's members (a team with no member in reach: 400)"),
        *extra,
    ]


def _report_paths() -> list:
    return [
        *_collection(
            "sales",
            "/quotas",
            "Quota",
            "QuotaInput",
            _equals("owner_id", "period", "currency"),
            descriptions={
                "get": "Quotas of the owners in the caller's reach, latest period first unless sorted.",
                "post": "Admins for anyone, managers for the members of the teams they manage (403 otherwise); "
                "one quota per owner and period (409 naming it). A quarterly quota counts in a report only for "
                "the whole quarter; monthly ones add up.",
            },
        ),
        *_item("sales", "/quotas/{id}", "Quota", "QuotaUpdate", deletable=True),
        _operation(
            "get",
            "/reports/forecast",
            "sales",
            "Forecast: pipeline, weighted, commit, best case, closed won and attainment by period",
            {200: _json(_ref("ForecastReport"))},
            errors=(403,),
            query=_report_query(_query("group_by", GROUPINGS, "Rows per owner, team, pipeline or period")),
            description=REPORT_QUERY_TEXT
            + " Open deals count in the period of their expected close date (those without one under "
            "`unscheduled`), won deals in the month they were won.",
        ),
        _operation(
            "get",
            "/reports/funnel",
            "sales",
            "Conversion funnel by stage, win rate, average deal size and sales cycle",
            {200: _json(_ref("FunnelReport"))},
            errors=(403,),
            query=_report_query(),
            description=REPORT_QUERY_TEXT
            + " Stages: of the deals created in the range, how many reached each stage. Win rate, deal size "
            "and cycle: of the deals closed in the range.",
        ),
        _operation(
            "get",
            "/reports/leaderboard",
            "sales",
            "Owners ranked by won amount, with win rate, deal size, cycle and quota attainment",
            {200: _json(_ref("LeaderboardReport"))},
            errors=(403,),
            query=_report_query(),
            description=REPORT_QUERY_TEXT + " Of the deals closed in the range; equal figures share a rank.",
        ),
    ]


def _report_schemas() -> dict:
    outcomes = list(OUTCOMES)
    figures = list(FORECAST_FIGURES)
    return {
        "QuotaInput": _closed(["owner_id", "period", "amount", "currency"], **QUOTA_FIELDS),
        "QuotaUpdate": _closed([], **_subset(QUOTA_FIELDS, ("amount", "currency"))),
        "Quota": _record({**QUOTA_FIELDS, "amount": MONEY}, created_by=S),
        "ForecastRow": _obj(
            ["period", *figures],
            owner_id=S,
            team_id=S,
            pipeline_id=S,
            name={**S, "description": "the team's or pipeline's name"},
            period={**S, "description": "YYYY-MM or YYYY-Qn"},
            **FORECAST_FIGURES,
        ),
        "ForecastReport": _obj(
            [*REPORT_RANGE, "group_by", "rows", "totals", "unscheduled"],
            **REPORT_RANGE,
            group_by=GROUPINGS,
            rows={"type": "array", "items": _ref("ForecastRow")},
            totals={"type": "array", "items": _ref("ForecastRow"), "description": "per period, every group"},
            unscheduled=_obj(["pipeline", "weighted", "open_count"], pipeline=MONEY, weighted=MONEY, open_count=INT),
        ),
        "FunnelPipeline": _obj(
            ["pipeline_id", "name", "deals", "open", "won", "lost", "stages", *outcomes],
            pipeline_id=S,
            name=S,
            deals={**INT, "description": "deals created in the range"},
            open=INT,
            won=INT,
            lost=INT,
            stages={
                "type": "array",
                "items": _obj(
                    ["stage_id", "name", "probability", "reached", "conversion_to_next"],
                    stage_id=S,
                    name=S,
                    probability=INT,
                    reached={**INT, "description": "deals whose furthest stage is this one or a later one"},
                    conversion_to_next=RATIO,
                ),
            },
            **OUTCOMES,
        ),
        "FunnelReport": _obj(
            [*REPORT_RANGE, "pipelines", "totals"],
            **REPORT_RANGE,
            pipelines={"type": "array", "items": _ref("FunnelPipeline")},
            totals=_obj(["deals", *outcomes], deals=INT, **OUTCOMES),
        ),
        "LeaderboardReport": _obj(
            [*REPORT_RANGE, "data"],
            **REPORT_RANGE,
            data={
                "type": "array",
                "items": _obj(
                    ["rank", "owner_id", *outcomes, "quota", "attainment"],
                    rank=INT,
                    owner_id=S,
                    **OUTCOMES,
                    quota=NMONEY,
                    attainment=RATIO,
                ),
            },
        ),
    }


def sales_paths() -> list:
    return [*_deal_paths(), *_order_paths(), *_task_paths(), *_value_paths(), *_report_paths(), *_scoring_paths()]


def sales_schemas() -> dict:
    return {
        **_deal_schemas(),
        **_order_schemas(),
        **_task_schemas(),
        **_value_schemas(),
        **_report_schemas(),
        **_scoring_schemas(),
    }
