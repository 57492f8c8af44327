"""The contacts nameko service: entrypoints only; rules live in domain.py, storage in store.py."""

from nameko.rpc import rpc

from crm_common.errors import NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import utc_now
from crm_common.listing import parse_limit, parse_list_query
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.events import handle_event
from crm_common.runtime.store import Store
from crm_common.schema import validate

from . import domain, events, schemas
from .store import COMPANIES, CONTACTS, SPECS, TIMELINE


class ContactsService(ServiceBase):
    name = "contacts"
    store = Store(SPECS)

    def _own_entry(self, tx, subject_type: str, record: dict, summary: str, event_id_hint: str) -> None:
        tx[TIMELINE].put(
            domain.timeline_entry(
                subject_type,
                record["id"],
                subject_type,
                self.name,
                summary,
                subject_type,
                record["id"],
                record["updated_at"],
                event_id_hint,
            )
        )

    # companies

    @rpc
    def create_company(self, data: dict) -> dict:
        fields = validate(data, schemas.COMPANY_FIELDS, server_owned=schemas.SERVER_OWNED)
        company = domain.new_company(fields, self.caller.user_id, utc_now())
        with self.store.transaction() as tx:
            stored = tx[COMPANIES].insert(company)
            self._own_entry(tx, "company", stored, f"Company {stored['name']} created", f"v{stored['version']}")
            self.emit(tx, events.COMPANY_CREATED, stored)
        return stored

    @rpc
    def get_company(self, company_id: str) -> dict:
        company = self.store[COMPANIES].get(company_id)
        if company is None:
            raise NotFound(f"company {company_id} not found")
        return company

    @rpc
    def list_companies(self, query: dict) -> dict:
        q = parse_list_query(query, filterable=schemas.COMPANY_FILTERABLE, sortable=schemas.COMPANY_SORTABLE)
        page = self.store[COMPANIES].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    # contacts

    def _check_company(self, tx, company_id: str | None) -> None:
        if company_id and tx[COMPANIES].get(company_id) is None:
            raise ValidationFailed("unknown company", [{"field": "company_id", "message": "no such company"}])

    @rpc
    def create_contact(self, data: dict) -> dict:
        fields = validate(data, schemas.CONTACT_FIELDS, server_owned=schemas.SERVER_OWNED)
        if not (fields.get("first_name") or fields.get("last_name") or fields.get("email")):
            raise ValidationFailed(
                "a contact needs a name or an email", [{"field": "last_name", "message": "give a name or an email"}]
            )
        contact = domain.new_contact(fields, self.caller.user_id, utc_now())
        with self.store.transaction() as tx:
            self._check_company(tx, contact["company_id"])
            stored = tx[CONTACTS].insert(contact)
            self._own_entry(tx, "contact", stored, f"Contact {stored['display_name']} created", "v1")
            self.emit(tx, events.CONTACT_CREATED, stored)
        return stored

    @rpc
    def get_contact(self, contact_id: str) -> dict:
        contact = self.store[CONTACTS].get(contact_id)
        if contact is None:
            raise NotFound(f"contact {contact_id} not found")
        return contact

    @rpc
    def list_contacts(self, query: dict) -> dict:
        q = parse_list_query(query, filterable=schemas.CONTACT_FILTERABLE, sortable=schemas.CONTACT_SORTABLE)
        page = self.store[CONTACTS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_contact(self, contact_id: str, data: dict, expected_version: int | None = None) -> dict:
        changes = validate(data, schemas.CONTACT_FIELDS, partial=True, server_owned=schemas.SERVER_OWNED)
        with self.store.transaction() as tx:
            current = tx[CONTACTS].get(contact_id)
            if current is None:
                raise NotFound(f"contact {contact_id} not found")
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"contact {contact_id} is at version {current['version']}")
            self._check_company(tx, changes.get("company_id"))
            updated, changed = domain.apply_contact_changes(current, changes, utc_now())
            if not changed:
                return current
            stored = tx[CONTACTS].replace(updated, expected_version)
            self._own_entry(tx, "contact", stored, f"Changed {', '.join(changed)}", f"v{stored['version']}")
            self.emit(tx, events.CONTACT_UPDATED, {**stored, "changes": changed})
        return stored

    @rpc
    def delete_contact(self, contact_id: str, expected_version: int | None = None) -> None:
        with self.store.transaction() as tx:
            current = tx[CONTACTS].get(contact_id)
            if current is None:
                raise NotFound(f"contact {contact_id} not found")
            tx[CONTACTS].delete(contact_id, expected_version)
            # The timeline stays: a delete is a tombstone entry with who and when.
            tomb = {**current, "updated_at": utc_now()}
            self._own_entry(tx, "contact", tomb, f"Contact deleted by {self.caller.user_id}", "deleted")
            self.emit(
                tx,
                events.CONTACT_DELETED,
                {"id": contact_id, "version": current["version"] + 1, "deleted_by": self.caller.user_id},
            )

    # timeline

    @rpc
    def get_timeline(self, subject_type: str, subject_id: str, query: dict) -> dict:
        collection = {"contact": CONTACTS, "company": COMPANIES}.get(subject_type)
        if collection is None or self.store[collection].get(subject_id) is None:
            raise NotFound(f"{subject_type} {subject_id} not found")
        kinds = query.get("kind")
        flt: dict = {"subject_id": subject_id}
        if kinds:
            wanted = [k for k in kinds.split(",") if k]
            unknown = [k for k in wanted if k not in schemas.TIMELINE_KINDS]
            if unknown:
                raise ValidationFailed(
                    "unknown timeline kind", [{"field": "kind", "message": f"unknown: {', '.join(unknown)}"}]
                )
            flt["kind"] = {"$in": wanted}
        page = self.store[TIMELINE].find(
            flt, [("occurred_at", -1)], parse_limit(query.get("limit")), query.get("cursor") or None
        )
        return {"data": [domain.public_timeline_entry(e) for e in page.items], "next_cursor": page.next_cursor}

    # other services' facts about a customer, projected into the timeline

    def _project(self, tx, event, kind: str, ref_type: str, summary: str) -> None:
        record = event.payload
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
                    )
                )

    @handle_event("sales", "deal_created")
    def on_deal_created(self, tx, event) -> None:
        deal = event.payload
        self._project(tx, event, "deal", "deal", f"Deal {deal['title']} opened ({deal['amount']} {deal['currency']})")

    @handle_event("service_desk", "ticket_created")
    def on_ticket_created(self, tx, event) -> None:
        ticket = event.payload
        self._project(tx, event, "ticket", "ticket", f"Ticket {ticket['subject']} ({ticket['priority']})")
