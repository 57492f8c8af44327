"""Companies and contacts: create, read, list, change and delete, each under the visibility table,
and the customer's 360-degree timeline."""

from nameko.rpc import rpc

from crm_common.access import CUSTOMER_WRITERS, Reach, and_filters, reach_of, require_role
from crm_common.errors import NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import utc_now
from crm_common.listing import parse_limit, parse_list_query
from crm_common.schema import validate

from . import domain, events, schemas
from .store import COMPANIES, CONTACTS, SERVICE_LINKS, TIMELINE

SUBJECTS = {"contact": CONTACTS, "company": COMPANIES}


class CustomersRpc:
    """RPC entrypoints for companies and contacts (a mixin of ContactsService)."""

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

    # visibility

    def _linked_teams(self, source, reach: Reach, subject_type: str, subject_id: str) -> list[str]:
        """The caller's service teams whose tickets link to this customer."""
        if reach.everything or not reach.team_ids:
            return []
        links = source[SERVICE_LINKS]
        return [t for t in sorted(reach.team_ids) if links.get(domain.link_id(subject_type, subject_id, t)) is not None]

    def _visible(self, source, subject_type: str, subject_id: str, reach: Reach) -> dict:
        """The record, or NotFound, the same for a missing id and one out of the caller's reach."""
        record = source[SUBJECTS[subject_type]].get(subject_id)
        if record is None or not domain.customer_in_reach(
            reach, record, self._linked_teams(source, reach, subject_type, subject_id)
        ):
            raise NotFound(f"{subject_type} {subject_id} not found")
        return record

    def _reach_filter(self, reach: Reach, subject_type: str) -> dict | None:
        linked: list[str] = []
        if not reach.everything and reach.team_ids:
            links = self.store[SERVICE_LINKS].find(
                {"subject_type": subject_type, "team_id": {"$in": sorted(reach.team_ids)}},
                [("linked_at", -1)],
                domain.MAX_LINKED_SUBJECTS,
            )
            linked = [link["subject_id"] for link in links.items]
        return domain.customer_filter(reach, linked)

    def _list(self, subject_type: str, query: dict, filterable: tuple, sortable: tuple) -> dict:
        q = parse_list_query(query, filterable=filterable, sortable=sortable)
        flt = and_filters(self._reach_filter(reach_of(self.caller), subject_type), q.filter)
        page = self.store[SUBJECTS[subject_type]].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    def _check_company(self, tx, company_id: str | None, reach: Reach) -> None:
        if not company_id:
            return
        try:
            self._visible(tx, "company", company_id, reach)
        except NotFound:
            raise ValidationFailed("unknown company", [{"field": "company_id", "message": "no such company"}]) from None

    def _changeable(self, tx, subject_type: str, subject_id: str, changes: dict, expected_version: int | None) -> dict:
        """The current record if the caller may apply `changes` to it: NotFound out of reach,
        Forbidden for a visible record they may not change, PreconditionFailed on a stale version."""
        reach = reach_of(self.caller)
        current = self._visible(tx, subject_type, subject_id, reach)
        domain.check_may_change(self.caller, reach, current, changes)
        if expected_version is not None and current["version"] != expected_version:
            raise PreconditionFailed(f"{subject_type} {subject_id} is at version {current['version']}")
        return current

    # companies

    @rpc
    def create_company(self, data: dict) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "create companies")
        fields = validate(data, schemas.COMPANY_FIELDS, server_owned=schemas.SERVER_OWNED)
        company = domain.new_company(fields, self.caller.user_id, utc_now())
        domain.check_new_owner(self.caller, company["owner_id"])
        with self.store.transaction() as tx:
            stored = tx[COMPANIES].insert(company)
            self._own_entry(tx, "company", stored, f"Company {stored['name']} created", f"v{stored['version']}")
            self.emit(tx, events.COMPANY_CREATED, stored)
        return stored

    @rpc
    def get_company(self, company_id: str) -> dict:
        return self._visible(self.store, "company", company_id, reach_of(self.caller))

    @rpc
    def list_companies(self, query: dict) -> dict:
        return self._list("company", query, schemas.COMPANY_FILTERABLE, schemas.COMPANY_SORTABLE)

    @rpc
    def update_company(self, company_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "change companies")
        changes = validate(data, schemas.COMPANY_FIELDS, partial=True, server_owned=schemas.SERVER_OWNED)
        with self.store.transaction() as tx:
            current = self._changeable(tx, "company", company_id, changes, expected_version)
            updated, changed = domain.apply_changes(current, changes, utc_now())
            if not changed:
                return current
            stored = tx[COMPANIES].replace(updated, expected_version)
            self._own_entry(tx, "company", stored, f"Changed {', '.join(changed)}", f"v{stored['version']}")
            self.emit(tx, events.COMPANY_UPDATED, {**stored, "changes": changed})
        return stored

    @rpc
    def delete_company(self, company_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, CUSTOMER_WRITERS, "delete companies")
        with self.store.transaction() as tx:
            current = self._changeable(tx, "company", company_id, {}, expected_version)
            tx[COMPANIES].delete(company_id, expected_version)
            # The timeline stays: a delete is a tombstone entry with who and when. Contacts keep
            # their company_id; it no longer resolves.
            tomb = {**current, "updated_at": utc_now()}
            self._own_entry(tx, "company", tomb, f"Company deleted by {self.caller.user_id}", "deleted")
            self.emit(
                tx,
                events.COMPANY_DELETED,
                {"id": company_id, "version": current["version"] + 1, "deleted_by": self.caller.user_id},
            )

    # contacts

    @rpc
    def create_contact(self, data: dict) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "create contacts")
        fields = validate(data, schemas.CONTACT_FIELDS, server_owned=schemas.SERVER_OWNED)
        if not (fields.get("first_name") or fields.get("last_name") or fields.get("email")):
            raise ValidationFailed(
                "a contact needs a name or an email", [{"field": "last_name", "message": "give a name or an email"}]
            )
        contact = domain.new_contact(fields, self.caller.user_id, utc_now())
        domain.check_new_owner(self.caller, contact["owner_id"])
        with self.store.transaction() as tx:
            self._check_company(tx, contact["company_id"], reach_of(self.caller))
            stored = tx[CONTACTS].insert(contact)
            self._own_entry(tx, "contact", stored, f"Contact {stored['display_name']} created", "v1")
            self.emit(tx, events.CONTACT_CREATED, stored)
        return stored

    @rpc
    def get_contact(self, contact_id: str) -> dict:
        return self._visible(self.store, "contact", contact_id, reach_of(self.caller))

    @rpc
    def list_contacts(self, query: dict) -> dict:
        return self._list("contact", query, schemas.CONTACT_FILTERABLE, schemas.CONTACT_SORTABLE)

    @rpc
    def update_contact(self, contact_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "change contacts")
        changes = validate(data, schemas.CONTACT_FIELDS, partial=True, server_owned=schemas.SERVER_OWNED)
        with self.store.transaction() as tx:
            current = self._changeable(tx, "contact", contact_id, changes, expected_version)
            self._check_company(tx, changes.get("company_id"), reach_of(self.caller))
            updated, changed = domain.apply_contact_changes(current, changes, utc_now())
            if not changed:
                return current
            stored = tx[CONTACTS].replace(updated, expected_version)
            self._own_entry(tx, "contact", stored, f"Changed {', '.join(changed)}", f"v{stored['version']}")
            self.emit(tx, events.CONTACT_UPDATED, {**stored, "changes": changed})
        return stored

    @rpc
    def delete_contact(self, contact_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, CUSTOMER_WRITERS, "delete contacts")
        with self.store.transaction() as tx:
            current = self._changeable(tx, "contact", contact_id, {}, expected_version)
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
        reach = reach_of(self.caller)
        if subject_type not in SUBJECTS:
            raise NotFound(f"{subject_type} {subject_id} not found")
        self._visible(self.store, subject_type, subject_id, reach)
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
            and_filters(flt, domain.timeline_filter(reach)),
            [("occurred_at", -1)],
            parse_limit(query.get("limit")),
            query.get("cursor") or None,
        )
        return {"data": [domain.public_timeline_entry(e) for e in page.items], "next_cursor": page.next_cursor}
