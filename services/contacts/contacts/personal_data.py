"""Personal data of a contact: export everything the platform holds about the person (gathered from
every service over RPC) and erasure across every service, tracked by an erasure record."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import eventlet
from nameko.rpc import rpc

from crm_common.access import ADMIN, require_role
from crm_common.errors import Conflict, NotFound, ServiceUnavailable
from crm_common.ids import new_id, utc_now
from crm_common.listing import parse_list_query
from crm_common.runtime.events import handle_event
from crm_common.runtime.rpc import ServiceRpc
from crm_common.schema import Field, validate

from . import domain, events
from .store import CONTACTS, ERASURES, HISTORY, INTERACTIONS, MERGES, TIMELINE

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


@dataclass(frozen=True)
class Person:
    """What names one person: the contact's id and the ids of every contact merged into it (the
    same person, by the merge), their emails (lower-cased), phones (digits only) and companies."""

    ids: tuple[str, ...]
    emails: frozenset[str]
    phones: frozenset[str]
    company_ids: tuple[str, ...]


def person_of(records: Iterable[dict]) -> Person:
    """The person behind a contact (first) and the contacts merged into it (their last versions)."""
    records = list(records)
    emails = {e.strip().lower() for r in records for e in [r.get("email"), *(r.get("other_emails") or [])] if e}
    phones = {_digits(p) for r in records for p in [r.get("phone"), *(r.get("other_phones") or [])] if p}
    return Person(
        ids=tuple(dict.fromkeys(r["id"] for r in records)),
        emails=frozenset(emails),
        phones=frozenset(p for p in phones if p),
        company_ids=tuple(dict.fromkeys(r["company_id"] for r in records if r.get("company_id"))),
    )


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def names_the_person(participant: dict, person: Person) -> bool:
    if participant.get("contact_id") in person.ids:
        return True
    if (participant.get("email") or "").strip().lower() in person.emails:
        return True
    return _digits(participant.get("phone") or "") in person.phones


def scrubbed_interaction(interaction: dict, person: Person) -> dict:
    """The erased contact's own interaction: text gone; participants kept only when they name a
    platform user or another contact (free-text participants may well be the person)."""
    kept = [
        p
        for p in interaction.get("participants") or []
        if (p.get("user_id") or p.get("contact_id")) and not names_the_person(p, person)
    ]
    scrubbed = {**interaction, **{name: None for name in SCRUBBED_INTERACTION_TEXT}}
    return {**scrubbed, "summary": ERASED_TEXT, "participants": kept}


def new_erasure(
    contact_id: str, requested_by: str, reason: str | None, now: str, merged_ids: Iterable[str] = ()
) -> dict:
    return {
        "id": new_id(),
        "contact_id": contact_id,
        # The contacts merged into it, erased with it (the same person).
        "merged_ids": list(merged_ids),
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
        it is deleted. NotFound when there is none or it was erased already; Conflict naming the
        survivor when it was merged into another contact that is not erased (see `_refuse_merged`)."""
        record = source[CONTACTS].get(contact_id)
        if record is not None:
            return record, False
        last = self._last_snapshot(source, contact_id)
        if last is None or last["subject_type"] != "contact" or not last.get("deleted_by"):
            raise NotFound(f"contact {contact_id} not found")
        if last["record"].get("erased"):
            raise NotFound(f"contact {contact_id} not found")
        self._refuse_merged(source, contact_id)
        return last["record"], True

    def _refuse_merged(self, source, contact_id: str) -> None:
        """A contact merged away is the same person as its survivor, whose export and erasure
        cover it: asking for it alone would leave the survivor (the live record, with every merged
        value) in place, and guessing the survivor for the caller could erase a record they never
        named. So Conflict (409) naming the survivor. Only when the survivor is gone for good
        (erased before its erasure followed merges) is the merged contact handled on its own."""
        if source[MERGES].get(f"contact:{contact_id}") is None:
            return
        survivor_id = self._surviving_id(source, "contact", contact_id)
        try:
            self._personal_data_subject(source, survivor_id)
        except NotFound:
            return
        raise Conflict(
            f"contact {contact_id} was merged into contact {survivor_id}: export or erase {survivor_id}, "
            f"which covers {contact_id}",
            [{"id": survivor_id, "subject_type": "contact", "reason": "merged_into"}],
        )

    def _merged_into(self, source, contact_id: str) -> list[dict]:
        """The merges of every contact merged into this one, transitively (C into B, then B into
        A: both for A), oldest first: `{id: the merged contact's, merged_into, merged_at, merged_by}`."""
        found: dict[str, dict] = {}
        targets = [contact_id]
        while targets:
            target = targets.pop()
            for merge in source[MERGES].iterate({"merged_into": target}):
                kind, _, merged_id = merge["id"].partition(":")
                # `seen` also stops a loop in corrupt data (A into B into A).
                if kind != "contact" or merged_id == contact_id or merged_id in found:
                    continue
                found[merged_id] = {**merge, "id": merged_id}
                targets.append(merged_id)
        return sorted(found.values(), key=lambda m: (m.get("merged_at") or "", m["id"]))

    def _person(self, source, record: dict, merges: list[dict]) -> Person:
        merged = [self._last_snapshot(source, m["id"]) for m in merges]
        return person_of([record, *(s["record"] for s in merged if s is not None)])

    def _participations(self, source, person: Person) -> list[dict]:
        """Interactions of the person's companies, not their own, that name the person as a participant."""
        return [
            interaction
            for company_id in person.company_ids
            for interaction in source[INTERACTIONS].iterate({"company_id": company_id})
            if interaction.get("contact_id") not in person.ids
            and any(names_the_person(p, person) for p in interaction.get("participants") or [])
        ]

    def _held_here(self, source, contact_id: str) -> dict:
        """What this service keeps under one contact id: every snapshot, its interactions, its timeline."""
        return {
            # Snapshot ids end in the zero-padded record version: id order is version order.
            "history": list(source[HISTORY].iterate({"subject_id": contact_id}, [("id", 1)])),
            "interactions": list(source[INTERACTIONS].iterate({"contact_id": contact_id}, [("occurred_at", 1)])),
            "timeline": [
                domain.public_timeline_entry(e)
                for e in source[TIMELINE].iterate({"subject_id": contact_id}, [("occurred_at", 1)])
            ],
        }

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
        merges = self._merged_into(self.store, contact_id)
        # The other services are asked at once, not one after the other: the slowest one bounds
        # it. Each is asked about the contact and about every contact merged into it (a merge
        # re-points deals and tickets, but what named the duplicate may stay under its id).
        asked = [
            (merged_id, service) for merged_id in (contact_id, *(m["id"] for m in merges)) for service in OTHER_SERVICES
        ]
        pile = eventlet.GreenPile(len(asked))
        for merged_id, service in asked:
            pile.spawn(self._export_from, service, merged_id)
        answers: dict[str, dict] = {}
        for (merged_id, service), answer in zip(asked, pile, strict=True):
            answers.setdefault(merged_id, {})[service] = answer
        contacts = {
            "contact": record,
            "deleted": deleted,
            **self._held_here(self.store, contact_id),
            "participations": self._participations(self.store, self._person(self.store, record, merges)),
        }
        merged = [
            {**merge, "services": {"contacts": self._held_here(self.store, merge["id"]), **answers[merge["id"]]}}
            for merge in merges
        ]
        others = answers[contact_id]
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
            "merged": merged,
        }

    # erasure

    def _scrub_timeline(self, tx, person: Person, interaction_ids: list[str]) -> int:
        """Entries keep their kind, time, source and ref; their summaries go. On the contact's own
        timeline (and those of the contacts merged into it) every entry; elsewhere (its company's)
        those about the contact, its interactions and its tickets (the person's words). Deal
        entries elsewhere stay: business records."""
        own = [e for contact_id in person.ids for e in tx[TIMELINE].iterate({"subject_id": contact_id})]
        refs = {*person.ids, *interaction_ids}
        refs |= {e["ref"]["id"] for e in own if (e.get("ref") or {}).get("type") in ("ticket", "interaction")}
        entries = {e["id"]: e for e in own}
        for ref_id in sorted(refs):
            entries.update({e["id"]: e for e in tx[TIMELINE].iterate({"ref.id": ref_id})})
        for entry in entries.values():
            tx[TIMELINE].put({**entry, "summary": ERASED_TEXT})
        return len(entries)

    def _scrub_interactions(self, tx, person: Person) -> tuple[list[str], int]:
        own = [i for contact_id in person.ids for i in tx[INTERACTIONS].iterate({"contact_id": contact_id})]
        for interaction in own:
            scrubbed = scrubbed_interaction(interaction, person)
            stored = tx[INTERACTIONS].replace(scrubbed, interaction["version"])
            fields = (*SCRUBBED_INTERACTION_TEXT, "summary", "participants")
            changed = [k for k in fields if interaction.get(k) != stored.get(k)]
            self.emit(tx, events.INTERACTION_UPDATED, {**stored, "changes": changed})
        mentioned = self._participations(tx, person)
        for interaction in mentioned:
            kept = [p for p in interaction.get("participants") or [] if not names_the_person(p, person)]
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
            merges = self._merged_into(tx, contact_id)
            person = self._person(tx, record, merges)
            merged_ids = [m["id"] for m in merges]
            erasure = new_erasure(contact_id, self.caller.user_id, fields.get("reason"), now, merged_ids)
            interaction_ids, participations = self._scrub_interactions(tx, person)
            entries = self._scrub_timeline(tx, person, interaction_ids)
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
            # The contacts merged into it are the same person: their versions go blank too.
            snapshots = sum(self._scrub_history(tx, one_id, erasure["id"]) for one_id in person.ids)
            detail = {
                "history_snapshots": snapshots,
                "merged_contacts": len(merges),
                "interactions": len(interaction_ids),
                "participations": participations,
                "timeline_entries": entries,
            }
            erasure, _ = mark_done(erasure, "contacts", now, detail)
            stored = tx[ERASURES].insert(erasure)
            self.emit(
                tx,
                events.CONTACT_ERASED,
                {
                    "id": contact_id,
                    "version": version,
                    "erasure_id": erasure["id"],
                    "merged_ids": erasure["merged_ids"],
                },
            )
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
