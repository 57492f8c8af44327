"""The search nameko service: indexes events, answers the one search box."""

import time
from dataclasses import asdict
from datetime import datetime

from nameko.rpc import rpc
from prometheus_client import Histogram

from crm_common.access import ADMIN, reach_of, require_role
from crm_common.ids import utc_now
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.events import handle_event
from crm_common.runtime.store import Store
from crm_common.search_index import SearchDoc

from . import domain, events, jobs
from .index import Index
from .maintenance import MaintenanceRpc
from .query import encode_cursor, search_query

FRESHNESS = Histogram(
    "crm_search_freshness_seconds",
    "Delay from the source write to searchable (or gone from search, for deletes)",
    ["type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60),
)


def _observe_freshness(doc_type: str, written_at: str) -> None:
    written = datetime.fromisoformat(written_at.replace("Z", "+00:00")).timestamp()
    FRESHNESS.labels(doc_type).observe(max(0.0, time.time() - written))


class SearchService(MaintenanceRpc, ServiceBase):
    name = "search"
    # The messaging bookkeeping (processed ids, failures, dead letters) and the reindex jobs.
    store = Store(jobs.STORE_SPECS)
    index = Index()

    def ready_checks(self) -> dict:
        return {"store": self.store, "index": self.index}

    def _index(self, doc: SearchDoc, written_at: str) -> None:
        if self.index.upsert(doc):
            _observe_freshness(doc.type, written_at)

    def _delete(self, doc_type: str, doc_id: str, version: int, written_at: str) -> None:
        if self.index.delete(doc_type, doc_id, version):
            _observe_freshness(doc_type, written_at)

    @rpc
    def search(self, query: dict) -> dict:
        """One search box over every type; hits, the total and the facets count only what the
        caller may see. See query.py for the parameters."""
        parsed = search_query(query, reach_of(self.caller).tokens(), utc_now())
        result = self.index.search(parsed)
        return {
            "data": [
                {
                    "type": h.type,
                    "id": h.id,
                    "title": h.title,
                    "highlights": h.highlights,
                    "score": h.score,
                    "fields": h.fields,
                }
                for h in result.hits
            ],
            "facets": result.facets,
            "total": result.total,
            "total_relation": result.total_relation,
            "next_cursor": encode_cursor(parsed.now, result.next_cursor) if result.next_cursor else None,
        }

    @handle_event("contacts", "contact_created")
    def on_contact_created(self, tx, event) -> None:
        self._index(domain.contact_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "contact_updated")
    def on_contact_updated(self, tx, event) -> None:
        self._index(domain.contact_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "contact_deleted")
    def on_contact_deleted(self, tx, event) -> None:
        self._delete("contact", event.payload["id"], event.payload["version"], event.occurred_at)

    @handle_event("contacts", "interaction_logged")
    def on_interaction_logged(self, tx, event) -> None:
        self._index(domain.interaction_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "interaction_updated")
    def on_interaction_updated(self, tx, event) -> None:
        self._index(domain.interaction_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "interaction_deleted")
    def on_interaction_deleted(self, tx, event) -> None:
        self._delete("interaction", event.payload["id"], event.payload["version"], event.occurred_at)

    @handle_event("contacts", "company_created")
    def on_company_created(self, tx, event) -> None:
        self._index(domain.company_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "company_updated")
    def on_company_updated(self, tx, event) -> None:
        self._index(domain.company_doc(event.payload), event.occurred_at)

    @handle_event("contacts", "company_deleted")
    def on_company_deleted(self, tx, event) -> None:
        self._delete("company", event.payload["id"], event.payload["version"], event.occurred_at)

    @handle_event("sales", "deal_created")
    def on_deal_created(self, tx, event) -> None:
        self._index(domain.deal_doc(event.payload), event.occurred_at)

    @handle_event("sales", "deal_updated")
    def on_deal_updated(self, tx, event) -> None:
        self._index(domain.deal_doc(event.payload), event.occurred_at)

    @handle_event("sales", "order_created")
    def on_order_created(self, tx, event) -> None:
        self._index(domain.order_doc(event.payload), event.occurred_at)

    @handle_event("sales", "order_updated")
    def on_order_updated(self, tx, event) -> None:
        self._index(domain.order_doc(event.payload), event.occurred_at)

    @handle_event("service_desk", "ticket_created")
    def on_ticket_created(self, tx, event) -> None:
        self._ticket(event.payload, event.occurred_at)

    @handle_event("service_desk", "ticket_updated")
    def on_ticket_updated(self, tx, event) -> None:
        self._ticket(event.payload, event.occurred_at)

    @handle_event("service_desk", "ticket_merged")
    def on_ticket_merged(self, tx, event) -> None:
        # The payload names the duplicates without their versions. The merge closed each one at
        # the version after the one indexed (a merged ticket changes no more), so the tombstone
        # goes there: the same one the duplicate's own ticket_updated (merged_into set) leaves,
        # whichever comes first. The survivor is indexed as it stands.
        self._ticket(event.payload, event.occurred_at)
        for duplicate_id in event.payload.get("merged_ids") or []:
            indexed = self.index.get("ticket", duplicate_id)
            if indexed is not None:
                self._delete("ticket", duplicate_id, indexed.version + 1, event.occurred_at)

    def _ticket(self, ticket: dict, written_at: str) -> None:
        if domain.ticket_is_searchable(ticket):
            self._index(domain.ticket_doc(ticket), written_at)
        else:  # a duplicate merged into another ticket
            self._delete("ticket", ticket["id"], ticket["version"], written_at)

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
        self._delete("contact", contact_id, event.payload["version"], event.occurred_at)
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

    def _forget_merged(self, doc_type: str, event) -> None:
        # The merged records are gone for good: the same tombstone their <type>_deleted leaves,
        # whichever of the two events comes first. The survivor is re-indexed by <type>_updated.
        for record in event.payload.get("merged") or []:
            self._delete(doc_type, record["id"], record["version"], event.occurred_at)

    @handle_event("contacts", "contact_merged")
    def on_contact_merged(self, tx, event) -> None:
        self._forget_merged("contact", event)

    @handle_event("contacts", "company_merged")
    def on_company_merged(self, tx, event) -> None:
        self._forget_merged("company", event)
