"""The service-desk nameko service: entrypoints only; rules live in domain.py, storage in store.py."""

from datetime import UTC, datetime

from nameko.rpc import rpc

from crm_common.errors import NotFound, ValidationFailed
from crm_common.listing import parse_list_query
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.rpc import ServiceRpc
from crm_common.runtime.store import Store
from crm_common.schema import validate

from . import domain, events, schemas
from .store import SPECS, TICKETS


class ServiceDeskService(ServiceBase):
    name = "service_desk"
    store = Store(SPECS)
    contacts = ServiceRpc("contacts")

    @rpc
    def create_ticket(self, data: dict) -> dict:
        fields = validate(data, schemas.TICKET_FIELDS, server_owned=schemas.SERVER_OWNED)
        try:
            contact = self.contacts.get_contact(fields["contact_id"])
        except NotFound:
            raise ValidationFailed("unknown contact", [{"field": "contact_id", "message": "no such contact"}]) from None
        fields.setdefault("company_id", contact.get("company_id"))
        ticket = domain.new_ticket(fields, self.caller.user_id, datetime.now(UTC))
        with self.store.transaction() as tx:
            stored = tx[TICKETS].insert(ticket)
            self.emit(tx, events.TICKET_CREATED, stored)
        return stored

    @rpc
    def get_ticket(self, ticket_id: str) -> dict:
        ticket = self.store[TICKETS].get(ticket_id)
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} not found")
        return ticket

    @rpc
    def list_tickets(self, query: dict) -> dict:
        q = parse_list_query(
            query, filterable=schemas.TICKET_FILTERABLE, sortable=schemas.TICKET_SORTABLE, booleans=("breached",)
        )
        page = self.store[TICKETS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}
