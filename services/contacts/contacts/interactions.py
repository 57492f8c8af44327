"""Interactions on every channel (calls, emails, meetings, chats, visits, web, notes), linked to a
contact and its company, each on their timelines and keeping their last activity current."""

from datetime import datetime, timedelta

from nameko.rpc import rpc

from crm_common.access import (
    ADMIN,
    CUSTOMER_WRITERS,
    MANAGER,
    SYSTEM,
    and_filters,
    owner_filter,
    reach_of,
    require_role,
)
from crm_common.errors import Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id, utc_now
from crm_common.listing import parse_list_query
from crm_common.schema import validate

from . import domain, events, schemas
from .customers import SUBJECTS
from .store import INTERACTIONS, TIMELINE

DIRECTION_OF = {"note": None, "web": "inbound"}


def interaction_summary(interaction: dict) -> str:
    kind = interaction["kind"].capitalize()
    direction = f" ({interaction['direction']})" if interaction.get("direction") else ""
    text = interaction.get("subject") or (interaction.get("summary") or "")[:120]
    outcome = f" - {interaction['outcome']}" if interaction.get("outcome") else ""
    return f"{kind}{direction}: {text}{outcome}".rstrip(": ")


now = utc_now  # the clock that says what "ahead" is; tests that move time replace it


def _latest_allowed() -> str:
    moment = datetime.fromisoformat(now().replace("Z", "+00:00")) + timedelta(days=1)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def checked_interaction(fields: dict) -> dict:
    """The rules across an interaction's fields: a duration is not negative, and `occurred_at`
    is kept in UTC (so timelines sort by it as text)."""
    errors = []
    if (fields.get("duration_seconds") or 0) < 0:
        errors.append({"field": "duration_seconds", "message": "must not be negative"})
    if fields.get("occurred_at"):
        try:
            fields = {**fields, "occurred_at": domain.utc_timestamp(fields["occurred_at"])}
        except ValueError:
            errors.append({"field": "occurred_at", "message": "must be a time between years 1 and 9999 in UTC"})
        else:
            # Interactions happened: one dated ahead would hold off reclaim rules for ever.
            if fields["occurred_at"] > _latest_allowed():
                errors.append({"field": "occurred_at", "message": "must not be more than a day ahead"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)
    return fields


class InteractionsRpc:
    """RPC entrypoints for interactions (a mixin of ContactsService). An interaction is seen by who
    sees its customer: it carries the customer's owner and shares (`owner_id`, `shared_with`) and
    follows them when the customer changes hands; `logged_by` is who recorded it."""

    def _interaction_subject(self, tx, fields: dict) -> tuple[str, dict]:
        """The customer an interaction belongs to (its contact, else its company), visible to the caller."""
        reach = reach_of(self.caller)
        errors = []
        subject = None
        for subject_type, key in (("company", "company_id"), ("contact", "contact_id")):
            if fields.get(key):
                try:
                    subject = (subject_type, self._visible(tx, subject_type, fields[key], reach))
                except NotFound:
                    errors.append({"field": key, "message": f"no such {subject_type}"})
        if errors:
            raise ValidationFailed("unknown customer", errors)
        if subject is None:
            raise ValidationFailed(
                "an interaction needs a contact or a company",
                [{"field": "contact_id", "message": "give a contact_id or a company_id"}],
            )
        return subject

    def _interaction_entries(self, tx, interaction: dict, hint: str, summary: str) -> None:
        """Its entries on its contact's and company's timelines, seen by who may read it (a company's
        owner does not read the calls of a contact someone else owns)."""
        for subject_type, key in (("contact", "contact_id"), ("company", "company_id")):
            if interaction.get(key):
                tx[TIMELINE].put(
                    domain.timeline_entry(
                        subject_type,
                        interaction[key],
                        "interaction",
                        self.name,
                        summary,
                        "interaction",
                        interaction["id"],
                        interaction["occurred_at"] if hint == "logged" else interaction["updated_at"],
                        f"{interaction['id']}:{hint}",
                        domain.interaction_access(interaction),
                        interaction["version"],
                    )
                )

    def _move_interaction(self, tx, interaction: dict, changes: dict) -> dict:
        """Write an interaction's new customer or owner, and let its timeline entries follow."""
        stored = tx[INTERACTIONS].replace({**interaction, **changes}, interaction["version"])
        access = domain.interaction_access(stored)
        for entry in list(tx[TIMELINE].iterate({"ref.id": stored["id"], "ref.type": "interaction"})):
            tx[TIMELINE].put({**entry, "access": access, "ref_version": stored["version"]})
        changed = [name for name in changes if interaction.get(name) != stored.get(name)]
        self.emit(tx, events.INTERACTION_UPDATED, {**stored, "changes": changed})
        return stored

    def _refresh_activity(self, tx, interaction: dict) -> None:
        """The customer's last activity is its newest interaction still there (reclaim rules read
        it): after a log, a change of time or a delete."""
        for subject_type, key in (("contact", "contact_id"), ("company", "company_id")):
            if not interaction.get(key):
                continue
            current = tx[SUBJECTS[subject_type]].get(interaction[key])
            if current is None:
                continue
            newest = tx[INTERACTIONS].find({key: interaction[key]}, [("occurred_at", -1)], 1).items
            last = newest[0]["occurred_at"] if newest else None
            if current.get("last_activity_at") != last:
                updated = {**current, "last_activity_at": last, "updated_at": utc_now()}
                self._store_change(tx, subject_type, current, updated, ["last_activity_at"], None)

    def _visible_interaction(self, source, interaction_id: str) -> dict:
        found = source[INTERACTIONS].get(interaction_id)
        reach = reach_of(self.caller)
        if found is None or not reach.sees_owner(found.get("owner_id"), found.get("shared_with") or ()):
            raise NotFound(f"interaction {interaction_id} not found")
        return found

    def _changeable_interaction(self, tx, interaction_id: str, expected_version: int | None) -> dict:
        current = self._visible_interaction(tx, interaction_id)
        if current["logged_by"] != self.caller.user_id and not set(self.caller.roles) & {ADMIN, MANAGER, SYSTEM}:
            raise Forbidden("only who logged an interaction, a manager or an admin may change it")
        if expected_version is not None and current["version"] != expected_version:
            raise PreconditionFailed(f"interaction {interaction_id} is at version {current['version']}")
        return current

    @rpc
    def create_interaction(self, data: dict) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "log interactions")
        fields = checked_interaction(
            validate(data, schemas.INTERACTION_FIELDS, server_owned=schemas.INTERACTION_SERVER_OWNED)
        )
        now = utc_now()
        with self.store.transaction() as tx:
            subject_type, subject = self._interaction_subject(tx, fields)
            if subject_type == "contact" and not fields.get("company_id"):
                fields["company_id"] = subject.get("company_id")
            interaction = {
                "id": new_id(),
                "direction": DIRECTION_OF.get(fields["kind"], "outbound"),
                "contact_id": None,
                "company_id": None,
                "duration_seconds": None,
                "subject": None,
                "summary": None,
                "outcome": None,
                "participants": [],
                "channel_ref": None,
                **fields,
                "occurred_at": fields.get("occurred_at") or now,
                "owner_id": subject.get("owner_id"),
                "shared_with": subject.get("shared_with") or [],
                "logged_by": self.caller.user_id,
                "created_at": now,
                "updated_at": now,
            }
            stored = tx[INTERACTIONS].insert(interaction)
            self._interaction_entries(tx, stored, "logged", interaction_summary(stored))
            self._refresh_activity(tx, stored)
            self.emit(tx, events.INTERACTION_LOGGED, stored)
        return stored

    @rpc
    def get_interaction(self, interaction_id: str) -> dict:
        return self._visible_interaction(self.store, interaction_id)

    @rpc
    def list_interactions(self, query: dict) -> dict:
        q = parse_list_query(
            query,
            filterable=schemas.INTERACTION_FILTERABLE,
            sortable=schemas.INTERACTION_SORTABLE,
            default_sort="-occurred_at",
        )
        flt = and_filters(owner_filter(reach_of(self.caller)), q.filter)
        page = self.store[INTERACTIONS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_interaction(self, interaction_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "change interactions")
        moved = [
            {"field": k, "message": "an interaction stays with its customer"} for k in ("contact_id", "company_id")
        ]
        if isinstance(data, dict) and any(k in data for k in ("contact_id", "company_id")):
            raise ValidationFailed("an interaction stays with its customer", [m for m in moved if m["field"] in data])
        changes = checked_interaction(
            validate(data, schemas.INTERACTION_UPDATABLE, partial=True, server_owned=schemas.INTERACTION_SERVER_OWNED)
        )
        with self.store.transaction() as tx:
            current = self._changeable_interaction(tx, interaction_id, expected_version)
            changed = [name for name, value in changes.items() if current.get(name) != value]
            if not changed:
                return current
            stored = tx[INTERACTIONS].replace({**current, **changes, "updated_at": utc_now()}, current["version"])
            self._interaction_entries(tx, stored, "logged", interaction_summary(stored))
            self._refresh_activity(tx, stored)
            self.emit(tx, events.INTERACTION_UPDATED, {**stored, "changes": changed})
        return stored

    @rpc
    def delete_interaction(self, interaction_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, CUSTOMER_WRITERS, "delete interactions")
        with self.store.transaction() as tx:
            current = self._changeable_interaction(tx, interaction_id, expected_version)
            tx[INTERACTIONS].delete(interaction_id, current["version"])
            self._refresh_activity(tx, current)
            # The timeline keeps the interaction's entry and adds who deleted it and when.
            tomb = {**current, "updated_at": utc_now()}
            self._interaction_entries(
                tx, tomb, "deleted", f"{interaction_summary(current)} (deleted by {self.caller.user_id})"
            )
            self.emit(
                tx,
                events.INTERACTION_DELETED,
                {"id": interaction_id, "version": current["version"] + 1, "deleted_by": self.caller.user_id},
            )
