"""Other services' facts about a customer, projected into its timeline and its access data."""

from crm_common.runtime.events import handle_event

from . import domain
from .store import REF_ACCESS, SERVICE_LINKS, TIMELINE


class ProjectionHandlers:
    """Event handlers of ContactsService (a mixin)."""

    def _newest_access(self, tx, ref_type: str, record: dict, access: list[str]) -> tuple[list[str], int]:
        """The record's newest known access tokens and their version: events of one record reach
        their handlers in any order, and an older one must not roll the tokens back."""
        key = f"{ref_type}:{record['id']}"
        version = record.get("version") or 0
        known = tx[REF_ACCESS].get(key)
        if known is not None and known["source_version"] >= version:
            return known["access"], known["source_version"]
        tx[REF_ACCESS].put({"id": key, "access": access, "source_version": version})
        return access, version

    def _project(self, tx, event, kind: str, ref_type: str, summary: str, access: list[str]) -> None:
        record = event.payload
        access, version = self._newest_access(tx, ref_type, record, access)
        for subject_type, key in (("contact", "contact_id"), ("company", "company_id")):
            if record.get(key):
                tx[TIMELINE].put(
                    domain.timeline_entry(
                        subject_type,
                        record[key],
                        kind,
                        event.source,
                        summary,
                        ref_type,
                        record["id"],
                        event.occurred_at,
                        event.event_id,
                        access,
                        version,
                    )
                )

    def _reproject_access(self, tx, ref_type: str, record: dict, access: list[str]) -> None:
        """A deal or ticket changed hands: its entries follow its newest access tokens."""
        access, version = self._newest_access(tx, ref_type, record, access)
        for entry in list(tx[TIMELINE].iterate({"ref.id": record["id"], "ref.type": ref_type})):
            if (entry.get("ref_version") or 0) < version:
                tx[TIMELINE].put({**entry, "access": access, "ref_version": version})

    @handle_event("sales", "deal_created")
    def on_deal_created(self, tx, event) -> None:
        deal = event.payload
        summary = f"Deal {deal['title']} opened ({deal['amount']} {deal['currency']})"
        self._project(tx, event, "deal", "deal", summary, domain.deal_access(deal))

    @handle_event("sales", "deal_updated")
    def on_deal_updated(self, tx, event) -> None:
        self._reproject_access(tx, "deal", event.payload, domain.deal_access(event.payload))

    @handle_event("service_desk", "ticket_created")
    def on_ticket_created(self, tx, event) -> None:
        ticket = event.payload
        for link in domain.service_links(ticket, event.occurred_at):
            tx[SERVICE_LINKS].put(link)
        summary = f"Ticket {ticket['subject']} ({ticket['priority']})"
        self._project(tx, event, "ticket", "ticket", summary, domain.ticket_access(ticket))

    @handle_event("service_desk", "ticket_updated")
    def on_ticket_updated(self, tx, event) -> None:
        # A ticket handed to another team links its customers to that team too; the old team's
        # link stays (a later issue: links counted per open ticket).
        ticket = event.payload
        for link in domain.service_links(ticket, event.occurred_at):
            if tx[SERVICE_LINKS].get(link["id"]) is None:
                tx[SERVICE_LINKS].put(link)
        self._reproject_access(tx, "ticket", ticket, domain.ticket_access(ticket))
