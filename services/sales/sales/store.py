"""The sales service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

PIPELINES = "pipelines"
DEALS = "deals"
# Pre-aggregated deal figures the reports read instead of the deals (see rollups.py): one document
# per bucket (`kind` forecast | outcome | funnel, `period`, `owner_id`, ...) with `count` and `amount`.
DEAL_ROLLUPS = "deal_rollups"
ORDERS = "orders"
TASKS = "tasks"
QUOTAS = "quotas"
# One document, id `settings`: report currency and rates, value grading, churn, return visits, lead thresholds.
SETTINGS = "sales_settings"
# The customers sales has heard of from contacts' events: id `<contact|company>:<id>`, owner_id,
# shared_with, display_name, company_id, lifecycle_stage, deleted, source_version.
CUSTOMERS = "customers"
# Per customer (id `<contact|company>:<id>`): order totals, the monthly series, RFM scores, value
# grade and churn risk, with the customer's owner_id and shared_with for reach filters.
CUSTOMER_STATS = "customer_stats"
# The next planned return visit per graded customer (id `<contact|company>:<id>`, `due_at`).
RETURN_VISITS = "return_visits"
LEAD_SCORING_RULES = "lead_scoring_rules"
# Per contact (id = contact id): the score, its breakdown, the profile and engagement it came from.
LEAD_SCORES = "lead_scores"
# What engagement rules read of each interaction (id = interaction id): contact_id, kind,
# direction, occurred_at; kept here because interaction_deleted names only the interaction.
LEAD_INTERACTIONS = "lead_interactions"
# Lead-scoring bookkeeping, one document id `rules`: defaults seeded, the rescoring after a rule change.
LEAD_SCORING_STATE = "lead_scoring_state"
# Customers merged into another (contacts' contact_merged / company_merged): id
# `<subject_type>:<old id>`, `merged_into`. Deals, orders and tasks follow them.
MERGED_CUSTOMERS = "merged_customers"
# Grading bookkeeping, one document id `grading`: `requested_at`, the last POST /grading-runs; the
# grading timer regrades every customer graded before it (and before today began).
GRADING_STATE = "grading_state"

SPECS = (
    CollectionSpec(PIPELINES, (Index(("name",)),)),
    CollectionSpec(
        DEALS,
        (
            Index(("created_at",)),
            Index(("contact_id", "created_at")),
            Index(("company_id", "created_at")),
            Index(("owner_id", "created_at")),
            Index(("pipeline_id", "stage_id")),
            Index(("status", "rotting_at")),
        ),
    ),
    CollectionSpec(DEAL_ROLLUPS, (Index(("kind", "period")),)),
    CollectionSpec(
        ORDERS,
        (
            Index(("ordered_at",)),
            Index(("contact_id", "ordered_at")),
            Index(("company_id", "ordered_at")),
            Index(("owner_id", "ordered_at")),
            Index(("deal_id",), unique=True),
        ),
    ),
    CollectionSpec(
        TASKS,
        (
            Index(("due_at",)),
            Index(("assignee_id", "due_at")),
            Index(("contact_id", "due_at")),
            Index(("deal_id", "due_at")),
            Index(("done", "remind_at")),
            Index(("done", "due_at")),
            # The task timers' pending alerts (null once sent or done): see task_rules.with_alert_schedule.
            Index(("reminder_due_at",)),
            Index(("overdue_due_at",)),
            Index(("created_by", "due_at")),
        ),
    ),
    CollectionSpec(QUOTAS, (Index(("owner_id", "period"), unique=True), Index(("period",)))),
    CollectionSpec(SETTINGS),
    CollectionSpec(CUSTOMERS, (Index(("owner_id",)),)),
    CollectionSpec(
        CUSTOMER_STATS,
        (
            Index(("owner_id",)),
            Index(("value_grade",)),
            Index(("churn_risk",)),
            Index(("monetary_minor",)),
            Index(("last_order_at",)),
            Index(("graded_at",)),  # the daily grading pass: customers not graded today
            Index(("subject_type", "monetary_minor")),  # the value reports, largest first
        ),
    ),
    CollectionSpec(RETURN_VISITS, (Index(("due_at",)),)),
    CollectionSpec(LEAD_SCORING_RULES, (Index(("name",)),)),
    CollectionSpec(LEAD_SCORES, (Index(("score",)), Index(("recheck_at",)))),
    CollectionSpec(LEAD_INTERACTIONS, (Index(("contact_id", "occurred_at")),)),
    CollectionSpec(LEAD_SCORING_STATE),
    CollectionSpec(MERGED_CUSTOMERS),
    CollectionSpec(GRADING_STATE),
)
