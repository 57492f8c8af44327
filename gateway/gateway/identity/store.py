"""The gateway's own store: identity, sessions, sign-in failures, idempotency, rate limits and audit."""

from crm_common.config import store_url
from crm_common.store import CollectionSpec, DocumentStore, Index, open_store

USERS = "users"
TEAMS = "teams"
API_KEYS = "api_keys"
SESSIONS = "sessions"
LOGIN_FAILURES = "login_failures"
IDEMPOTENCY = "idempotency"
RATE_BUCKETS = "rate_buckets"
AUDIT = "audit"

SPECS = (
    CollectionSpec(USERS, (Index(("email",), unique=True), Index(("created_at",)))),
    CollectionSpec(TEAMS, (Index(("name",), unique=True), Index(("created_at",)))),
    CollectionSpec(API_KEYS, (Index(("created_at",)), Index(("user_id",)))),
    CollectionSpec(SESSIONS, (Index(("user_id",)),)),
    CollectionSpec(LOGIN_FAILURES),
    CollectionSpec(IDEMPOTENCY, (Index(("created_epoch",)),)),
    CollectionSpec(RATE_BUCKETS),
    CollectionSpec(
        AUDIT, (Index(("at",)), Index(("actor_id", "at")), Index(("record_id", "at")), Index(("request_id",)))
    ),
)


def open_gateway_store(url: str | None = None) -> DocumentStore:
    """`GATEWAY_STORE_URL`, else an SQLite file under the data directory."""
    return open_store(url or store_url("gateway"), SPECS)
