"""Duplicate prevention and merge of companies and contacts: the match-key index, the check before
entry, refusing likely duplicates on create, and merging duplicates into a survivor with every
branch (interactions, timeline, service links, deal links, a company's contacts)."""

import dataclasses
import functools

from nameko.rpc import rpc

from crm_common.access import ADMIN, CUSTOMER_WRITERS, reach_of, require_role
from crm_common.config import ConfigError, setting
from crm_common.errors import Conflict, ValidationFailed
from crm_common.ids import utc_now
from crm_common.redirects import surviving_id

from . import domain, events, matching
from .customers import FIELDS, SUBJECTS
from .store import DEAL_LINKS, INTERACTIONS, MATCH_KEYS, MERGES, SERVICE_LINKS, TIMELINE

MAX_DUPLICATES_PER_MERGE = 20
# Merges followed from a record to its survivor (A into B, then B into C): more is corrupt data.
# Key rows read per key value, and records scored per check: a name shared by thousands of
# customers ("mary|j") stays a bounded, indexed read.
KEY_ROWS_PER_VALUE = 50
MAX_SCORED = 200
# Strong keys first: when the bound cuts, it cuts the weakest evidence.
KIND_ORDER = ("email", "phone", "tax_id", "name_at_company", "name", "name_part")
# The only keys that can find a likely duplicate (see matching.compare): a similar name alone is
# weak, and a company's same name shares its whole `name` key. A create reads just these.
STRONG_KINDS = {
    "contact": ("email", "phone", "name_at_company"),
    "company": ("email", "phone", "tax_id", "name"),
}

# The fields a duplicate check reads, per subject type; the others of the record are accepted
# (a client may send the body it is about to create) and ignored.
MATCH_FIELDS = {
    "contact": {
        "first_name": str,
        "last_name": str,
        "local_name": str,
        "email": str,
        "other_emails": list,
        "phone": str,
        "other_phones": list,
        "company_id": str,
    },
    "company": {"name": str, "local_name": str, "tax_id": str, "email": str, "phone": str},
}

# Fields a merge never takes from a duplicate: identity, the survivor's owner and pool state, its
# histories (the duplicates' live on in their own snapshots), and what is recomputed.
NOT_MERGED = frozenset(
    {
        "id",
        "version",
        "created_at",
        "created_by",
        "updated_at",
        "owner_id",
        "owner_history",
        "pool",
        "lifecycle_stage",
        "lifecycle_history",
        "display_name",
        "open_deal_count",
        "lead_score",
        "last_activity_at",
        "shared_with",
        "email",
        "phone",
        "other_emails",
        "other_phones",
    }
)


def phone_country_code() -> str:
    """DEFAULT_PHONE_COUNTRY_CODE (default 86): the country of phone numbers written without one."""
    code = setting("DEFAULT_PHONE_COUNTRY_CODE", matching.DEFAULT_COUNTRY_CODE).lstrip("+")
    if not code.isdigit() or not 1 <= len(code) <= 3:
        raise ConfigError(f"DEFAULT_PHONE_COUNTRY_CODE must be 1-3 digits, got {code!r}")
    return code


def record_profile(subject_type: str, record: dict, country_code: str) -> matching.Profile:
    """`matching.profile`, remembered by the matching values (not the id, empty values left out):
    a create builds its record's profile to check it and again to index it, an import row is
    profiled before its record exists, and a check scores the same candidates as the one before."""
    found = _anonymous_profile(subject_type, record, country_code)
    record_id = record.get("id")
    return found if found.id == record_id else dataclasses.replace(found, id=record_id)


def _anonymous_profile(subject_type: str, record: dict, country_code: str) -> matching.Profile:
    """`record_profile` without the id (the match keys do not need it)."""
    fields = tuple(
        (name, tuple(value) if isinstance(value, list) else value)
        for name in MATCH_FIELDS[subject_type]
        if (value := record.get(name))
        and (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)))
    )
    return _cached_profile(subject_type, fields, country_code)


@functools.lru_cache(maxsize=4096)
def _cached_profile(subject_type: str, fields: tuple, country_code: str) -> matching.Profile:
    record = {name: list(value) if isinstance(value, tuple) else value for name, value in fields}
    return matching.profile(subject_type, record, country_code)


def _key_documents(subject_type: str, record: dict, country_code: str) -> dict[str, dict]:
    """The match-key documents of a record, by id (see store.MATCH_KEYS)."""
    record_id = record["id"]
    return {
        f"{subject_type}:{record_id}:{kind}:{value}": {
            "id": f"{subject_type}:{record_id}:{kind}:{value}",
            "subject_type": subject_type,
            "subject_id": record_id,
            "kind": kind,
            "value": value,
        }
        for kind, value in matching.match_keys(_anonymous_profile(subject_type, record, country_code))
    }


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _union(*lists) -> list:
    out: list = []
    for items in lists:
        for item in items or ():
            if item not in out:
                out.append(item)
    return out


def _distinct_by(values, normalise) -> list:
    """Values whose normal forms differ, first spelling kept (+86 138... and 138... are one phone)."""
    seen, out = set(), []
    for value in values:
        key = normalise(value) if value else None
        if value and (key or value) not in seen:
            seen.add(key or value)
            out.append(value)
    return out


def merged_record(subject_type: str, survivor: dict, duplicates: list[dict], country_code: str, now: str) -> dict:
    """The survivor after absorbing the duplicates (pure). It keeps its own values; an empty field
    takes the first duplicate's value that has one; lists (tags, interests, addresses) are unioned;
    objects (custom_fields, preferences) merged with the survivor winning; a contact's other emails
    and phones gain the duplicates' different ones; shared_with gains the duplicates' shares and
    owners, so no one loses sight of a customer they had; last_activity_at is the latest."""
    record = dict(survivor)
    for duplicate in duplicates:
        for name, value in duplicate.items():
            if name in NOT_MERGED or _empty(value):
                continue
            mine = record.get(name)
            if isinstance(mine, list) and isinstance(value, list):
                record[name] = _union(mine, value)
            elif isinstance(mine, dict) and isinstance(value, dict):
                record[name] = {**value, **mine}
            elif _empty(mine):
                record[name] = value
    everyone = [survivor, *duplicates]
    for key in ("email", "phone"):
        if _empty(record.get(key)):
            record[key] = next((r[key] for r in duplicates if r.get(key)), record.get(key))
    if subject_type == "contact":
        for key, others, normalise in (
            ("email", "other_emails", matching.normalise_email),
            ("phone", "other_phones", lambda v: matching.normalise_phone(v, country_code)),
        ):
            known = [v for r in everyone for v in (r.get(key), *(r.get(others) or []))]
            primary = normalise(record.get(key)) if record.get(key) else None
            record[others] = [v for v in _distinct_by(known, normalise) if not primary or normalise(v) != primary]
        record["display_name"] = domain.display_name(record)
    owner = survivor.get("owner_id")
    shares = _union(*(r.get("shared_with") for r in everyone), [r.get("owner_id") for r in duplicates])
    record["shared_with"] = [u for u in shares if u and u != owner]
    record["last_activity_at"] = max((r.get("last_activity_at") or "" for r in everyone), default="") or None
    record["updated_at"] = now
    return record


def _candidate(record_id: str | None, match: matching.Match, record: dict | None) -> dict:
    return {
        "id": record_id,
        "score": match.score,
        "reasons": list(match.reasons),
        "strong": match.strong,
        "record": record,
    }


class MatchingRpc:
    """Duplicate checks and merges (a mixin of ContactsService)."""

    # the match-key index: the hooks of the one write path (customers.py)

    def _index_match_keys(self, tx, subject_type: str, record: dict) -> None:
        """Make the record's keys exactly those of its current values (idempotent)."""
        self._write_match_keys(tx, subject_type, record, fresh=record.get("version") == 1)

    def _index_new_match_keys(self, tx, subject_type: str, records: list[dict]) -> None:
        """The keys of records just created: they have none yet, so they are only inserted, in
        one bulk write (an import writes hundreds of thousands)."""
        code = phone_country_code()
        tx[MATCH_KEYS].insert_many(
            [doc for record in records for doc in _key_documents(subject_type, record, code).values()]
        )

    def _write_match_keys(self, tx, subject_type: str, record: dict, fresh: bool) -> None:
        """`fresh`: the record was just created, so it has no keys yet (see `_index_new_match_keys`)."""
        if fresh:
            self._index_new_match_keys(tx, subject_type, [record])
            return
        wanted = _key_documents(subject_type, record, phone_country_code())
        keys_of = tx[MATCH_KEYS]
        for known in list(keys_of.iterate({"subject_id": record["id"], "subject_type": subject_type})):
            if wanted.pop(known["id"], None) is None:
                keys_of.delete(known["id"])
        for doc in wanted.values():
            keys_of.put(doc)

    def _drop_match_keys(self, tx, subject_type: str, record_id: str) -> None:
        keys_of = tx[MATCH_KEYS]
        for known in list(keys_of.iterate({"subject_id": record_id, "subject_type": subject_type})):
            keys_of.delete(known["id"])

    def _scored(
        self, source, subject_type: str, probe: matching.Profile, kinds: tuple[str, ...] = KIND_ORDER
    ) -> list[tuple[dict, matching.Match]]:
        """Records sharing a key of `kinds` with `probe` (itself left out), with how well they match."""
        by_kind: dict[str, list[str]] = {}
        for kind, value in matching.match_keys(probe):
            by_kind.setdefault(kind, []).append(value)
        ids: list[str] = []
        for kind in kinds:
            # One lookup per value: an equality on the whole index reads a large block in id order
            # and stops at the bound, where an `$in` would sort the whole block first.
            for value in by_kind.get(kind, ()):
                if len(ids) >= MAX_SCORED:
                    break
                rows = (
                    source[MATCH_KEYS]
                    .find({"subject_type": subject_type, "kind": kind, "value": value}, None, KEY_ROWS_PER_VALUE)
                    .items
                )
                ids += [r["subject_id"] for r in rows if r["subject_id"] != probe.id and r["subject_id"] not in ids]
        ids = ids[:MAX_SCORED]
        if not ids:
            return []
        records = source[SUBJECTS[subject_type]].find({"id": {"$in": ids}}, None, len(ids)).items
        code = phone_country_code()
        scored = []
        for record in records:
            match = matching.compare(probe, record_profile(subject_type, record, code))
            if match is not None:
                scored.append((record, match))
        return scored

    def _duplicates_of(
        self, tx, subject_type: str, fields: dict, limit: int = 10, *, strong_only: bool = False
    ) -> list[dict]:
        """Candidates for `fields` (a new or existing record; its own `id` is left out), best first:
        `{id, score, reasons, strong, record}`. The caller sees the records in their reach; a strong
        match out of their reach is reported without its id and record (`{"id": null, "record":
        null, ...}`): it still blocks a create, and tells no more than "this customer exists".
        `strong_only`: only likely duplicates, found through the strong keys alone (a create, an
        import row: several times cheaper than the full check)."""
        probe = record_profile(subject_type, fields, phone_country_code())
        reach = reach_of(self.caller)
        kinds = STRONG_KINDS[subject_type] if strong_only else KIND_ORDER
        scored = {
            record["id"]: (record, match)
            for record, match in self._scored(tx, subject_type, probe, kinds)
            if match.strong or not strong_only
        }
        out: list[dict] = []
        for record_id, match in matching.rank((i, m) for i, (_, m) in scored.items()):
            record = scored[record_id][0]
            if domain.customer_in_reach(reach, record, self._linked_teams(tx, reach, subject_type, record_id)):
                out.append(_candidate(record_id, match, record))
            elif match.strong:
                out.append(_candidate(None, match, None))
            if len(out) >= limit:
                break
        return out

    def _refuse_duplicates(self, tx, subject_type: str, record: dict) -> None:
        """Conflict (409) with the likely duplicates of a record about to be created."""
        strong = self._duplicates_of(tx, subject_type, record, strong_only=True)
        if strong:
            raise Conflict(
                f"likely duplicate of {len(strong)} existing {subject_type} record(s); "
                "create it anyway with allow_duplicate, or merge",
                strong,
            )

    # the check before entry

    def _match_fields(self, subject_type: str, data) -> dict:
        """The matching fields of `data`, checked loosely: any field of the record is accepted (and
        only the matching ones read), unknown fields and wrong types are refused."""
        if subject_type not in SUBJECTS:
            raise ValidationFailed(
                "unknown subject type", [{"field": "subject_type", "message": "must be contact or company"}]
            )
        if not isinstance(data, dict):
            raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
        wanted = MATCH_FIELDS[subject_type]
        errors = []
        for name, value in data.items():
            if name not in FIELDS[subject_type]:
                errors.append({"field": name, "message": "is not a known field"})
            elif name in wanted and value is not None:
                if wanted[name] is str and not (isinstance(value, str) and len(value) <= 500):
                    errors.append({"field": name, "message": "must be a string of at most 500 characters"})
                elif wanted[name] is list and not (
                    isinstance(value, list) and len(value) <= 50 and all(isinstance(v, str) for v in value)
                ):
                    errors.append({"field": name, "message": "must be a list of at most 50 strings"})
        if errors:
            raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)
        fields = {name: value for name, value in data.items() if name in wanted and not _empty(value)}
        if not fields:
            raise ValidationFailed(
                "nothing to match on", [{"field": "", "message": f"give at least one of {', '.join(wanted)}"}]
            )
        return fields

    @rpc
    def find_duplicates(self, subject_type: str, data: dict) -> dict:
        """The existing records a new one would duplicate: `{"data": [candidate]}`, best first."""
        require_role(self.caller, CUSTOMER_WRITERS, f"check {subject_type} records for duplicates")
        fields = self._match_fields(subject_type, data)
        return {"data": self._duplicates_of(self.store, subject_type, fields)}

    # merge

    def _merge_ids(self, subject_type: str, survivor_id, duplicate_ids) -> list[str]:
        if subject_type not in SUBJECTS:
            raise ValidationFailed(
                "unknown subject type", [{"field": "subject_type", "message": "must be contact or company"}]
            )
        problem = None
        if not isinstance(duplicate_ids, list) or not all(isinstance(i, str) and i for i in duplicate_ids):
            problem = "must be a list of ids"
        elif not 1 <= len(duplicate_ids) <= MAX_DUPLICATES_PER_MERGE:
            problem = f"must hold 1 to {MAX_DUPLICATES_PER_MERGE} ids"
        elif len(set(duplicate_ids)) != len(duplicate_ids):
            problem = "must not repeat an id"
        elif survivor_id in duplicate_ids:
            problem = "must not hold the survivor itself"
        if problem:
            raise ValidationFailed(f"duplicate_ids {problem}", [{"field": "duplicate_ids", "message": problem}])
        return list(duplicate_ids)

    @rpc
    def merge_records(
        self, subject_type: str, survivor_id: str, duplicate_ids: list, expected_version: int | None = None
    ) -> dict:
        """Merge the duplicates into the survivor, in one transaction: the survivor keeps its values
        and fills its gaps (see `merged_record`), takes over every branch of the duplicates, and the
        duplicates are deleted (their history stays, with "Merged into <survivor>"). Publishes
        `<type>_deleted` per duplicate (with `merged_into`), `<type>_updated` and `<type>_merged`
        for the survivor, so the other services re-point their references."""
        require_role(self.caller, CUSTOMER_WRITERS, f"merge {subject_type} records")
        ids = self._merge_ids(subject_type, survivor_id, duplicate_ids)
        with self.store.transaction() as tx:
            survivor = self._changeable(tx, subject_type, survivor_id, {}, expected_version)
            duplicates = [self._changeable(tx, subject_type, d, {}, None) for d in ids]
            now = utc_now()
            merged = merged_record(subject_type, survivor, duplicates, phone_country_code(), now)
            for duplicate in duplicates:
                self._move_branches(tx, subject_type, duplicate, merged)
            key = f"{subject_type}_id"
            merged["open_deal_count"] = tx[DEAL_LINKS].count({key: survivor_id, "open": True})
            changed = [k for k in merged if k != "updated_at" and merged.get(k) != survivor.get(k)]
            for duplicate in duplicates:
                tx[MERGES].put(
                    {
                        "id": f"{subject_type}:{duplicate['id']}",
                        "merged_into": survivor_id,
                        "merged_at": now,
                        "merged_by": self.caller.user_id,
                    }
                )
                self._remove(
                    tx, subject_type, duplicate, f"Merged into {survivor_id}", extra={"merged_into": survivor_id}
                )
            names = ", ".join(_name(subject_type, d) for d in duplicates)
            return self._store_change(
                tx,
                subject_type,
                survivor,
                merged,
                changed,
                f"Merged {names[:300]} into this {subject_type}",
                event_type=events.customer_event(subject_type, events.MERGED),
                extra={
                    "merged_ids": ids,
                    # The versions the duplicates' `<type>_deleted` events carry, for tombstones.
                    "merged": [{"id": d["id"], "version": d["version"] + 1} for d in duplicates],
                },
            )

    def _surviving_id(self, source, subject_type: str, subject_id: str) -> str:
        """The record a merged company or contact lives on in (itself when never merged): for facts
        about it that arrive after its merge (a deal opened on it a moment before)."""
        return surviving_id(source[MERGES], subject_type, subject_id)

    def _move_branches(self, tx, subject_type: str, duplicate: dict, survivor: dict) -> None:
        """Everything of the duplicate inside this service now belongs to the survivor."""
        old, new = duplicate["id"], survivor["id"]
        key = f"{subject_type}_id"
        for interaction in list(tx[INTERACTIONS].iterate({key: old})):
            moved = {key: new}
            if subject_type == "contact" or not interaction.get("contact_id"):
                # Seen by who sees its customer (see customers._interactions_follow_owner).
                moved.update(owner_id=survivor.get("owner_id"), shared_with=survivor.get("shared_with") or [])
            self._move_interaction(tx, interaction, moved)
        for entry in list(tx[TIMELINE].iterate({"subject_id": old})):
            copy_id = _copied_entry_id(subject_type, entry, old, new)
            if tx[TIMELINE].get(copy_id) is None:
                tx[TIMELINE].put({**entry, "id": copy_id, "subject_id": new})
        prefix = f"{subject_type}:{old}:"
        for link in list(tx[SERVICE_LINKS].iterate({"id": {"$gte": prefix, "$lt": prefix + "\uffff"}})):
            link_id = domain.link_id(subject_type, new, link["team_id"])
            if tx[SERVICE_LINKS].get(link_id) is None:
                tx[SERVICE_LINKS].put({**link, "id": link_id, "subject_id": new})
        for deal_link in list(tx[DEAL_LINKS].iterate({key: old})):
            tx[DEAL_LINKS].put({**deal_link, key: new})
        if subject_type == "company":
            for contact in list(tx[SUBJECTS["contact"]].iterate({"company_id": old})):
                updated = {**contact, "company_id": new, "updated_at": utc_now()}
                summary = f"Company {_name('company', duplicate)} merged into {_name('company', survivor)}"
                self._store_change(tx, "contact", contact, updated, ["company_id"], summary)

    # operations

    @rpc
    def reindex_match_keys(self, subject_type: str, cursor: str | None = None, limit: int = 500) -> dict:
        """Rebuild the match keys of one page of records (admin): after an upgrade from a release
        without duplicate checks, or after changing DEFAULT_PHONE_COUNTRY_CODE. Call again with
        `next_cursor` until it is null."""
        require_role(self.caller, (ADMIN,), "rebuild duplicate keys")
        if subject_type not in SUBJECTS:
            raise ValidationFailed(
                "unknown subject type", [{"field": "subject_type", "message": "must be contact or company"}]
            )
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationFailed("limit must be 1 to 1000", [{"field": "limit", "message": "must be 1 to 1000"}])
        with self.store.transaction() as tx:
            page = tx[SUBJECTS[subject_type]].find(None, [("id", 1)], limit, cursor or None)
            for record in page.items:
                self._write_match_keys(tx, subject_type, record, fresh=False)
        return {"indexed": len(page.items), "next_cursor": page.next_cursor}


def _name(subject_type: str, record: dict) -> str:
    name = record.get("display_name") if subject_type == "contact" else record.get("name")
    return f"{name} ({record['id']})" if name else record["id"]


def _copied_entry_id(subject_type: str, entry: dict, old: str, new: str) -> str:
    """The id of a duplicate's timeline entry on the survivor. Entries about other records (deals,
    tickets, interactions...) are keyed by their event or record, so they take the id the survivor
    would have given them: a later change of that interaction replaces its entry instead of adding
    a second one. The duplicate's own entries ("v1", "v2"...) would collide with the survivor's and
    keep the duplicate's id inside theirs."""
    if entry.get("kind") != subject_type and entry["id"].startswith(old + ":"):
        return new + entry["id"][len(old) :]
    return f"{new}:{entry['id']}"
