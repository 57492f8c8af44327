"""Tickets: the ticket write path (creation with auto-assignment and the SLA match, the status
workflow, merges of duplicates) and reads (a mixin of ServiceDeskService)."""

from nameko.rpc import rpc

from crm_common.access import TICKET_WRITERS, and_filters, reach_of, require_role
from crm_common.errors import NotFound, PreconditionFailed, ValidationFailed
from crm_common.listing import parse_list_query
from crm_common.schema import validate

from . import domain, events, schemas, sla
from .metrics import count_resolution
from .store import ERASED_SUBJECTS, TICKET_COMMENTS, TICKETS


class TicketsRpc:
    """RPC entrypoints of tickets."""

    # reads

    def _visible_ticket(self, source, ticket_id: str) -> dict:
        """The ticket as stored, or NotFound, the same for a missing id, one that is not an id at
        all and one out of the caller's reach (every ticket method reaches tickets through here)."""
        ticket = source[TICKETS].get(ticket_id) if isinstance(ticket_id, str) else None
        if ticket is None or not domain.ticket_in_reach(reach_of(self.caller), ticket):
            raise NotFound(f"ticket {ticket_id} not found")
        return ticket

    def _live(self, ticket: dict) -> dict:
        """A ticket as it is read: its SLA fields as of now (a clock may be past due before the timer ran)."""
        return sla.live_view(ticket, self._now())

    @rpc
    def get_ticket(self, ticket_id: str) -> dict:
        return self._live(self._visible_ticket(self.store, ticket_id))

    @rpc
    def list_tickets(self, query: dict) -> dict:
        q = parse_list_query(
            query, filterable=schemas.TICKET_FILTERABLE, sortable=schemas.TICKET_SORTABLE, booleans=("breached",)
        )
        now = self._now()
        user_filter = domain.with_live_breached(q.filter, domain.stamp(now))
        flt = and_filters(domain.ticket_filter(reach_of(self.caller)), user_filter)
        page = self.store[TICKETS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": [sla.live_view(t, now) for t in page.items], "next_cursor": page.next_cursor}

    # writes

    def _contact(self, contact_id: str) -> dict:
        contacts = self.contacts.as_system() if domain.checks_contact_as_system(self.caller) else self.contacts
        try:
            return contacts.get_contact(contact_id)
        except NotFound:
            raise ValidationFailed("unknown contact", [{"field": "contact_id", "message": "no such contact"}]) from None

    @rpc
    def create_ticket(self, data: dict) -> dict:
        require_role(self.caller, TICKET_WRITERS, "create tickets")
        now = self._now()
        fields = validate(data, schemas.TICKET_FIELDS, server_owned=schemas.SERVER_OWNED)
        fields = domain.checked_input(fields, now)
        fields["team_id"] = domain.ticket_team(self.caller, fields.get("team_id"))
        contact = self._contact(fields["contact_id"])
        fields.setdefault("company_id", contact.get("company_id"))
        with self.store.transaction() as tx:
            if tx[ERASED_SUBJECTS].get(contact["id"]) is not None:
                # Read from contacts just before its erasure committed: the person is gone.
                raise ValidationFailed("unknown contact", [{"field": "contact_id", "message": "no such contact"}])
            known = self._follow_contact(tx, {**contact, "version": contact.get("version", 0)})
            owner_id, grade = known["owner_id"], known.get("value_grade")
            moved = self._surviving_customers(tx, {**fields, "contact_id": contact["id"]})
            if moved:  # its customer was merged meanwhile: the ticket goes to the survivor
                fields.update(moved)
                owner_id, grade = self._survivor_customer(tx, fields["contact_id"], owner_id, grade)
            ticket = domain.new_ticket(
                {**fields, "contact_owner_id": owner_id, "customer_grade": grade}, self.caller.user_id, now
            )
            if ticket["assignee_id"] is None and ticket["team_id"] is not None:
                ticket["assignee_id"] = self._auto_assign(tx, ticket)
            ticket = self._apply_sla(tx, None, ticket, now)
            stored = tx[TICKETS].insert(ticket)
            self.emit(tx, events.TICKET_CREATED, stored)
        return self._live(stored)

    def _change_ticket(self, tx, current: dict, changes: dict, now) -> tuple[dict, list[str]]:
        """Store a change of a ticket in `tx` with what follows from it (the SLA clocks, the survey
        once resolved) and announce it: the stored ticket and the changed fields (none: unchanged)."""
        updated, changed = domain.apply_ticket_changes(current, changes, now)
        if not changed:
            return current, []
        updated = self._apply_sla(tx, current, updated, now)
        survey_asked = False
        if domain.became_resolved(current, updated):
            updated = self._request_satisfaction(updated, now)
            survey_asked = updated.get("satisfaction") != current.get("satisfaction")
            if survey_asked:
                changed.append("satisfaction")
        stored = tx[TICKETS].replace(updated, current["version"])
        self.emit(tx, events.TICKET_UPDATED, {**stored, "changes": changed})
        if domain.became_resolved(current, stored):
            # Counted once the versioned write took it (a lost race raised above); a commit failing
            # after this point, rare, would count it once too often.
            count_resolution(stored, now)
        if survey_asked:
            self._announce_survey(tx, stored)
        return stored, changed

    @rpc
    def update_ticket(self, ticket_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, domain.TICKET_UPDATERS, "change tickets")
        now = self._now()
        changes = validate(data, schemas.TICKET_UPDATE_FIELDS, partial=True, server_owned=schemas.UPDATE_SERVER_OWNED)
        changes = domain.checked_input(changes, now)
        with self.store.transaction() as tx:
            current = self._visible_ticket(tx, ticket_id)
            domain.check_may_update(self.caller, reach_of(self.caller), current)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"ticket {ticket_id} is at version {current['version']}")
            if "status" in changes:
                domain.check_transition(current["status"], changes["status"])
            stored, _ = self._change_ticket(tx, current, changes, now)
        return self._live(stored)

    # merges

    @rpc
    def merge_tickets(self, ticket_id: str, duplicate_ids: list) -> dict:
        """Close each duplicate into `ticket_id` (the survivor): `merged_into` points at it and its
        comments move there (keeping `merged_from`). Same customer only; none of them closed."""
        require_role(self.caller, domain.TICKET_UPDATERS, "merge tickets")
        duplicate_ids = validate({"duplicate_ids": duplicate_ids}, schemas.MERGE_FIELDS)["duplicate_ids"]
        if not 1 <= len(set(duplicate_ids)) == len(duplicate_ids) <= schemas.MAX_DUPLICATES:
            message = f"give 1 to {schemas.MAX_DUPLICATES} distinct ticket ids"
            raise ValidationFailed(message, [{"field": "duplicate_ids", "message": message}])
        if ticket_id in duplicate_ids:
            message = "a ticket cannot be merged into itself"
            raise ValidationFailed(message, [{"field": "duplicate_ids", "message": message}])
        reach = reach_of(self.caller)
        now = self._now()
        with self.store.transaction() as tx:
            survivor = self._visible_ticket(tx, ticket_id)
            domain.check_may_update(self.caller, reach, survivor)
            duplicates = []
            for duplicate_id in duplicate_ids:
                duplicate = self._visible_ticket(tx, duplicate_id)
                domain.check_may_update(self.caller, reach, duplicate)
                domain.check_mergeable(survivor, duplicate)
                duplicates.append(duplicate)
            for duplicate in duplicates:
                self._change_ticket(tx, duplicate, domain.merged_changes(survivor["id"]), now)
                for comment in list(tx[TICKET_COMMENTS].iterate({"ticket_id": duplicate["id"]})):
                    origin = comment.get("merged_from") or duplicate["id"]
                    tx[TICKET_COMMENTS].replace(
                        {**comment, "ticket_id": survivor["id"], "merged_from": origin}, comment["version"]
                    )
            self.emit(tx, events.TICKET_MERGED, {**survivor, "merged_ids": list(duplicate_ids)})
        return self._live(survivor)
