"""What the service desk follows of the contacts service: customers' owners and value grades,
merges and erasures (a mixin of ServiceDeskService)."""

from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.redirects import moved_references, surviving_id
from crm_common.runtime.events import handle_event

from . import domain, events, schemas
from .store import CONTACT_OWNERS, ERASED_SUBJECTS, MERGED_CUSTOMERS, TICKET_COMMENTS, TICKETS


def _grade(contact: dict, known: dict | None) -> str | None:
    """The contact's value grade in an event or record; a payload without the field keeps the
    grade known (a deleted contact's event says nothing of it), an unknown grade reads as none."""
    if "value_grade" not in contact:
        return known.get("value_grade") if known else None
    grade = contact["value_grade"]
    return grade if grade in schemas.VALUE_GRADES else None


class CustomerHandlers:
    """Handlers of the contacts events, and the personal-data RPC."""

    # the customer's owner and value grade, kept current on each ticket (who sees it depends on
    # the owner; the SLA policy that applies may depend on the grade)

    def _follow_contact(self, tx, contact: dict, deleted: bool = False) -> dict:
        """Record the contact's owner and value grade at its `version` unless a newer one is known:
        the newest known ({owner_id, value_grade, source_version}), with `newer` set when this was."""
        known = tx[CONTACT_OWNERS].get(contact["id"])
        if not domain.follows_contact(known, contact["version"]):
            return {**known, "newer": False}
        doc = {
            "id": contact["id"],
            "owner_id": None if deleted else contact.get("owner_id"),
            "value_grade": _grade(contact, known),
            "source_version": contact["version"],
        }
        tx[CONTACT_OWNERS].put(doc)
        return {**doc, "newer": True}

    def _follow_contact_tickets(self, tx, contact: dict, deleted: bool = False) -> None:
        known = self._follow_contact(tx, contact, deleted)
        if not known["newer"]:
            return  # an older event than the one already known
        now = self._now()
        for ticket in list(tx[TICKETS].iterate({"contact_id": contact["id"]})):
            self._follow_customer_fields(tx, ticket, {"contact_owner_id": known["owner_id"]}, known, now)

    def _follow_customer_fields(self, tx, ticket: dict, changes: dict, known: dict | None, now, touch=False) -> None:
        """Move a ticket to its customer's current facts: the owner always (reach), the grade only
        while the ticket is worked on (a resolved or closed ticket keeps the grade it was served at),
        re-matching its SLA policy when a matched field (grade, company) moved. `touch`: a change of
        the ticket's own record (a merge), not of its customer's facts. Each change is a ticket_updated."""
        if known is not None and ticket["status"] in domain.WORKING_STATUSES:
            changes = {**changes, "customer_grade": known.get("value_grade")}
        changed = [name for name, value in changes.items() if ticket.get(name) != value]
        if not changed:
            return
        updated = {**ticket, **{name: changes[name] for name in changed}}
        if touch:
            updated["updated_at"] = domain.stamp(now)
        if set(changed) - {"contact_owner_id"}:
            updated = self._apply_sla(tx, ticket, updated, now)
        stored = tx[TICKETS].replace(updated, ticket["version"])
        self.emit(tx, events.TICKET_UPDATED, {**stored, "changes": changed})

    @handle_event("contacts", "contact_created")
    def on_contact_created(self, tx, event) -> None:
        # A ticket may be filed a moment before this arrives: it reads the contact as it is then.
        self._follow_contact_tickets(tx, event.payload)

    @handle_event("contacts", "contact_updated")
    def on_contact_updated(self, tx, event) -> None:
        self._follow_contact_tickets(tx, event.payload)

    @handle_event("contacts", "contact_deleted")
    def on_contact_deleted(self, tx, event) -> None:
        # A deleted customer has no owner: its tickets stay with their teams and assignees.
        self._follow_contact_tickets(tx, event.payload, deleted=True)

    # personal data

    @rpc
    def export_personal_data(self, contact_id: str) -> dict:
        """What the service desk holds about a contact, for the contacts service's export (admins
        and the platform only: it ignores record visibility)."""
        require_role(self.caller, (ADMIN,), "export personal data")
        tickets = list(self.store[TICKETS].iterate({"contact_id": contact_id}, [("created_at", 1)]))
        comments = []
        for ticket in tickets:
            comments.extend(self.store[TICKET_COMMENTS].iterate({"ticket_id": ticket["id"]}, [("created_at", 1)]))
        return {"tickets": tickets, "comments": comments, "contact_owner": self.store[CONTACT_OWNERS].get(contact_id)}

    @handle_event("contacts", "contact_erased")
    def on_contact_erased(self, tx, event) -> None:
        contact_id = event.payload["id"]
        tx[ERASED_SUBJECTS].put(
            {"id": contact_id, "erasure_id": event.payload["erasure_id"], "erased_at": event.occurred_at}
        )
        now = self._now()
        tickets_scrubbed = comments_scrubbed = 0
        for ticket in list(tx[TICKETS].iterate({"contact_id": contact_id})):
            for comment in list(tx[TICKET_COMMENTS].iterate({"ticket_id": ticket["id"]})):
                scrubbed = domain.scrubbed_comment(comment)
                if scrubbed is not None:
                    tx[TICKET_COMMENTS].replace(scrubbed, comment["version"])
                    comments_scrubbed += 1
            updated, changed = domain.scrubbed_ticket(ticket, now)
            if not changed:
                continue
            stored = tx[TICKETS].replace(updated, ticket["version"])
            # Search and the timeline projections follow the scrubbed ticket like any other change.
            self.emit(tx, events.TICKET_UPDATED, {**stored, "changes": changed})
            tickets_scrubbed += 1
        self.emit(
            tx,
            events.PERSONAL_DATA_ERASED,
            {
                "contact_id": contact_id,
                "erasure_id": event.payload["erasure_id"],
                "service": self.name,
                "detail": {"tickets_scrubbed": tickets_scrubbed, "comments_scrubbed": comments_scrubbed},
            },
        )

    # merged customers

    def _survivor(self, tx, subject_type: str, subject_id: str) -> str:
        return surviving_id(tx[MERGED_CUSTOMERS], subject_type, subject_id)

    def _surviving_customers(self, tx, record: dict) -> dict:
        return moved_references(tx[MERGED_CUSTOMERS], record)

    def _survivor_customer(self, tx, contact_id: str, owner_id: str | None, grade: str | None) -> tuple:
        """The surviving contact's owner and grade as last heard, else the fallbacks given."""
        known = tx[CONTACT_OWNERS].get(contact_id)
        return (known["owner_id"], known.get("value_grade")) if known is not None else (owner_id, grade)

    def _follow_merge(self, tx, event, subject_type: str) -> None:
        """Tickets of the merged customers now point at the survivor (and a contact's tickets take
        the survivor's owner, who then sees them, and its grade); each change is a ticket_updated."""
        merged = event.payload
        key = f"{subject_type}_id"
        for old_id in merged.get("merged_ids") or []:
            tx[MERGED_CUSTOMERS].put(
                {"id": f"{subject_type}:{old_id}", "merged_into": merged["id"], "merged_at": event.occurred_at}
            )
        survivor = self._survivor(tx, subject_type, merged["id"])
        known = None
        if subject_type == "contact":
            if survivor == merged["id"]:
                known = self._follow_contact(tx, merged)
            else:  # merged on since: its owner and grade come from the later events
                owner_id, grade = self._survivor_customer(tx, survivor, merged.get("owner_id"), _grade(merged, None))
                known = {"owner_id": owner_id, "value_grade": grade}
        now = self._now()
        for old_id in merged.get("merged_ids") or []:
            for ticket in list(tx[TICKETS].iterate({key: old_id})):
                changes = {key: survivor}
                if known is not None:
                    changes["contact_owner_id"] = known["owner_id"]
                self._follow_customer_fields(tx, ticket, changes, known, now, touch=True)

    @handle_event("contacts", "contact_merged")
    def on_contact_merged(self, tx, event) -> None:
        self._follow_merge(tx, event, "contact")

    @handle_event("contacts", "company_merged")
    def on_company_merged(self, tx, event) -> None:
        self._follow_merge(tx, event, "company")
