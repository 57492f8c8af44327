"""The Prometheus metrics every service exports: RPC latency, events handled and failed, outbox backlog."""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

RPC_LATENCY = Histogram(
    "crm_rpc_duration_seconds",
    "Time spent serving an RPC call",
    ["service", "method", "outcome"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_HANDLED = Counter("crm_events_handled_total", "Events a handler processed successfully", ["service", "handler"])
EVENTS_FAILED = Counter("crm_events_failed_total", "Event handler attempts that raised", ["service", "handler"])
EVENTS_DEAD_LETTERED = Counter(
    "crm_events_dead_lettered_total",
    "Events parked in the dead-letter store after the retry cap",
    ["service", "handler"],
)
OUTBOX_BACKLOG = Gauge("crm_outbox_backlog", "Events written to the outbox and not yet published", ["service"])
EVENTS_PUBLISHED = Counter(
    "crm_events_published_total", "Events the outbox relay published with confirms", ["service", "event_type"]
)
DEAD_LETTERS = Gauge("crm_dead_letters", "Events currently parked in the dead-letter store", ["service"])
