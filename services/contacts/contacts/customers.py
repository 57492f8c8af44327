"""Companies and contacts: create, read, list, change and delete, each under the visibility table,
with every version kept (history, `as_of`) and the customer's 360-degree timeline.

The write paths `_create`, `_store_change` and `_remove` are the only ones: every feature that
creates, changes or deletes a customer (API, import, pool, merge, erasure) goes through them, so
validation, history, timeline, duplicate keys and events never drift apart.
"""

from nameko.rpc import rpc

from crm_common.access import CUSTOMER_WRITERS, Reach, and_filters, reach_of, require_role
from crm_common.errors import NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import utc_now
from crm_common.listing import parse_limit, parse_list_query
from crm_common.schema import validate

from . import domain, events, schemas
from .store import COMPANIES, CONTACTS, HISTORY, INTERACTIONS, SERVICE_LINKS, TIMELINE

SUBJECTS = {"contact": CONTACTS, "company": COMPANIES}
FIELDS = {"contact": schemas.CONTACT_FIELDS, "company": schemas.COMPANY_FIELDS}
LISTING = {
    "contact": (schemas.CONTACT_FILTERABLE, schemas.CONTACT_SORTABLE),
    "company": (schemas.COMPANY_FILTERABLE, schemas.COMPANY_SORTABLE),
}


def parse_as_of(raw) -> str | None:
    """`?as_of=` as a store timestamp (see `domain.utc_timestamp`)."""
    if raw in (None, ""):
        return None
    try:
        return domain.utc_timestamp(str(raw))
    except ValueError:
        raise ValidationFailed(
            "as_of must be an ISO 8601 date or time", [{"field": "as_of", "message": "must be ISO 8601"}]
        ) from None


class CustomersRpc:
    """RPC entrypoints for companies and contacts (a mixin of ContactsService)."""

    def _own_entry(self, tx, subject_type: str, record: dict, summary: str, event_id_hint: str) -> None:
        tx[TIMELINE].put(self._own_entry_doc(subject_type, record, summary, event_id_hint))

    def _own_entry_doc(self, subject_type: str, record: dict, summary: str, event_id_hint: str) -> dict:
        return domain.timeline_entry(
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

    def _last_snapshot(self, source, subject_id: str, as_of: str | None = None) -> dict | None:
        flt: dict = {"subject_id": subject_id}
        if as_of is not None:
            flt["valid_from"] = {"$lte": as_of}
        found = source[HISTORY].find(flt, [("record_version", -1)], 1).items
        return found[0] if found else None

    def _visible_or_deleted(self, source, subject_type: str, subject_id: str, reach: Reach) -> dict:
        """Like `_visible`, but a deleted record still answers through its last snapshot: its
        history is never purged, and who saw it then may read it."""
        try:
            return self._visible(source, subject_type, subject_id, reach)
        except NotFound:
            last = self._last_snapshot(source, subject_id)
            if last is None or last["subject_type"] != subject_type or not last.get("deleted_by"):
                raise
            if not domain.customer_in_reach(
                reach, last["record"], self._linked_teams(source, reach, subject_type, subject_id)
            ):
                raise
            return last["record"]

    def _as_of(self, subject_type: str, subject_id: str, as_of: str) -> dict:
        self._visible_or_deleted(self.store, subject_type, subject_id, reach_of(self.caller))
        found = self._last_snapshot(self.store, subject_id, as_of)
        if found is None or found.get("deleted_by"):
            raise NotFound(f"{subject_type} {subject_id} did not exist at {as_of}")
        return found["record"]

    # the one write path

    def _validated(self, tx, subject_type: str, data, current: dict | None = None) -> dict:
        """`data` checked against the fields and the custom field definitions: a whole new record
        when `current` is None, else a partial change of it."""
        fields = validate(data, FIELDS[subject_type], partial=current is not None, server_owned=schemas.SERVER_OWNED)
        if "custom_fields" in fields or current is None:
            sent = fields.get("custom_fields") or {}
            merged = {**((current or {}).get("custom_fields") or {}), **sent}
            self._check_custom_fields(tx, subject_type, sent, {k: v for k, v in merged.items() if v is not None})
        if subject_type == "contact" and current is None:
            if not (fields.get("first_name") or fields.get("last_name") or fields.get("email")):
                raise ValidationFailed(
                    "a contact needs a name or an email", [{"field": "last_name", "message": "give a name or an email"}]
                )
        return fields

    def _create(self, tx, subject_type: str, data, *, allow_duplicate: bool = False) -> dict:
        """Validate `data` as a new company or contact of the caller and store it, with its first
        snapshot, timeline entry, duplicate keys and `<type>_created` event."""
        record = self._new_record(tx, subject_type, data, allow_duplicate=allow_duplicate)
        return self._write_new(tx, subject_type, [record])[0]

    def _new_record(self, tx, subject_type: str, data, *, allow_duplicate: bool = False) -> dict:
        """The first half of `_create`: every check, no write (a dry run stops here). The new
        record as `_write_new` takes it."""
        fields = self._validated(tx, subject_type, data)
        now = utc_now()
        if subject_type == "contact":
            record = domain.new_contact(fields, self.caller.user_id, now)
            self._check_company(tx, record["company_id"], reach_of(self.caller))
        else:
            record = domain.new_company(fields, self.caller.user_id, now)
        domain.check_new_owner(self.caller, record["owner_id"])
        if not allow_duplicate:
            self._refuse_duplicates(tx, subject_type, record)
        return record

    def _write_new(self, tx, subject_type: str, records: list[dict]) -> list[dict]:
        """The second half of `_create`, for one record or an import's chunk of them (each
        collection in one bulk write): the records, their first snapshots, timeline entries,
        duplicate keys and `<type>_created` events."""
        stored = tx[SUBJECTS[subject_type]].insert_many(records)
        tx[HISTORY].insert_many([domain.snapshot(subject_type, record, record["created_at"]) for record in stored])
        noun = subject_type.capitalize()
        entries = []
        for record in stored:
            name = record["display_name"] if subject_type == "contact" else record["name"]
            entries.append(self._own_entry_doc(subject_type, record, f"{noun} {name} created", "v1"))
        tx[TIMELINE].insert_many(entries)
        self._index_new_match_keys(tx, subject_type, stored)
        self.emit_many(tx, events.customer_event(subject_type, events.CREATED), stored)
        return stored

    def _store_change(
        self,
        tx,
        subject_type: str,
        current: dict,
        updated: dict,
        changed: list[str],
        summary: str | None,
        event_type: str | None = None,
        extra: dict | None = None,
    ) -> dict:
        """Write a changed company or contact: a new version (412 if another write got there
        first), its snapshot, a timeline entry with `summary` (none for server-kept fields such
        as last_activity_at), its duplicate keys, and `<type>_updated` (plus `event_type`)."""
        stored = tx[SUBJECTS[subject_type]].replace(updated, current["version"])
        tx[HISTORY].put(domain.snapshot(subject_type, stored, stored["updated_at"]))
        if summary:
            self._own_entry(tx, subject_type, stored, summary, f"v{stored['version']}")
        self._index_match_keys(tx, subject_type, stored)
        if {"owner_id", "shared_with"} & set(changed):
            self._interactions_follow_owner(tx, subject_type, stored)
        self.emit(tx, events.customer_event(subject_type, events.UPDATED), {**stored, "changes": changed})
        if event_type:
            self.emit(tx, event_type, {**stored, **(extra or {})})
        return stored

    def _remove(self, tx, subject_type: str, current: dict, summary: str, extra: dict | None = None) -> None:
        """Delete a company or contact; its history stays: a last snapshot marked deleted and a
        tombstone entry with who and when."""
        tx[SUBJECTS[subject_type]].delete(current["id"], current["version"])
        now = utc_now()
        tomb = {**current, "version": current["version"] + 1, "updated_at": now}
        tx[HISTORY].put(domain.snapshot(subject_type, tomb, now, deleted_by=self.caller.user_id))
        self._own_entry(tx, subject_type, tomb, summary, "deleted")
        self._drop_match_keys(tx, subject_type, current["id"])
        payload = {"id": current["id"], "version": tomb["version"], "deleted_by": self.caller.user_id}
        self.emit(tx, events.customer_event(subject_type, events.DELETED), {**payload, **(extra or {})})

    def _interactions_follow_owner(self, tx, subject_type: str, record: dict) -> None:
        """Interactions are seen by who sees their customer: they take its owner and shares (a
        contact's for interactions with a contact, else the company's)."""
        flt = (
            {"contact_id": record["id"]}
            if subject_type == "contact"
            else {"company_id": record["id"], "contact_id": None}
        )
        owner = {"owner_id": record.get("owner_id"), "shared_with": record.get("shared_with") or []}
        for interaction in list(tx[INTERACTIONS].iterate(flt)):
            self._move_interaction(tx, interaction, owner)

    def _update(self, subject_type: str, subject_id: str, data, expected_version: int | None) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, f"change {subject_type} records")
        with self.store.transaction() as tx:
            probe = validate(data, FIELDS[subject_type], partial=True, server_owned=schemas.SERVER_OWNED)
            current = self._changeable(tx, subject_type, subject_id, probe, expected_version)
            changes = self._validated(tx, subject_type, data, current)
            if subject_type == "contact":
                self._check_company(tx, changes.get("company_id"), reach_of(self.caller))
            now = utc_now()
            base = current
            if "owner_id" in changes and changes["owner_id"] != current.get("owner_id"):
                base = domain.change_owner(current, changes["owner_id"], self.caller.user_id, "reassigned", now)
            updated, changed = domain.apply_changes(base, changes, now, self.caller.user_id)
            if base is not current:
                changed = ["owner_id", *[name for name in changed if name != "owner_id"]]
            if not changed:
                return current
            summary = domain.describe_changes(current, updated, changed)
            if base is current or subject_type != "contact":
                return self._store_change(tx, subject_type, current, updated, changed, summary)
            # A contact changing hands here is the same fact as an assignment or a release through
            # the pool routes: the same event (the new owner hears of it), and any reclaim notice,
            # given to the previous owner, is withdrawn.
            self._drop_notice(tx, subject_id)
            moved = events.CONTACT_RELEASED if updated["owner_id"] is None else events.CONTACT_ASSIGNED
            extra = {"from_owner_id": current.get("owner_id"), "reason": "reassigned"}
            return self._store_change(tx, subject_type, current, updated, changed, summary, moved, extra)

    def _delete(self, subject_type: str, subject_id: str, expected_version: int | None) -> None:
        require_role(self.caller, CUSTOMER_WRITERS, f"delete {subject_type} records")
        with self.store.transaction() as tx:
            current = self._changeable(tx, subject_type, subject_id, {}, expected_version)
            # Contacts keep a deleted company's company_id; it no longer resolves.
            self._remove(tx, subject_type, current, f"{subject_type.capitalize()} deleted by {self.caller.user_id}")

    def _get(self, subject_type: str, subject_id: str, as_of=None) -> dict:
        moment = parse_as_of(as_of)
        if moment is not None:
            return self._as_of(subject_type, subject_id, moment)
        return self._visible(self.store, subject_type, subject_id, reach_of(self.caller))

    # companies

    @rpc
    def create_company(self, data: dict, allow_duplicate: bool = False) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "create companies")
        with self.store.transaction() as tx:
            return self._create(tx, "company", data, allow_duplicate=allow_duplicate)

    @rpc
    def get_company(self, company_id: str, as_of: str | None = None) -> dict:
        return self._get("company", company_id, as_of)

    @rpc
    def list_companies(self, query: dict) -> dict:
        return self._list("company", query, *LISTING["company"])

    @rpc
    def update_company(self, company_id: str, data: dict, expected_version: int | None = None) -> dict:
        return self._update("company", company_id, data, expected_version)

    @rpc
    def delete_company(self, company_id: str, expected_version: int | None = None) -> None:
        self._delete("company", company_id, expected_version)

    # contacts

    @rpc
    def create_contact(self, data: dict, allow_duplicate: bool = False) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "create contacts")
        with self.store.transaction() as tx:
            return self._create(tx, "contact", data, allow_duplicate=allow_duplicate)

    @rpc
    def get_contact(self, contact_id: str, as_of: str | None = None) -> dict:
        return self._get("contact", contact_id, as_of)

    @rpc
    def list_contacts(self, query: dict) -> dict:
        return self._list("contact", query, *LISTING["contact"])

    @rpc
    def update_contact(self, contact_id: str, data: dict, expected_version: int | None = None) -> dict:
        return self._update("contact", contact_id, data, expected_version)

    @rpc
    def delete_contact(self, contact_id: str, expected_version: int | None = None) -> None:
        self._delete("contact", contact_id, expected_version)

    # timeline

    @rpc
    def get_timeline(self, subject_type: str, subject_id: str, query: dict) -> dict:
        """Newest first. With `as_of`, the entries up to that moment and the profile as it was then."""
        reach = reach_of(self.caller)
        if subject_type not in SUBJECTS:
            raise NotFound(f"{subject_type} {subject_id} not found")
        if not isinstance(query, dict):
            raise ValidationFailed("the timeline query must be an object", [{"field": "", "message": "not an object"}])
        self._visible_or_deleted(self.store, subject_type, subject_id, reach)
        as_of = parse_as_of(query.get("as_of"))
        flt: dict = {"subject_id": subject_id}
        kinds = query.get("kind")
        if kinds:
            wanted = [k for k in str(kinds).split(",") if k]
            unknown = [k for k in wanted if k not in schemas.TIMELINE_KINDS]
            if unknown:
                raise ValidationFailed(
                    "unknown timeline kind", [{"field": "kind", "message": f"unknown: {', '.join(unknown)}"}]
                )
            flt["kind"] = {"$in": wanted}
        if as_of is not None:
            flt["occurred_at"] = {"$lte": as_of}
        page = self.store[TIMELINE].find(
            and_filters(flt, domain.timeline_filter(reach)),
            [("occurred_at", -1)],
            parse_limit(query.get("limit")),
            query.get("cursor") or None,
        )
        answer = {"data": [domain.public_timeline_entry(e) for e in page.items], "next_cursor": page.next_cursor}
        if as_of is not None:
            then = self._last_snapshot(self.store, subject_id, as_of)
            answer["as_of"] = as_of
            answer["profile"] = None if then is None or then.get("deleted_by") else then["record"]
        return answer
