"""Personal data of a contact: export everything the platform holds about the person (gathered from
every service over RPC) and erasure across every service, tracked by an erasure record."""

import logging

import eventlet
from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.errors import NotFound, ServiceUnavailable
from crm_common.ids import new_id, utc_now
from crm_common.listing import parse_list_query
from crm_common.runtime.events import handle_event
from crm_common.runtime.rpc import ServiceRpc
from crm_common.schema import Field, validate

from . import domain, events
from .store import CONTACTS, ERASURES, HISTORY, INTERACTIONS, TIMELINE

log = logging.getLogger(__name__)

# Every service that holds data about a contact, the contacts service first. The others answer
# `export_personal_data` over RPC and announce `personal_data_erased` once they have scrubbed.
OTHER_SERVICES = ("sales", "service_desk", "notifications", "search")
SERVICES = ("contacts", *OTHER_SERVICES)

ERASED_TEXT = "Personal data erased"
ERASED_NAME = "Erased contact"
# What a contact's history keeps after an erasure: business facts that identify nobody once the
# names, contact details, free text, tags and custom fields are gone. The company's history (a
# contact of ACME became a customer, changed hands, was reclaimed) stays coherent; `as_of` of the
# erased contact shows this skeleton.
KEPT_CONTACT_FIELDS = (
    "id",
    "version",
    "company_id",
    "owner_id",
    "shared_with",
    "lifecycle_stage",
    "lifecycle_history",
    "owner_history",
    "pool",
    "source_channel",
    "source_campaign",
    "value_grade",
    "churn_risk",
    "last_activity_at",
    "open_deal_count",
    "created_by",
    "created_at",
    "updated_at",
)
# An interaction of the erased contact keeps its kind, direction, times, customer and owner; its
# text goes, and so do the participants that are not a platform user or another contact.
SCRUBBED_INTERACTION_TEXT = ("subject", "outcome", "channel_ref")

ERASE_FIELDS = {"reason": Field("text", max_length=1000)}
ERASURE_FILTERABLE = ("contact_id", "status", "requested_by", "requested_at")
ERASURE_SORTABLE = ("requested_at",)


def _blank(value):
    return [] if isinstance(value, list) else {} if isinstance(value, dict) else None


def scrubbed_contact(record: dict, erasure_id: str) -> dict:
    """The record with every field but the kept ones blanked (null, [] or {}): the same shape, so
    whoever reads a version back (`as_of`) meets a contact, with nobody in it."""
    blanked = {name: value if name in KEPT_CONTACT_FIELDS else _blank(value) for name, value in record.items()}
    return {**blanked, "display_name": ERASED_NAME, "erased": True, "erasure_id": erasure_id}


def _person_keys(record: dict) -> tuple[set[str], set[str]]:
    """The person's emails (lower-cased) and phones (digits only), to recognise them as a participant."""
    emails = {e.strip().lower() for e in [record.get("email"), *(record.get("other_emails") or [])] if e}
    phones = {_digits(p) for p in [record.get("phone"), *(record.get("other_phones") or [])] if p}
    return emails, {p for p in phones if p}


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def names_the_person(participant: dict, contact_id: str, emails: set[str], phones: set[str]) -> bool:
    if participant.get("contact_id") == contact_id:
        return True
    if (participant.get("email") or "").strip().lower() in emails:
        return True
    return _digits(participant.get("phone") or "") in phones


def scrubbed_interaction(interaction: dict, contact_id: str, emails: set[str], phones: set[str]) -> dict:
    """The erased contact's own interaction: text gone; participants kept only when they name a
    platform user or another contact (free-text participants may well be the person)."""
    kept = [
        p
        for p in interaction.get("participants") or []
        if (p.get("user_id") or p.get("contact_id")) and not names_the_person(p, contact_id, emails, phones)
    ]
    scrubbed = {**interaction, **{name: None for name in SCRUBBED_INTERACTION_TEXT}}
    return {**scrubbed, "summary": ERASED_TEXT, "participants": kept}


def new_erasure(contact_id: str, requested_by: str, reason: str | None, now: str) -> dict:
    return {
        "id": new_id(),
        "contact_id": contact_id,
        "requested_by": requested_by,
        "requested_at": now,
        "reason": reason,
        "status": "in_progress",
        "services": {name: {"status": "pending", "at": None, "detail": None} for name in SERVICES},
        "completed_at": None,
    }


def mark_done(erasure: dict, service: str, at: str, detail: dict | None) -> tuple[dict, bool]:
    """The erasure with `service` done; and whether this completed it (every service done)."""
    services = {**erasure["services"], service: {"status": "done", "at": at, "detail": detail}}
    updated = {**erasure, "services": services}
    done = all(s["status"] == "done" for s in services.values())
    newly_completed = done and erasure["status"] != "completed"
    if newly_completed:
        updated["status"] = "completed"
        updated["completed_at"] = max(s["at"] for s in services.values())
    return updated, newly_completed


class PersonalDataRpc:
    """Export and erasure of a contact's personal data (a mixin of ContactsService).

    Both are for admins only: an export is everything about the person across every service, far
    beyond any one manager's or rep's reach (a manager would get either a partial export that
    looks complete or records outside their reach), and an erasure cannot be undone."""

    sales_exporter = ServiceRpc("sales")
    service_desk_exporter = ServiceRpc("service_desk")
    notifications_exporter = ServiceRpc("notifications")
    search_exporter = ServiceRpc("search")

    def _personal_data_subject(self, source, contact_id: str) -> tuple[dict, bool]:
        """The contact, live or (deleted, not yet erased) through its last snapshot, and whether
        it is deleted. NotFound when there is none or it was erased already."""
        record = source[CONTACTS].get(contact_id)
        if record is not None:
            return record, False
        last = self._last_snapshot(source, contact_id)
        if last is None or last["subject_type"] != "contact" or not last.get("deleted_by"):
            raise NotFound(f"contact {contact_id} not found")
        if last["record"].get("erased"):
            raise NotFound(f"contact {contact_id} not found")
        return last["record"], True

    def _participations(self, source, record: dict) -> list[dict]:
        """Interactions of the contact's company, not its own, that name the person as a participant."""
        if not record.get("company_id"):
            return []
        emails, phones = _person_keys(record)
        return [
            interaction
            for interaction in source[INTERACTIONS].iterate({"company_id": record["company_id"]})
            if interaction.get("contact_id") != record["id"]
            and any(names_the_person(p, record["id"], emails, phones) for p in interaction.get("participants") or [])
        ]

    def _export_from(self, service: str, contact_id: str) -> dict:
        proxy = getattr(self, f"{service}_exporter")
        try:
            return proxy.export_personal_data(contact_id)
        except ServiceUnavailable as exc:
            # Never a silently partial export: the whole request fails and can be retried.
            raise ServiceUnavailable(f"the export needs every service and {exc.detail}") from None

    @rpc
    def export_personal_data(self, contact_id: str) -> dict:
        require_role(self.caller, (ADMIN,), "export personal data")
        record, deleted = self._personal_data_subject(self.store, contact_id)
        # The other services are asked at once, not one after the other: the slowest one bounds it.
        pile = eventlet.GreenPile(len(OTHER_SERVICES))
        for service in OTHER_SERVICES:
            pile.spawn(self._export_from, service, contact_id)
        others = dict(zip(OTHER_SERVICES, pile, strict=True))
        contacts = {
            "contact": record,
            "deleted": deleted,
            # Snapshot ids end in the zero-padded record version: id order is version order.
            "history": list(self.store[HISTORY].iterate({"subject_id": contact_id}, [("id", 1)])),
            "interactions": list(self.store[INTERACTIONS].iterate({"contact_id": contact_id}, [("occurred_at", 1)])),
            "participations": self._participations(self.store, record),
            "timeline": [
                domain.public_timeline_entry(e)
                for e in self.store[TIMELINE].iterate({"subject_id": contact_id}, [("occurred_at", 1)])
            ],
        }
        now = utc_now()
        with self.store.transaction() as tx:
            # Who took a copy of the person's data, and when, stays on the contact's timeline.
            mark, summary = {"id": contact_id, "updated_at": now}, f"Personal data exported by {self.caller.user_id}"
            self._own_entry(tx, "contact", mark, summary, f"export-{new_id()}")
        return {
            "subject": {"type": "contact", "id": contact_id},
            "generated_at": now,
            "generated_by": self.caller.user_id,
            "services": {"contacts": contacts, **others},
        }

    # erasure

    def _scrub_timeline(self, tx, contact_id: str, interaction_ids: list[str]) -> int:
        """Entries keep their kind, time, source and ref; their summaries go. On the contact's own
        timeline every entry; elsewhere (its company's) those about the contact, its interactions
        and its tickets (the person's words). Deal entries elsewhere stay: business records."""
        own = list(tx[TIMELINE].iterate({"subject_id": contact_id}))
        refs = {contact_id, *interaction_ids}
        refs |= {e["ref"]["id"] for e in own if (e.get("ref") or {}).get("type") in ("ticket", "interaction")}
        entries = {e["id"]: e for e in own}
        for ref_id in sorted(refs):
            entries.update({e["id"]: e for e in tx[TIMELINE].iterate({"ref.id": ref_id})})
        for entry in entries.values():
            tx[TIMELINE].put({**entry, "summary": ERASED_TEXT})
        return len(entries)

    def _scrub_interactions(self, tx, record: dict) -> tuple[list[str], int]:
        contact_id = record["id"]
        emails, phones = _person_keys(record)
        own = list(tx[INTERACTIONS].iterate({"contact_id": contact_id}))
        for interaction in own:
            scrubbed = scrubbed_interaction(interaction, contact_id, emails, phones)
            stored = tx[INTERACTIONS].replace(scrubbed, interaction["version"])
            fields = (*SCRUBBED_INTERACTION_TEXT, "summary", "participants")
            changed = [k for k in fields if interaction.get(k) != stored.get(k)]
            self.emit(tx, events.INTERACTION_UPDATED, {**stored, "changes": changed})
        mentioned = self._participations(tx, record)
        for interaction in mentioned:
            kept = [
                p for p in interaction.get("participants") or [] if not names_the_person(p, contact_id, emails, phones)
            ]
            stored = tx[INTERACTIONS].replace({**interaction, "participants": kept}, interaction["version"])
            self.emit(tx, events.INTERACTION_UPDATED, {**stored, "changes": ["participants"]})
        return [i["id"] for i in own], len(mentioned)

    def _scrub_history(self, tx, contact_id: str, erasure_id: str) -> int:
        snapshots = list(tx[HISTORY].iterate({"subject_id": contact_id}))
        for snapshot in snapshots:
            tx[HISTORY].put({**snapshot, "record": scrubbed_contact(snapshot["record"], erasure_id)})
        return len(snapshots)

    @rpc
    def erase_contact(self, contact_id: str, data: dict | None = None) -> dict:
        """Erase the person everywhere: scrub here in one transaction with the erasure record and
        `contact_erased`; every other service scrubs on that event and reports back. `data` is the
        request body, `{"reason": ...}` or nothing, validated here like every body."""
        require_role(self.caller, (ADMIN,), "erase personal data")
        fields = validate({} if data is None else data, ERASE_FIELDS)
        now = utc_now()
        with self.store.transaction() as tx:
            record, deleted = self._personal_data_subject(tx, contact_id)
            erasure = new_erasure(contact_id, self.caller.user_id, fields.get("reason"), now)
            interaction_ids, participations = self._scrub_interactions(tx, record)
            entries = self._scrub_timeline(tx, contact_id, interaction_ids)
            summary = f"Personal data erased by {self.caller.user_id} (erasure {erasure['id']})"
            if deleted:
                # Deleted before: no record to remove, but the erasure still leaves its tombstone entry.
                self._own_entry(
                    tx, "contact", {"id": contact_id, "updated_at": now}, summary, f"erased-{erasure['id']}"
                )
                self._drop_match_keys(tx, "contact", contact_id)
                version = record["version"]
            else:
                self._remove(tx, "contact", record, summary, extra={"erased": True, "erasure_id": erasure["id"]})
                version = record["version"] + 1
            snapshots = self._scrub_history(tx, contact_id, erasure["id"])
            detail = {
                "history_snapshots": snapshots,
                "interactions": len(interaction_ids),
                "participations": participations,
                "timeline_entries": entries,
            }
            erasure, _ = mark_done(erasure, "contacts", now, detail)
            stored = tx[ERASURES].insert(erasure)
            self.emit(tx, events.CONTACT_ERASED, {"id": contact_id, "version": version, "erasure_id": erasure["id"]})
        return stored

    @rpc
    def get_erasure(self, erasure_id: str) -> dict:
        require_role(self.caller, (ADMIN,), "read erasure records")
        found = self.store[ERASURES].get(erasure_id)
        if found is None:
            raise NotFound(f"erasure {erasure_id} not found")
        return found

    @rpc
    def list_erasures(self, query: dict) -> dict:
        require_role(self.caller, (ADMIN,), "read erasure records")
        q = parse_list_query(
            query, filterable=ERASURE_FILTERABLE, sortable=ERASURE_SORTABLE, default_sort="-requested_at"
        )
        page = self.store[ERASURES].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    def _is_erased(self, source, contact_id: str) -> bool:
        """Whether the contact was erased: a projection of a late event about it (a ticket created
        just before the erasure) should keep the person's words off its timeline."""
        return bool(source[ERASURES].find({"contact_id": contact_id}, None, 1).items)

    def _service_erased(self, tx, event) -> None:
        payload = event.payload
        erasure = tx[ERASURES].get(payload.get("erasure_id") or "")
        if erasure is None:
            log.warning("personal_data_erased for an unknown erasure %s", payload.get("erasure_id"))
            return
        if erasure["services"].get(event.source, {}).get("status") == "done":
            return
        updated, completed = mark_done(erasure, event.source, event.occurred_at, payload.get("detail"))
        stored = tx[ERASURES].replace(updated, erasure["version"])
        if completed:
            self.emit(tx, events.ERASURE_COMPLETED, stored)

    @handle_event("sales", "personal_data_erased")
    def on_sales_personal_data_erased(self, tx, event) -> None:
        self._service_erased(tx, event)

    @handle_event("service_desk", "personal_data_erased")
    def on_service_desk_personal_data_erased(self, tx, event) -> None:
        self._service_erased(tx, event)

    @handle_event("notifications", "personal_data_erased")
    def on_notifications_personal_data_erased(self, tx, event) -> None:
        self._service_erased(tx, event)

    @handle_event("search", "personal_data_erased")
    def on_search_personal_data_erased(self, tx, event) -> None:
        self._service_erased(tx, event)
