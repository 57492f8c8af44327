"""The search nameko service: indexes events, answers the one search box."""

import time
from datetime import datetime

from nameko.rpc import rpc
from prometheus_client import Histogram

from crm_common.access import reach_of
from crm_common.errors import BadRequest
from crm_common.listing import parse_limit
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.events import handle_event
from crm_common.runtime.store import Store
from crm_common.search_index import SearchDoc, SearchQuery

from . import domain
from .index import Index

TYPES = ("contact", "company", "deal", "ticket")
FRESHNESS = Histogram(
    "crm_search_freshness_seconds",
    "Delay from the source write to searchable",
    ["type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60),
)


class SearchService(ServiceBase):
    name = "search"
    store = Store(())  # only the messaging bookkeeping: processed ids, failures, dead letters
    index = Index()

    def ready_checks(self) -> dict:
        return {"store": self.store, "index": self.index}

    def _index(self, doc: SearchDoc, written_at: str) -> None:
        if self.index.upsert(doc):
            written = datetime.fromisoformat(written_at.replace("Z", "+00:00")).timestamp()
            FRESHNESS.labels(doc.type).observe(max(0.0, time.time() - written))

    @rpc
    def search(self, query: dict) -> dict:
        text = query.get("q")
        if not isinstance(text, str) or not text.strip():
            raise BadRequest("q is required")
        types = [t for t in (query.get("types") or "").split(",") if t]
        unknown = [t for t in types if t not in TYPES]
        if unknown:
            raise BadRequest(f"unknown type(s) {', '.join(unknown)}; use {', '.join(TYPES)}")
        # Hits, the total and the facets count only what the caller may see.
        access = reach_of(self.caller).tokens()
        result = self.index.search(
            SearchQuery(text, types or None, {}, parse_limit(query.get("limit")), query.get("cursor") or None, access)
        )
        return {
            "data": [
                {"type": h.type, "id": h.id, "title": h.title, "highlights": h.highlights, "score": h.score}
                for h in result.hits
            ],
            "facets": result.facets,
            "total": result.total,
            "next_cursor": result.next_cursor,
        }

    @handle_event("contacts", "contact_created")
    def on_contact_created(self, tx, event) -> None:
        self._index(domain.contact_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "contact_updated")
    def on_contact_updated(self, tx, event) -> None:
        self._index(domain.contact_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "contact_deleted")
    def on_contact_deleted(self, tx, event) -> None:
        self.index.delete("contact", event.payload["id"], event.payload["version"])

    @handle_event("contacts", "company_created")
    def on_company_created(self, tx, event) -> None:
        self._index(domain.company_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "company_updated")
    def on_company_updated(self, tx, event) -> None:
        self._index(domain.company_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "company_deleted")
    def on_company_deleted(self, tx, event) -> None:
        self.index.delete("company", event.payload["id"], event.payload["version"])

    @handle_event("sales", "deal_created")
    def on_deal_created(self, tx, event) -> None:
        self._index(domain.deal_doc(event.payload), event.occurred_at)

    @handle_event("sales", "deal_updated")
    def on_deal_updated(self, tx, event) -> None:
        self._index(domain.deal_doc(event.payload), event.occurred_at)

    @handle_event("service_desk", "ticket_created")
    def on_ticket_created(self, tx, event) -> None:
        self._index(domain.ticket_doc(event.payload), event.occurred_at)

    @handle_event("service_desk", "ticket_updated")
    def on_ticket_updated(self, tx, event) -> None:
        self._index(domain.ticket_doc(event.payload), event.occurred_at)
