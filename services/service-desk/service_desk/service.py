"""The service-desk nameko service: entrypoints only; rules live in domain.py, storage in store.py."""

from datetime import UTC, datetime

from nameko.rpc import rpc

from crm_common.access import ADMIN, TICKET_WRITERS, and_filters, reach_of, require_role
from crm_common.errors import NotFound, PreconditionFailed, ValidationFailed
from crm_common.listing import parse_list_query
from crm_common.redirects import moved_references, surviving_id
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.events import handle_event
from crm_common.runtime.rpc import ServiceRpc
from crm_common.runtime.store import Store
from crm_common.schema import validate

from . import domain, events, schemas
from .store import CONTACT_OWNERS, ERASED_SUBJECTS, MERGED_CUSTOMERS, SPECS, TICKETS


class ServiceDeskService(ServiceBase):
    name = "service_desk"
    store = Store(SPECS)
    contacts = ServiceRpc("contacts")

    def _visible_ticket(self, source, ticket_id: str) -> dict:
        """The ticket, or NotFound, the same for a missing id and one out of the caller's reach."""
        ticket = source[TICKETS].get(ticket_id)
        if ticket is None or not domain.ticket_in_reach(reach_of(self.caller), ticket):
            raise NotFound(f"ticket {ticket_id} not found")
        return ticket

    def _contact(self, contact_id: str) -> dict:
        contacts = self.contacts.as_system() if domain.checks_contact_as_system(self.caller) else self.contacts
        try:
            return contacts.get_contact(contact_id)
        except NotFound:
            raise ValidationFailed("unknown contact", [{"field": "contact_id", "message": "no such contact"}]) from None

    def _follow_contact_owner(self, tx, contact_id: str, owner_id: str | None, version: int) -> tuple[str | None, bool]:
        """Record the contact's owner at `version` unless a newer one is known: the newest owner,
        and whether this one was newer."""
        known = tx[CONTACT_OWNERS].get(contact_id)
        if not domain.follows_contact(known, version):
            return known["owner_id"], False
        tx[CONTACT_OWNERS].put({"id": contact_id, "owner_id": owner_id, "source_version": version})
        return owner_id, True

    @rpc
    def create_ticket(self, data: dict) -> dict:
        require_role(self.caller, TICKET_WRITERS, "create tickets")
        fields = validate(data, schemas.TICKET_FIELDS, server_owned=schemas.SERVER_OWNED)
        fields["team_id"] = domain.ticket_team(self.caller, fields.get("team_id"))
        contact = self._contact(fields["contact_id"])
        fields.setdefault("company_id", contact.get("company_id"))
        with self.store.transaction() as tx:
            if tx[ERASED_SUBJECTS].get(contact["id"]) is not None:
                # Read from contacts just before its erasure committed: the person is gone.
                raise ValidationFailed("unknown contact", [{"field": "contact_id", "message": "no such contact"}])
            owner_id, _ = self._follow_contact_owner(
                tx, contact["id"], contact.get("owner_id"), contact.get("version", 0)
            )
            moved = self._surviving_customers(tx, {**fields, "contact_id": contact["id"]})
            if moved:  # its customer was merged meanwhile: the ticket goes to the survivor
                fields.update(moved)
                owner_id = self._survivor_owner(tx, fields["contact_id"], owner_id)
            ticket = domain.new_ticket({**fields, "contact_owner_id": owner_id}, self.caller.user_id, datetime.now(UTC))
            stored = tx[TICKETS].insert(ticket)
            self.emit(tx, events.TICKET_CREATED, stored)
        return stored

    @rpc
    def get_ticket(self, ticket_id: str) -> dict:
        return self._visible_ticket(self.store, ticket_id)

    @rpc
    def list_tickets(self, query: dict) -> dict:
        q = parse_list_query(
            query, filterable=schemas.TICKET_FILTERABLE, sortable=schemas.TICKET_SORTABLE, booleans=("breached",)
        )
        flt = and_filters(domain.ticket_filter(reach_of(self.caller)), q.filter)
        page = self.store[TICKETS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_ticket(self, ticket_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, domain.TICKET_UPDATERS, "change tickets")
        changes = validate(data, schemas.TICKET_UPDATE_FIELDS, partial=True, server_owned=schemas.UPDATE_SERVER_OWNED)
        with self.store.transaction() as tx:
            current = self._visible_ticket(tx, ticket_id)
            domain.check_may_update(self.caller, reach_of(self.caller), current)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"ticket {ticket_id} is at version {current['version']}")
            updated, changed = domain.apply_ticket_changes(current, changes, datetime.now(UTC))
            if not changed:
                return current
            stored = tx[TICKETS].replace(updated, expected_version)
            self.emit(tx, events.TICKET_UPDATED, {**stored, "changes": changed})
        return stored

    # the customer's owner, kept current on each ticket (who sees it depends on it)

    def _reassign_contact_tickets(self, tx, contact_id: str, owner_id: str | None, version: int) -> None:
        _, newer = self._follow_contact_owner(tx, contact_id, owner_id, version)
        if not newer:
            return  # an older event than the owner already known
        # `$ne` with a value also selects null and missing; with None it selects the present ones.
        stale = {"contact_id": contact_id, "contact_owner_id": {"$ne": owner_id}}
        for ticket in list(tx[TICKETS].iterate(stale)):
            stored = tx[TICKETS].replace({**ticket, "contact_owner_id": owner_id})
            self.emit(tx, events.TICKET_UPDATED, {**stored, "changes": ["contact_owner_id"]})

    @handle_event("contacts", "contact_updated")
    def on_contact_updated(self, tx, event) -> None:
        contact = event.payload
        self._reassign_contact_tickets(tx, contact["id"], contact.get("owner_id"), contact["version"])

    @handle_event("contacts", "contact_deleted")
    def on_contact_deleted(self, tx, event) -> None:
        # A deleted customer has no owner: its tickets stay with their teams and assignees.
        self._reassign_contact_tickets(tx, event.payload["id"], None, event.payload["version"])

    # personal data

    @rpc
    def export_personal_data(self, contact_id: str) -> dict:
        """What the service desk holds about a contact, for the contacts service's export (admins
        and the platform only: it ignores record visibility)."""
        require_role(self.caller, (ADMIN,), "export personal data")
        return {
            "tickets": list(self.store[TICKETS].iterate({"contact_id": contact_id}, [("created_at", 1)])),
            "contact_owner": self.store[CONTACT_OWNERS].get(contact_id),
        }

    @handle_event("contacts", "contact_erased")
    def on_contact_erased(self, tx, event) -> None:
        contact_id = event.payload["id"]
        tx[ERASED_SUBJECTS].put(
            {"id": contact_id, "erasure_id": event.payload["erasure_id"], "erased_at": event.occurred_at}
        )
        scrubbed = 0
        for ticket in list(tx[TICKETS].iterate({"contact_id": contact_id})):
            updated, changed = domain.scrubbed_ticket(ticket, datetime.now(UTC))
            if not changed:
                continue
            stored = tx[TICKETS].replace(updated, ticket["version"])
            # Search and the timeline projections follow the scrubbed ticket like any other change.
            self.emit(tx, events.TICKET_UPDATED, {**stored, "changes": changed})
            scrubbed += 1
        self.emit(
            tx,
            events.PERSONAL_DATA_ERASED,
            {
                "contact_id": contact_id,
                "erasure_id": event.payload["erasure_id"],
                "service": self.name,
                "detail": {"tickets_scrubbed": scrubbed},
            },
        )

    # merged customers

    def _survivor(self, tx, subject_type: str, subject_id: str) -> str:
        return surviving_id(tx[MERGED_CUSTOMERS], subject_type, subject_id)

    def _surviving_customers(self, tx, record: dict) -> dict:
        return moved_references(tx[MERGED_CUSTOMERS], record)

    def _survivor_owner(self, tx, contact_id: str, fallback: str | None) -> str | None:
        known = tx[CONTACT_OWNERS].get(contact_id)
        return known["owner_id"] if known is not None else fallback

    def _follow_merge(self, tx, event, subject_type: str) -> None:
        """Tickets of the merged customers now point at the survivor (and a contact's tickets take
        the survivor's owner, who then sees them); each change is a ticket_updated."""
        merged = event.payload
        key = f"{subject_type}_id"
        for old_id in merged.get("merged_ids") or []:
            tx[MERGED_CUSTOMERS].put(
                {"id": f"{subject_type}:{old_id}", "merged_into": merged["id"], "merged_at": event.occurred_at}
            )
        survivor = self._survivor(tx, subject_type, merged["id"])
        owner_id = None
        if subject_type == "contact":
            if survivor == merged["id"]:
                owner_id, _ = self._follow_contact_owner(tx, survivor, merged.get("owner_id"), merged["version"])
            else:  # merged on since: its owner comes from the later events
                owner_id = self._survivor_owner(tx, survivor, merged.get("owner_id"))
        now = datetime.now(UTC)
        for old_id in merged.get("merged_ids") or []:
            for ticket in list(tx[TICKETS].iterate({key: old_id})):
                changes = {key: survivor}
                if subject_type == "contact":
                    changes["contact_owner_id"] = owner_id
                updated, changed = domain.apply_ticket_changes(ticket, changes, now)
                stored = tx[TICKETS].replace(updated, ticket["version"])
                self.emit(tx, events.TICKET_UPDATED, {**stored, "changes": changed})

    @handle_event("contacts", "contact_merged")
    def on_contact_merged(self, tx, event) -> None:
        self._follow_merge(tx, event, "contact")

    @handle_event("contacts", "company_merged")
    def on_company_merged(self, tx, event) -> None:
        self._follow_merge(tx, event, "company")
