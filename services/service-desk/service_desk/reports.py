"""The service report: backlog, volumes, first-response and resolution times, SLA compliance and
CSAT over the tickets in the caller's reach (a mixin of ServiceDeskService; figures in reporting.py)."""

from collections.abc import Iterator

from nameko.rpc import rpc

from crm_common.access import and_filters, reach_of

from . import domain, reporting
from .store import TICKETS

# Tickets are read in pages this large; only the fields a report needs are kept of each.
REPORT_PAGE = 1000


class ReportsRpc:
    """RPC entrypoint of the service report."""

    def _report_tickets(self, flt: dict) -> Iterator[dict]:
        reach = domain.ticket_filter(reach_of(self.caller))
        for ticket in self.store[TICKETS].iterate(and_filters(reach, flt), [("created_at", 1)], REPORT_PAGE):
            yield reporting.slim(ticket)

    @rpc
    def service_report(self, query: dict | None = None) -> dict:
        """Every role may ask: the rows add up only the tickets the caller sees (a support agent
        their teams' and their own, a sales rep their customers', admins all)."""
        now = self._now()
        parsed = reporting.parse_service_query(query, now.date())
        created = self._report_tickets({"created_at": {"$gte": parsed.created_from, "$lt": parsed.created_before}})
        backlog = self._report_tickets({"status": {"$in": list(domain.WORKING_STATUSES)}})
        return reporting.service_report(parsed, created, backlog, now)
