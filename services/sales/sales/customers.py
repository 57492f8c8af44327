"""What sales hears about customers: the `customers` projection from contacts' events, merges
(deals, orders and tasks follow the survivor), personal-data export and erasure (a mixin of SalesService)."""

from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.ids import utc_now
from crm_common.redirects import moved_references, surviving_id
from crm_common.runtime.events import handle_event

from . import domain, events
from .store import DEALS, MERGED_CUSTOMERS


class CustomerHandlers:
    """Handlers of contacts' events and the personal-data RPC."""

    # personal data

    @rpc
    def export_personal_data(self, contact_id: str) -> dict:
        """What sales holds about a contact, for the contacts service's export (admins and the
        platform only: it ignores record visibility)."""
        require_role(self.caller, (ADMIN,), "export personal data")
        return {"deals": list(self.store[DEALS].iterate({"contact_id": contact_id}, [("created_at", 1)]))}

    @handle_event("contacts", "contact_erased")
    def on_contact_erased(self, tx, event) -> None:
        # A deal is a business record with no personal field (title, amount, stages, owner): it
        # stays, still pointing at the erased contact's id, which resolves to nobody any more.
        deals = tx[DEALS].count({"contact_id": event.payload["id"]})
        self.emit(
            tx,
            events.PERSONAL_DATA_ERASED,
            {
                "contact_id": event.payload["id"],
                "erasure_id": event.payload["erasure_id"],
                "service": self.name,
                "detail": {"deals_kept": deals, "scrubbed": 0},
            },
        )

    # merged customers

    def _survivor(self, tx, subject_type: str, subject_id: str) -> str:
        return surviving_id(tx[MERGED_CUSTOMERS], subject_type, subject_id)

    def _surviving_customers(self, tx, record: dict) -> dict:
        return moved_references(tx[MERGED_CUSTOMERS], record)

    def _follow_merge(self, tx, event, subject_type: str) -> None:
        """Deals of the merged customers now point at the survivor; each change is a deal_updated,
        so the timeline, the open-deal counts and search follow."""
        key = f"{subject_type}_id"
        for old_id in event.payload.get("merged_ids") or []:
            tx[MERGED_CUSTOMERS].put(
                {"id": f"{subject_type}:{old_id}", "merged_into": event.payload["id"], "merged_at": event.occurred_at}
            )
        survivor = self._survivor(tx, subject_type, event.payload["id"])
        for old_id in event.payload.get("merged_ids") or []:
            for deal in list(tx[DEALS].iterate({key: old_id})):
                stored = tx[DEALS].replace({**deal, key: survivor, "updated_at": utc_now()}, deal["version"])
                pipeline = self._pipeline(stored["pipeline_id"])
                stage = domain.stage_name(pipeline, stored["stage_id"]) if pipeline else stored["stage_id"]
                self.emit(tx, events.DEAL_UPDATED, {**stored, "changes": [key], "stage_name": stage})

    @handle_event("contacts", "contact_merged")
    def on_contact_merged(self, tx, event) -> None:
        self._follow_merge(tx, event, "contact")

    @handle_event("contacts", "company_merged")
    def on_company_merged(self, tx, event) -> None:
        self._follow_merge(tx, event, "company")
