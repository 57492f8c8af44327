"""The contacts service's collections and indexes on the shared document-store port."""

from crm_common.store import CollectionSpec, Index

COMPANIES = "companies"
CONTACTS = "contacts"
TIMELINE = "timeline"
# Projection of the service desk's tickets: which customers each service team's tickets link to.
SERVICE_LINKS = "service_links"
# Projection of deals and tickets: their newest known access tokens, for their timeline entries.
REF_ACCESS = "ref_access"
# Every version of each company and contact, for `as_of` and for history that outlives a delete.
HISTORY = "history"
INTERACTIONS = "interactions"
CUSTOM_FIELDS = "custom_fields"
# Projection of sales' deals: which are open, per customer (open_deal_count on the customer).
DEAL_LINKS = "deal_links"
# Personal-data erasures: who asked, when, why, and which services have scrubbed (personal_data.py).
ERASURES = "erasures"
# The customer pool: one settings document, admins' reclaim rules, the advance notices
# a reclaim run gave (id: the contact's), claims per person per UTC day, bulk hand-over jobs.
POOL_SETTINGS = "pool_settings"
RECLAIM_RULES = "reclaim_rules"
RECLAIM_NOTICES = "reclaim_notices"
POOL_CLAIMS = "pool_claims"
HAND_OVERS = "hand_overs"
# Saved filters over contacts or companies.
SEGMENTS = "segments"
# CSV imports and exports (transfers.py): the jobs, the uploaded rows waiting in chunks, each
# rejected row's errors, and the rendered CSV of an export in chunks.
IMPORTS = "imports"
IMPORT_CHUNKS = "import_chunks"
IMPORT_ERRORS = "import_errors"
EXPORTS = "exports"
EXPORT_CHUNKS = "export_chunks"
# The runner picks jobs by status, least recently worked on first; people list their own.
TRANSFER_JOB_INDEXES = (Index(("status", "worked_at")), Index(("created_by", "created_at")), Index(("created_at",)))
# When each sales fact (value grade, churn risk) was last applied per customer: facts arrive out of order.
SALES_MARKS = "sales_marks"
# Duplicate detection (merging.py): one document per blocking key of each company and contact,
# id `<subject_type>:<subject_id>:<kind>:<value>`, looked up by (subject_type, kind, value); `id`
# closes the index so that a lookup in a large block reads its first rows in order and stops.
MATCH_KEYS = "match_keys"
# Which record each merged company or contact went into: id `<subject_type>:<old id>`.
MERGES = "merges"

SPECS = (
    CollectionSpec(COMPANIES, (Index(("created_at",)), Index(("owner_id", "created_at")), Index(("name",)))),
    CollectionSpec(
        CONTACTS,
        (
            Index(("created_at",)),
            Index(("owner_id", "created_at")),
            # The pool, newest arrivals first (GET /pool).
            Index(("owner_id", "pool.entered_at")),
            Index(("email",)),
            Index(("company_id",)),
            Index(("lifecycle_stage", "created_at")),
        ),
    ),
    CollectionSpec(
        TIMELINE,
        (Index(("subject_id", "occurred_at")), Index(("subject_id", "kind", "occurred_at")), Index(("ref.id",))),
    ),
    CollectionSpec(SERVICE_LINKS, (Index(("subject_type", "team_id", "linked_at")),)),
    CollectionSpec(REF_ACCESS),
    CollectionSpec(HISTORY, (Index(("subject_id", "record_version")),)),
    CollectionSpec(
        INTERACTIONS,
        (
            Index(("contact_id", "occurred_at")),
            Index(("company_id", "occurred_at")),
            Index(("owner_id", "occurred_at")),
            Index(("occurred_at",)),
        ),
    ),
    CollectionSpec(CUSTOM_FIELDS, (Index(("entity", "key"), unique=True),)),
    CollectionSpec(SALES_MARKS),
    CollectionSpec(MATCH_KEYS, (Index(("subject_type", "kind", "value", "id")), Index(("subject_id",)))),
    # Erasure and export follow merges backwards: every record merged into a contact (personal_data.py).
    CollectionSpec(MERGES, (Index(("merged_into",)),)),
    CollectionSpec(DEAL_LINKS, (Index(("contact_id", "open")), Index(("company_id", "open")))),
    CollectionSpec(
        ERASURES,
        (Index(("requested_at",)), Index(("contact_id", "requested_at")), Index(("status", "requested_at"))),
    ),
    CollectionSpec(POOL_SETTINGS),
    CollectionSpec(RECLAIM_RULES, (Index(("created_at",)),)),
    # A reclaim run reads every notice by reclaim_at, soonest first (ownership.py).
    CollectionSpec(RECLAIM_NOTICES, (Index(("owner_id", "reclaim_at")), Index(("reclaim_at",)))),
    CollectionSpec(POOL_CLAIMS),
    CollectionSpec(HAND_OVERS, (Index(("status", "created_at")), Index(("from_owner_id", "status")))),
    CollectionSpec(IMPORTS, TRANSFER_JOB_INDEXES),
    CollectionSpec(IMPORT_CHUNKS, (Index(("import_id",)),)),
    CollectionSpec(IMPORT_ERRORS, (Index(("import_id", "row")),)),
    CollectionSpec(EXPORTS, TRANSFER_JOB_INDEXES),
    CollectionSpec(EXPORT_CHUNKS, (Index(("export_id",)),)),
    CollectionSpec(
        SEGMENTS, (Index(("created_at",)), Index(("owner_id", "created_at")), Index(("shared", "created_at")))
    ),
)
