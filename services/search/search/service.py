"""The search nameko service: indexes events, answers the one search box."""

import time
from dataclasses import asdict
from datetime import datetime

from nameko.rpc import rpc
from prometheus_client import Histogram

from crm_common.access import ADMIN, reach_of, require_role
from crm_common.errors import BadRequest
from crm_common.listing import parse_limit
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.events import handle_event
from crm_common.runtime.store import Store
from crm_common.search_index import SearchDoc, SearchQuery

from . import domain, events
from .index import Index

TYPES = ("contact", "company", "interaction", "deal", "ticket")
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

    @handle_event("contacts", "interaction_logged")
    def on_interaction_logged(self, tx, event) -> None:
        self._index(domain.interaction_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "interaction_updated")
    def on_interaction_updated(self, tx, event) -> None:
        self._index(domain.interaction_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "interaction_deleted")
    def on_interaction_deleted(self, tx, event) -> None:
        self.index.delete("interaction", event.payload["id"], event.payload["version"])

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

    # personal data

    @rpc
    def export_personal_data(self, contact_id: str) -> dict:
        """The contact's own search document, for the contacts service's export (admins and the
        platform only). The deal and ticket documents are copies of what sales and the service desk
        export themselves, and follow their erasure through deal_updated / ticket_updated."""
        require_role(self.caller, (ADMIN,), "export personal data")
        doc = self.index.get("contact", contact_id)
        return {"documents": [asdict(doc)] if doc is not None else []}

    @handle_event("contacts", "contact_erased")
    def on_contact_erased(self, tx, event) -> None:
        # The tombstone at the erased version refuses any late, older contact event: nothing
        # brings the document back.
        contact_id = event.payload["id"]
        present = self.index.get("contact", contact_id) is not None
        self.index.delete("contact", contact_id, event.payload["version"])
        self.emit(
            tx,
            events.PERSONAL_DATA_ERASED,
            {
                "contact_id": contact_id,
                "erasure_id": event.payload["erasure_id"],
                "service": self.name,
                "detail": {"documents_removed": int(present)},
            },
        )

    # merged customers

    def _forget_merged(self, doc_type: str, merged: dict) -> None:
        # The merged records are gone for good: the same tombstone their <type>_deleted leaves,
        # whichever of the two events comes first. The survivor is re-indexed by <type>_updated.
        for record in merged.get("merged") or []:
            self.index.delete(doc_type, record["id"], record["version"])

    @handle_event("contacts", "contact_merged")
    def on_contact_merged(self, tx, event) -> None:
        self._forget_merged("contact", event.payload)

    @handle_event("contacts", "company_merged")
    def on_company_merged(self, tx, event) -> None:
        self._forget_merged("company", event.payload)
