"""CSV import and export jobs: upload and mapping checks, the background runner that imports rows as
their uploader (dedupe, per-row errors, resumable chunks) and renders exports, and their progress."""

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nameko.rpc import rpc
from nameko.timer import timer

from crm_common.access import ADMIN, CUSTOMER_WRITERS, SYSTEM, and_filters, reach_of, require_role
from crm_common.caller import Caller
from crm_common.config import float_setting, int_setting
from crm_common.errors import (
    BadRequest,
    Conflict,
    CrmError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    ValidationFailed,
)
from crm_common.ids import new_id, utc_now
from crm_common.listing import api_filter_to_store, parse_limit, parse_list_query, parse_sort
from crm_common.schema import Field, validate

from . import csv_io, domain, matching, schemas
from .customers import FIELDS, SUBJECTS
from .merging import phone_country_code, record_profile
from .store import COMPANIES, EXPORT_CHUNKS, EXPORTS, IMPORT_CHUNKS, IMPORT_ERRORS, IMPORTS, MATCH_KEYS

log = logging.getLogger(__name__)

ENTITIES = ("contact", "company")
DEDUPE_MODES = ("skip", "update", "create")
FILTERABLE = {"contact": schemas.CONTACT_FILTERABLE, "company": schemas.COMPANY_FILTERABLE}
SORTABLE = {"contact": schemas.CONTACT_SORTABLE, "company": schemas.COMPANY_SORTABLE}
# Columns an import resolves itself: a contact's company by its exact name.
EXTRA_TARGETS = {"contact": {"company_name": Field("text", max_length=200)}, "company": {}}
# What a new record needs one column for (contacts: a name or an email; companies: a name).
NEEDS_ONE_OF = {"contact": ("first_name", "last_name", "email"), "company": ("name",)}
# Server-kept fields an export may carry besides the writable ones.
READABLE = {
    "contact": (
        "display_name",
        "value_grade",
        "churn_risk",
        "lead_score",
        "last_activity_at",
        "open_deal_count",
        "created_by",
        "created_at",
        "updated_at",
    ),
    "company": (
        "value_grade",
        "churn_risk",
        "last_activity_at",
        "open_deal_count",
        "created_by",
        "created_at",
        "updated_at",
    ),
}
IMPORT_OPTIONS = {
    "entity": Field("choice", choices=ENTITIES, nullable=False),
    "dedupe": Field("choice", choices=DEDUPE_MODES, nullable=False),
    "dry_run": Field("bool", nullable=False),
    "delimiter": Field("choice", choices=csv_io.DELIMITERS),
    "file_name": Field("text", max_length=255),
}
EXPORT_OPTIONS = {
    "entity": Field("choice", choices=ENTITIES, nullable=False),
    "segment_id": Field("id", max_length=64),
    "sort": Field("text", max_length=200),
}
JOB_FILTERABLE = ("status", "entity", "created_by", "created_at")
TERMINAL = ("completed", "failed", "cancelled", "expired")
# A row's problem that is the row's own (bad value, a record it may not touch): recorded against
# the row. Anything else (a bug, the store failing) is not the row's fault.
ROW_ERRORS = (ValidationFailed, Forbidden, NotFound, Conflict, PreconditionFailed, BadRequest)
INSTANCE = new_id()  # this process, as the holder of job leases
# The keys through which a strong duplicate (merging.py, matching.STRONG_REASONS) can be found: the
# same email, phone or tax id, a contact's name at the same company, a company's exact name.
STRONG_KEY_KINDS = {"contact": ("email", "phone", "name_at_company"), "company": ("email", "phone", "tax_id", "name")}
KEY_BATCH = 500  # values per `$in` query
MAX_RECORDS_PER_KEY = 100  # a phone shared by thousands of records stays a bounded read

POLL_SECONDS = float_setting("TRANSFER_POLL_SECONDS", 1.0)


def chunk_rows() -> int:
    return max(1, int_setting("IMPORT_CHUNK_ROWS", 200))


def export_chunk_rows() -> int:
    return max(1, int_setting("EXPORT_CHUNK_ROWS", 1000))


def lease_seconds() -> float:
    return float_setting("TRANSFER_LEASE_SECONDS", 60.0)


def tick_seconds() -> float:
    return float_setting("TRANSFER_TICK_SECONDS", 5.0)


def chunk_id(job_id: str, seq: int) -> str:
    return f"{job_id}:{seq:06d}"


def caller_document(caller: Caller) -> dict:
    return {
        "user_id": caller.user_id,
        "roles": list(caller.roles),
        "team_ids": list(caller.team_ids),
        "request_id": caller.request_id,
        "managed_team_ids": list(caller.managed_team_ids),
        "managed_user_ids": list(caller.managed_user_ids),
        "teammate_ids": list(caller.teammate_ids),
    }


def caller_of(job: dict) -> Caller:
    """The job's creator as they were when they created it: the rows are written with their rights."""
    doc = job["caller"]
    return Caller(
        doc["user_id"],
        tuple(doc.get("roles", ())),
        tuple(doc.get("team_ids", ())),
        doc.get("request_id"),
        tuple(doc.get("managed_team_ids", ())),
        tuple(doc.get("managed_user_ids", ())),
        tuple(doc.get("teammate_ids", ())),
    )


def timestamp(epoch: float) -> str:
    """An epoch time as the store keeps timestamps (ISO 8601, UTC, microseconds, Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1e6) % 1_000_000:06d}Z"


def _percent(done: int, total: int | None) -> float | None:
    if not total:
        return None
    return round(100.0 * done / total, 1)


PRIVATE = (
    "caller",
    "lease",
    "columns",
    "header_width",
    "delimiter",
    "next_chunk",
    "chunk_offset",
    "next_row",
    "cursor",
    "parts",
)


def public_import(job: dict) -> dict:
    view = {k: v for k, v in job.items() if k not in PRIVATE and k != "chunks"}
    view["mapping"] = {c["header"]: c["target"] for c in job.get("columns", [])}
    view["percent"] = 100.0 if job["status"] == "completed" else _percent(job["processed_rows"], job["total_rows"])
    return view


def public_export(job: dict) -> dict:
    view = {k: v for k, v in job.items() if k not in PRIVATE}
    view["percent"] = 100.0 if job["status"] == "completed" else _percent(job["exported_rows"], job["total_rows"])
    return view


def row_errors(exc: CrmError, columns: Iterable[csv_io.Column]) -> list[dict]:
    """A refused row's errors, each naming the CSV column that fed the field when there is one."""
    by_target = {c.target: c.header for c in columns}
    if isinstance(exc, ValidationFailed) and exc.errors:
        errors = []
        for error in exc.errors:
            name = str(error.get("field") or "")
            column = by_target.get(name) or by_target.get(name.split("[", 1)[0])
            if column is None and name == "addresses":
                column = next((h for t, h in by_target.items() if t.startswith(csv_io.ADDRESS)), None)
            errors.append({**error, **({"column": column} if column else {})})
        return errors
    return [{"field": "", "message": exc.detail or type(exc).__name__}]


class ChunkDuplicates:
    """The strong duplicates of a chunk's rows, by merging.py's rules, looked up with one indexed
    query per kind of key for the whole chunk (not one per row), plus the records the chunk itself
    writes as it goes, so a row repeating an earlier row of the file is a duplicate too."""

    def __init__(self, entity: str, country_code: str):
        self.entity = entity
        self.country_code = country_code
        self.kinds = STRONG_KEY_KINDS[entity]
        self.ids_by_key: dict[tuple[str, str], list[str]] = {}
        self.records: dict[str, dict] = {}
        self.profiles: dict[str, matching.Profile] = {}

    def profile(self, fields: dict) -> matching.Profile:
        # merging's, remembered: the record created from the row is indexed under the same profile.
        return record_profile(self.entity, fields, self.country_code)

    def _keys(self, profile: matching.Profile) -> list[tuple[str, str]]:
        return [key for key in matching.match_keys(profile) if key[0] in self.kinds]

    def prefetch(self, source, profiles: Iterable[matching.Profile]) -> None:
        wanted: dict[str, set[str]] = {}
        for profile in profiles:
            for kind, value in self._keys(profile):
                if (kind, value) not in self.ids_by_key:
                    wanted.setdefault(kind, set()).add(value)
        found: set[str] = set()
        for kind, values in wanted.items():
            ordered = sorted(values)
            for value in ordered:
                self.ids_by_key[(kind, value)] = []
            for start in range(0, len(ordered), KEY_BATCH):
                flt = {"subject_type": self.entity, "kind": kind, "value": {"$in": ordered[start : start + KEY_BATCH]}}
                for key in source[MATCH_KEYS].iterate(flt, batch=1000):
                    ids = self.ids_by_key[(kind, key["value"])]
                    if len(ids) < MAX_RECORDS_PER_KEY:
                        ids.append(key["subject_id"])
                        found.add(key["subject_id"])
        missing = sorted(found - self.records.keys())
        for start in range(0, len(missing), KEY_BATCH):
            batch = missing[start : start + KEY_BATCH]
            for record in source[SUBJECTS[self.entity]].find({"id": {"$in": batch}}, None, len(batch)).items:
                self.records[record["id"]] = record

    def remember(self, record: dict, profile: matching.Profile | None = None) -> None:
        """A record this chunk wrote (or, in a dry run, would have): later rows may duplicate it.
        `profile`: the row's, when the record holds just the row's fields (a create)."""
        profile = dataclasses.replace(profile, id=record["id"]) if profile else self.profile(record)
        self.records[record["id"]] = record
        self.profiles[record["id"]] = profile
        for key in self._keys(profile):
            ids = self.ids_by_key.setdefault(key, [])
            if record["id"] not in ids:
                ids.append(record["id"])

    def strong(self, profile: matching.Profile) -> list[dict]:
        """The records `profile` strongly matches, best first (prefetch its chunk first)."""
        ids = dict.fromkeys(i for key in self._keys(profile) for i in self.ids_by_key.get(key, ()))
        matches = []
        for record_id in ids:
            record = self.records.get(record_id)
            if record is None:
                continue  # deleted since its key was read
            if record_id not in self.profiles:
                self.profiles[record_id] = self.profile(record)
            match = matching.compare(profile, self.profiles[record_id])
            if match is not None and match.strong:
                matches.append((record_id, match))
        return [self.records[record_id] for record_id, _ in matching.rank(matches)]


@dataclass
class RowContext:
    """What every row of one chunk shares: the layout, the definitions and the companies seen."""

    entity: str
    columns: list[csv_io.Column]
    targets: dict[str, Field]
    definitions: dict[str, dict]
    width: int
    dedupe: str
    dry_run: bool
    duplicates: ChunkDuplicates
    companies: dict[str, str | None] = field(default_factory=dict)
    # New records checked and not yet written: the chunk writes them together (`_write_new_rows`).
    new_records: list[dict] = field(default_factory=list)


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[dict] = field(default_factory=list)

    def add(self, outcome: str, number: int, errors: list[dict]) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if errors:
            self.errors.append({"row": number, "errors": errors})


class _Abandon(Exception):
    """The job is no longer this runner's (cancelled, or its lease taken over): stop quietly."""


class TransfersRpc:
    """RPC entrypoints for CSV imports and exports and the timer that runs them (a mixin of
    ContactsService). A job is seen by its creator and by admins; its rows are read and written
    with the creator's rights."""

    # jobs as their creator sees them

    def _transfer_job(self, source, collection: str, job_id: str) -> dict:
        job = source[collection].get(job_id)
        if job is None or not (job["created_by"] == self.caller.user_id or set(self.caller.roles) & {ADMIN, SYSTEM}):
            raise NotFound(f"{collection[:-1]} {job_id} not found")
        return job

    def _transfer_jobs(self, collection: str, query: dict) -> tuple[list[dict], str | None]:
        q = parse_list_query(query or {}, filterable=JOB_FILTERABLE, sortable=("created_at",))
        mine = None if set(self.caller.roles) & {ADMIN, SYSTEM} else {"created_by": self.caller.user_id}
        page = self.store[collection].find(and_filters(mine, q.filter), q.sort, q.limit, q.cursor)
        return page.items, page.next_cursor

    # imports: upload

    def _import_layout(self, entity: str, header: list[str], mapping: Any, dedupe: str) -> tuple[list, list]:
        targets = csv_io.import_targets(FIELDS[entity], EXTRA_TARGETS[entity])
        definitions = self._active_definitions(self.store, entity)
        columns, ignored = csv_io.resolve_columns(header, mapping, targets, definitions, schemas.SERVER_OWNED)
        fed = {c.target for c in columns}
        errors = []
        # An update-only file may match on a phone alone; its rows without a match then fail one by one.
        if dedupe != "update" and not fed & set(NEEDS_ONE_OF[entity]):
            names = " or ".join(NEEDS_ONE_OF[entity])
            errors.append({"field": "mapping", "message": f"a new {entity} needs a column for {names}"})
        if dedupe != "update":
            for key, definition in definitions.items():
                if definition.get("required") and csv_io.CUSTOM + key not in fed:
                    errors.append(
                        {"field": "mapping", "message": f"the required custom field custom_fields.{key} has no column"}
                    )
        if errors:
            raise ValidationFailed(f"{len(errors)} problem(s) with the columns", errors)
        return columns, ignored

    def _store_import_rows(self, tx, job: dict, rows: list[tuple[int, list[str]]]) -> None:
        size = chunk_rows()
        for start in range(0, len(rows), size):
            seq = job["chunks"]
            tx[IMPORT_CHUNKS].insert(
                {"id": chunk_id(job["id"], seq), "import_id": job["id"], "seq": seq, "rows": rows[start : start + size]}
            )
            job["chunks"] = seq + 1
        job["total_rows"] += len(rows)

    def _import_uploaded(self, job: dict) -> None:
        if not job["total_rows"]:
            raise ValidationFailed("no rows", [{"field": "file", "message": "holds a header but no data rows"}])
        job["status"] = "queued"

    @rpc
    def create_import(self, options: dict, csv_text: str, complete: bool = True) -> dict:
        """Check the options and the header against the mapping, store the rows and queue the job.
        A large file may come in parts: this call with the first part (`complete=False`), then
        `append_import_rows` for the rest, the last with `complete=True`."""
        require_role(self.caller, CUSTOMER_WRITERS, "import customers")
        if not isinstance(options, dict) or not isinstance(csv_text, str):
            raise ValidationFailed("invalid import", [{"field": "", "message": "give options and the CSV text"}])
        opts = {"entity": "contact", "dedupe": "skip", "dry_run": False, "delimiter": None, "file_name": None}
        opts.update(validate({k: v for k, v in options.items() if k != "mapping"}, IMPORT_OPTIONS))
        header, delimiter, rows, count = csv_io.read_header(csv_text, opts["delimiter"])
        columns, ignored = self._import_layout(opts["entity"], header, options.get("mapping"), opts["dedupe"])
        now = utc_now()
        job = {
            "id": new_id(),
            "entity": opts["entity"],
            "dedupe": opts["dedupe"],
            "dry_run": opts["dry_run"],
            "file_name": opts["file_name"],
            "status": "uploading",
            "columns": [{"index": c.index, "header": c.header, "target": c.target} for c in columns],
            "ignored_columns": ignored,
            "header_width": len(header),
            "delimiter": delimiter,
            "parts": 1,
            "next_row": 1 + count,
            "chunks": 0,
            "next_chunk": 0,
            "chunk_offset": 0,
            "total_rows": 0,
            "processed_rows": 0,
            "created": 0,
            "updated": 0,
            "skipped": 0,
            "failed": 0,
            "error": None,
            "created_by": self.caller.user_id,
            "caller": caller_document(self.caller),
            "lease": None,
            "created_at": now,
            "worked_at": now,
            "started_at": None,
            "finished_at": None,
        }
        with self.store.transaction() as tx:
            self._store_import_rows(tx, job, rows)
            if complete:
                self._import_uploaded(job)
            stored = tx[IMPORTS].insert(job)
        return public_import(stored)

    @rpc
    def append_import_rows(self, import_id: str, part: int, csv_text: str, complete: bool = False) -> dict:
        """Part `part` (1, 2, ...) of an upload begun by `create_import`; a part already taken is
        answered again unchanged, so a retried call is harmless."""
        require_role(self.caller, CUSTOMER_WRITERS, "import customers")
        if not isinstance(csv_text, str) or not isinstance(part, int) or part < 1:
            raise ValidationFailed("invalid part", [{"field": "part", "message": "must be 1 or more, with CSV text"}])
        job = self._transfer_job(self.store, IMPORTS, import_id)
        if job["created_by"] != self.caller.user_id:
            raise NotFound(f"import {import_id} not found")
        if part < job["parts"]:
            return public_import(job)
        if job["status"] != "uploading" or part != job["parts"]:
            raise Conflict(f"import {import_id} expects part {job['parts']} while it is {job['status']}")
        try:
            rows, count = csv_io.parse_rows(csv_text, job["delimiter"], job["next_row"])
        except ValidationFailed as exc:
            self._fail_upload(import_id, exc.errors[0]["message"])
            raise
        with self.store.transaction() as tx:
            current = tx[IMPORTS].get(import_id)
            if current["version"] != job["version"]:
                raise Conflict(f"import {import_id} changed meanwhile; send part {current['parts']}")
            self._store_import_rows(tx, job, rows)
            job.update(parts=part + 1, next_row=job["next_row"] + count, worked_at=utc_now())
            if complete:
                self._import_uploaded(job)
            stored = tx[IMPORTS].replace(job, job["version"])
        return public_import(stored)

    def _fail_upload(self, import_id: str, reason: str) -> None:
        with self.store.transaction() as tx:
            job = tx[IMPORTS].get(import_id)
            if job is not None and job["status"] == "uploading":
                self._finish_job(tx, IMPORTS, job, "failed", reason)

    def _finish_job(self, tx, collection: str, job: dict, status: str, error: str | None = None, **extra: Any) -> dict:
        """A job's last state; an import's waiting rows go (they are personal data, kept no longer
        than needed), an export's CSV stays until it expires."""
        now = utc_now()
        done = {**job, **extra, "status": status, "error": error, "lease": None, "finished_at": now, "worked_at": now}
        if collection == IMPORTS:
            for chunk in list(tx[IMPORT_CHUNKS].iterate({"import_id": job["id"]})):
                tx[IMPORT_CHUNKS].delete(chunk["id"])
        return tx[collection].replace(done, job["version"])

    # imports: reading and cancelling

    @rpc
    def get_import(self, import_id: str) -> dict:
        return public_import(self._transfer_job(self.store, IMPORTS, import_id))

    @rpc
    def list_imports(self, query: dict) -> dict:
        items, cursor = self._transfer_jobs(IMPORTS, query)
        return {"data": [public_import(j) for j in items], "next_cursor": cursor}

    @rpc
    def list_import_errors(self, import_id: str, query: dict) -> dict:
        """The rows the import refused, in file order: `{row, errors: [{field, message, column?}]}`."""
        self._transfer_job(self.store, IMPORTS, import_id)
        query = query or {}
        page = self.store[IMPORT_ERRORS].find(
            {"import_id": import_id}, [("row", 1)], parse_limit(query.get("limit")), query.get("cursor") or None
        )
        return {"data": [{"row": e["row"], "errors": e["errors"]} for e in page.items], "next_cursor": page.next_cursor}

    @rpc
    def cancel_import(self, import_id: str) -> dict:
        """Stop an import: rows already imported stay; the rest are dropped."""
        return public_import(self._cancel_job(IMPORTS, import_id))

    def _cancel_job(self, collection: str, job_id: str) -> dict:
        for _ in range(5):
            job = self._transfer_job(self.store, collection, job_id)
            if job["status"] in TERMINAL:
                raise Conflict(f"{collection[:-1]} {job_id} is already {job['status']}")
            try:
                with self.store.transaction() as tx:
                    return self._finish_job(tx, collection, job, "cancelled")
            except PreconditionFailed:
                continue  # the runner moved it on meanwhile: look again
        raise Conflict(f"{collection[:-1]} {job_id} is busy; try again")

    # exports

    @rpc
    def create_export(self, options: dict) -> dict:
        """Queue a CSV export of the caller's filtered list (`filter`, the list grammar) or of a
        segment (`segment_id`), with the columns in `fields` (default: every field) and `sort`."""
        if not isinstance(options, dict):
            raise ValidationFailed("invalid export", [{"field": "", "message": "must be an object"}])
        opts = validate({k: v for k, v in options.items() if k not in ("filter", "fields")}, EXPORT_OPTIONS)
        entity = opts.get("entity")
        api_filter = options.get("filter")
        segment_id = opts.get("segment_id")
        if segment_id:
            if api_filter is not None:
                raise ValidationFailed(
                    "filter or segment", [{"field": "filter", "message": "give a filter or a segment_id, not both"}]
                )
            try:
                segment = self._segment(self.store, segment_id)
            except NotFound:
                raise ValidationFailed(
                    "no such segment", [{"field": "segment_id", "message": "no such segment"}]
                ) from None
            if entity and entity != segment["entity"]:
                raise ValidationFailed(
                    "entity mismatch",
                    [{"field": "entity", "message": f"the segment lists {segment['entity']} records"}],
                )
            entity, api_filter = segment["entity"], segment["filter"]
        entity = entity or "contact"
        if api_filter is not None:
            try:
                api_filter_to_store(api_filter, FILTERABLE[entity])
            except BadRequest as exc:
                raise ValidationFailed("invalid filter", [{"field": "filter", "message": exc.detail}]) from None
        try:
            sort = parse_sort(opts.get("sort"), SORTABLE[entity], "-created_at")
        except BadRequest as exc:
            raise ValidationFailed("invalid sort", [{"field": "sort", "message": exc.detail}]) from None
        targets = csv_io.import_targets(FIELDS[entity])
        definitions = self._active_definitions(self.store, entity)
        columns = csv_io.export_columns(targets, READABLE[entity], sorted(definitions), options.get("fields"))
        now = utc_now()
        job = {
            "id": new_id(),
            "entity": entity,
            "filter": api_filter,
            "segment_id": segment_id,
            "fields": columns,
            "sort": ",".join(("-" if d < 0 else "") + f for f, d in sort),
            "status": "queued",
            "total_rows": self.store[SUBJECTS[entity]].count(self._export_filter(entity, api_filter, self.caller)),
            "exported_rows": 0,
            "chunks": 0,
            "cursor": None,
            "error": None,
            "created_by": self.caller.user_id,
            "caller": caller_document(self.caller),
            "lease": None,
            "created_at": now,
            "worked_at": now,
            "started_at": None,
            "finished_at": None,
            "expires_at": None,
        }
        with self.store.transaction() as tx:
            stored = tx[EXPORTS].insert(job)
        return public_export(stored)

    def _export_filter(self, entity: str, api_filter: dict | None, caller: Caller) -> dict | None:
        stored = api_filter_to_store(api_filter, FILTERABLE[entity]) if api_filter is not None else None
        return and_filters(self._reach_filter(reach_of(caller), entity), stored)

    @rpc
    def get_export(self, export_id: str) -> dict:
        return public_export(self._transfer_job(self.store, EXPORTS, export_id))

    @rpc
    def list_exports(self, query: dict) -> dict:
        items, cursor = self._transfer_jobs(EXPORTS, query)
        return {"data": [public_export(j) for j in items], "next_cursor": cursor}

    @rpc
    def cancel_export(self, export_id: str) -> dict:
        return public_export(self._cancel_job(EXPORTS, export_id))

    @rpc
    def read_export_chunk(self, export_id: str, n: int) -> dict:
        """Chunk `n` (0, 1, ...) of a completed export's CSV (the first holds the header), and the
        number of the next one, null after the last."""
        job = self._transfer_job(self.store, EXPORTS, export_id)
        if job["status"] != "completed":
            raise Conflict(f"export {export_id} is {job['status']}, not completed")
        if not isinstance(n, int) or not 0 <= n < job["chunks"]:
            raise NotFound(f"export {export_id} has no chunk {n}")
        chunk = self.store[EXPORT_CHUNKS].get(chunk_id(export_id, n))
        if chunk is None:
            raise NotFound(f"export {export_id} has no chunk {n}")
        return {"csv": chunk["csv"], "next": n + 1 if n + 1 < job["chunks"] else None}

    # the runner

    @timer(interval=POLL_SECONDS)
    def run_transfers(self) -> None:
        try:
            self.run_transfers_once()
        except ServiceUnavailable:
            log.warning("the store is unavailable; transfer jobs wait", exc_info=True)

    def run_transfers_once(self, budget: float | None = None, instance: str = INSTANCE) -> bool:
        """Claim the runnable job worked on least recently and advance it for about `budget`
        seconds (TRANSFER_TICK_SECONDS). True when there was a job to work on."""
        self._tidy_transfers()
        claimed = self._claim_transfer_job(instance)
        if claimed is None:
            return False
        collection, job = claimed
        step = self._import_step if collection == IMPORTS else self._export_step
        deadline = time.monotonic() + (tick_seconds() if budget is None else budget)
        caller = self.caller
        try:
            while step(job["id"], instance):
                if time.monotonic() >= deadline:
                    break
                time.sleep(0)  # let the service's other green threads (RPCs, the outbox relay) run
        finally:
            self.caller = caller  # the steps act as each job's creator
        return True

    def _claim_transfer_job(self, instance: str) -> tuple[str, dict] | None:
        now = time.time()
        candidates = []
        for collection in (IMPORTS, EXPORTS):
            for status in ("queued", "running"):
                found = self.store[collection].find({"status": status}, [("worked_at", 1)], 20).items
                candidates += [(job["worked_at"], collection, job) for job in found]
        for _, collection, job in sorted(candidates, key=lambda c: c[0]):
            lease = job.get("lease")
            if job["status"] == "running" and lease and lease["owner"] != instance and lease["until"] > now:
                continue  # another instance holds it
            claimed = {
                **job,
                "status": "running",
                "lease": {"owner": instance, "until": now + lease_seconds()},
                "started_at": job["started_at"] or utc_now(),
                "worked_at": utc_now(),
            }
            try:
                return collection, self.store[collection].replace(claimed, job["version"])
            except (PreconditionFailed, NotFound):
                continue  # someone else moved it first
        return None

    def _held_job(self, tx, collection: str, job_id: str, instance: str) -> dict:
        job = tx[collection].get(job_id)
        if job is None or job["status"] != "running" or (job.get("lease") or {}).get("owner") != instance:
            raise _Abandon()
        return job

    def _renewed_job(self, job: dict, instance: str, **changes: Any) -> dict:
        return {
            **job,
            **changes,
            "lease": {"owner": instance, "until": time.time() + lease_seconds()},
            "worked_at": utc_now(),
        }

    def _import_step(self, job_id: str, instance: str) -> bool:
        """Import the rest of the next chunk in one transaction: its rows, their events and the
        progress commit together, so a crash repeats no row and loses none. False when done."""
        job = self.store[IMPORTS].get(job_id)
        if job is None:
            return False
        self.caller = caller_of(job)
        try:
            with self.store.transaction() as tx:
                job = self._held_job(tx, IMPORTS, job_id, instance)
                chunk = tx[IMPORT_CHUNKS].get(chunk_id(job_id, job["next_chunk"]))
                if chunk is None:
                    if job["next_chunk"] < job["chunks"]:
                        self._finish_job(tx, IMPORTS, job, "failed", f"rows of chunk {job['next_chunk']} are missing")
                    else:
                        self._finish_job(tx, IMPORTS, job, "completed")
                    return False
                tally = self._import_rows(tx, self._import_context(tx, job), chunk["rows"][job["chunk_offset"] :])
                self._record_import_rows(tx, job, tally, instance, chunk, None)
            return True
        except _Abandon:
            return False
        except ServiceUnavailable:
            raise
        except Exception:
            log.exception("import %s: a row failed unexpectedly; importing its chunk row by row", job_id)
            return self._import_rows_one_by_one(job_id, instance)

    def _import_rows_one_by_one(self, job_id: str, instance: str) -> bool:
        """The slow path for a chunk where something unexpected failed: one transaction per row,
        so the one row that fails is recorded as failed and the others are imported."""
        try:
            job = self.store[IMPORTS].get(job_id)
            chunk = self.store[IMPORT_CHUNKS].get(chunk_id(job_id, job["next_chunk"]))
            if chunk is None:
                return True
            rows = chunk["rows"]
            for offset in range(job["chunk_offset"], len(rows)):
                number, cells = rows[offset]
                done = offset + 1 if offset + 1 < len(rows) else None
                try:
                    with self.store.transaction() as tx:
                        job = self._held_job(tx, IMPORTS, job_id, instance)
                        tally = self._import_rows(tx, self._import_context(tx, job), [(number, cells)])
                        self._record_import_rows(tx, job, tally, instance, chunk, done)
                except (_Abandon, ServiceUnavailable):
                    raise
                except Exception:
                    log.exception("import %s: row %s failed unexpectedly", job_id, number)
                    with self.store.transaction() as tx:
                        job = self._held_job(tx, IMPORTS, job_id, instance)
                        tally = Tally()
                        message = "could not be imported: an internal error; the request id is in the service's log"
                        tally.add("failed", number, [{"field": "", "message": message}])
                        self._record_import_rows(tx, job, tally, instance, chunk, done)
            return True
        except _Abandon:
            return False

    def _record_import_rows(self, tx, job: dict, tally: Tally, instance: str, chunk: dict, offset: int | None) -> None:
        """Commit a chunk's (or one row's) outcome with the rows: errors, counters, and the position
        (`offset`: the next row of this chunk; None: the chunk is done)."""
        for error in tally.errors:
            tx[IMPORT_ERRORS].put(
                {
                    "id": f"{job['id']}:{error['row']:09d}",
                    "import_id": job["id"],
                    "row": error["row"],
                    "errors": error["errors"],
                }
            )
        processed = tally.created + tally.updated + tally.skipped + tally.failed
        position: dict[str, Any] = {"chunk_offset": offset}
        if offset is None:
            position = {"next_chunk": job["next_chunk"] + 1, "chunk_offset": 0}
            tx[IMPORT_CHUNKS].delete(chunk["id"])
        updated = self._renewed_job(
            job,
            instance,
            processed_rows=job["processed_rows"] + processed,
            created=job["created"] + tally.created,
            updated=job["updated"] + tally.updated,
            skipped=job["skipped"] + tally.skipped,
            failed=job["failed"] + tally.failed,
            **position,
        )
        tx[IMPORTS].replace(updated, job["version"])

    def _import_context(self, tx, job: dict) -> RowContext:
        entity = job["entity"]
        return RowContext(
            entity=entity,
            columns=[csv_io.Column(c["index"], c["header"], c["target"]) for c in job["columns"]],
            targets=csv_io.import_targets(FIELDS[entity], EXTRA_TARGETS[entity]),
            definitions=self._active_definitions(tx, entity),
            width=job["header_width"],
            dedupe=job["dedupe"],
            dry_run=job["dry_run"],
            duplicates=ChunkDuplicates(entity, phone_country_code()),
        )

    def _import_rows(self, tx, context: RowContext, rows: list) -> Tally:
        """Rows of one chunk: converted first, so their duplicates are looked up all at once,
        then each created, applied to its duplicate or skipped."""
        prepared = [(number, *self._prepared_row(tx, context, cells)) for number, cells in rows]
        if context.dedupe != "create":
            context.duplicates.prefetch(tx, [profile for _, _, profile, _ in prepared if profile is not None])
        tally = Tally()
        for number, data, profile, problems in prepared:
            if problems:
                tally.add("failed", number, problems)
            else:
                tally.add(*self._import_row(tx, context, number, data, profile))
        self._write_new_rows(tx, context)
        return tally

    def _write_new_rows(self, tx, context: RowContext) -> None:
        """The new records of the chunk so far, in one bulk write per collection."""
        if context.new_records and not context.dry_run:
            self._write_new(tx, context.entity, context.new_records)
        context.new_records.clear()

    def _prepared_row(self, tx, context: RowContext, cells: list[str]) -> tuple[dict, Any, list[dict]]:
        """A row as fields (its company named resolved), their duplicate profile, its problems."""
        data, problems = csv_io.row_fields(cells, context.columns, context.targets, context.definitions, context.width)
        if problems:
            return data, None, problems
        name = data.pop("company_name", None)
        if name:
            try:
                data["company_id"] = self._company_named(tx, context, name)
            except ValidationFailed as exc:
                return data, None, row_errors(exc, context.columns)
        return data, context.duplicates.profile(data), []

    def _import_row(
        self, tx, context: RowContext, number: int, data: dict, profile: matching.Profile
    ) -> tuple[str, int, list[dict]]:
        """One row: created, applied to its duplicate, or skipped. A dry run makes every check a
        write would make and writes nothing."""
        try:
            if context.dedupe != "create":
                duplicates = context.duplicates.strong(profile)
                if duplicates:
                    if context.dedupe == "skip":
                        return "skipped", number, []
                    context.duplicates.remember(self._apply_to_duplicate(tx, context, duplicates, data))
                    return "updated", number, []
            # `_create` in two halves: the checks now, the write with the chunk's other new rows.
            record = self._new_record(tx, context.entity, {"source_channel": "import", **data}, allow_duplicate=True)
            context.new_records.append(record)
            context.duplicates.remember(record, profile)
            return "created", number, []
        except ROW_ERRORS as exc:
            return "failed", number, row_errors(exc, context.columns)

    def _apply_to_duplicate(self, tx, context: RowContext, duplicates: list[dict], data: dict) -> dict:
        """The row's fields onto its best duplicate the importer may see, as a PATCH would. One
        out of their reach is not theirs to update: the row is refused (the import says no more
        than that such a customer exists, as a refused create does)."""
        reach = reach_of(self.caller)
        best = next(
            (
                r
                for r in duplicates
                if domain.customer_in_reach(reach, r, self._linked_teams(tx, reach, context.entity, r["id"]))
            ),
            None,
        )
        if best is None:
            raise Conflict(f"duplicates a {context.entity} outside your reach; not imported")
        self._write_new_rows(tx, context)  # the duplicate may be one of them
        if context.dry_run:
            return self._check_import_change(tx, context.entity, best["id"], data)
        return self._update(context.entity, best["id"], data, None)

    def _check_import_change(self, tx, entity: str, subject_id: str, data: dict) -> dict:
        """Every check `_update` makes before it writes, and no write (dry runs): the record as it is."""
        probe = validate(data, FIELDS[entity], partial=True, server_owned=schemas.SERVER_OWNED)
        current = self._changeable(tx, entity, subject_id, probe, None)
        changes = self._validated(tx, entity, data, current)
        if entity == "contact":
            self._check_company(tx, changes.get("company_id"), reach_of(self.caller))
        return current

    def _company_named(self, tx, context: RowContext, name: str) -> str:
        if name not in context.companies:
            flt = and_filters(self._reach_filter(reach_of(self.caller), "company"), {"name": name})
            found = tx[COMPANIES].find(flt, limit=2).items
            context.companies[name] = found[0]["id"] if len(found) == 1 else None
            if len(found) > 1:
                context.companies[name] = ""
        company_id = context.companies[name]
        if not company_id:
            problem = "several companies have this name" if company_id == "" else "no company you can see has this name"
            raise ValidationFailed("unknown company", [{"field": "company_name", "message": problem}])
        return company_id

    def _export_step(self, job_id: str, instance: str) -> bool:
        """Render the next page of an export as its creator sees it. False when done; an export
        that fails for an unexpected reason (not the store) fails for good rather than retry forever."""
        try:
            return self._export_page(job_id, instance)
        except (ServiceUnavailable, PreconditionFailed):
            raise
        except Exception:
            log.exception("export %s failed", job_id)
            with contextlib.suppress(_Abandon), self.store.transaction() as tx:
                job = self._held_job(tx, EXPORTS, job_id, instance)
                self._finish_job(tx, EXPORTS, job, "failed", "an internal error; see the service's log")
            return False

    def _export_page(self, job_id: str, instance: str) -> bool:
        job = self.store[EXPORTS].get(job_id)
        if job is None or job["status"] != "running":
            return False
        caller = caller_of(job)
        self.caller = caller
        entity = job["entity"]
        sort = parse_sort(job["sort"], SORTABLE[entity], "-created_at")
        page = self.store[SUBJECTS[entity]].find(
            self._export_filter(entity, job["filter"], caller), sort, export_chunk_rows(), job["cursor"]
        )
        text = csv_io.render_csv(page.items, job["fields"], header=job["chunks"] == 0)
        try:
            with self.store.transaction() as tx:
                current = self._held_job(tx, EXPORTS, job_id, instance)
                if current["version"] != job["version"]:
                    raise _Abandon()
                seq = job["chunks"]
                tx[EXPORT_CHUNKS].insert({"id": chunk_id(job_id, seq), "export_id": job_id, "seq": seq, "csv": text})
                progress = {
                    "chunks": seq + 1,
                    "cursor": page.next_cursor,
                    "exported_rows": job["exported_rows"] + len(page.items),
                }
                if page.next_cursor:
                    tx[EXPORTS].replace(self._renewed_job(job, instance, **progress), job["version"])
                    return True
                expires = timestamp(time.time() + float_setting("EXPORT_RETENTION_SECONDS", 86400.0))
                self._finish_job(tx, EXPORTS, job, "completed", **progress, expires_at=expires)
                return False
        except _Abandon:
            return False

    def _tidy_transfers(self) -> None:
        """Uploads abandoned half-way fail; exports past their retention lose their CSV."""
        now = time.time()
        stale = timestamp(now - float_setting("IMPORT_UPLOAD_TIMEOUT_SECONDS", 900.0))
        for job in self.store[IMPORTS].find({"status": "uploading", "worked_at": {"$lt": stale}}, limit=20).items:
            try:
                with self.store.transaction() as tx:
                    self._finish_job(tx, IMPORTS, job, "failed", "the upload did not finish")
            except PreconditionFailed:
                pass
        for job in (
            self.store[EXPORTS].find({"status": "completed", "expires_at": {"$lt": timestamp(now)}}, limit=20).items
        ):
            with self.store.transaction() as tx:
                for chunk in list(tx[EXPORT_CHUNKS].iterate({"export_id": job["id"]})):
                    tx[EXPORT_CHUNKS].delete(chunk["id"])
                tx[EXPORTS].replace({**job, "status": "expired"}, job["version"])
