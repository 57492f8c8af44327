"""Business counters of the service desk: tickets resolved, by whether their SLA was met (SLA
compliance = met / (met + breached)). SLA breaches as they happen are counted by the outbox relay:
crm_events_published_total{service="service_desk", event_type="ticket_sla_breached"}."""

from datetime import datetime

from prometheus_client import Counter

from .reporting import sla_outcome

TICKETS_RESOLVED = Counter(
    "crm_tickets_resolved_total", "Tickets resolved, by SLA outcome (met, breached, none: no SLA)", ["sla"]
)


def count_resolution(ticket: dict, now: datetime) -> None:
    """Count `ticket` (as stored, just resolved) under its SLA outcome at `now`."""
    TICKETS_RESOLVED.labels(sla_outcome(ticket, now) or "none").inc()
