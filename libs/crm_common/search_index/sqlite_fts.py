"""The embedded search adapter: SQLite FTS5 with a trigram index (substrings, phone and email
fragments, typo alternatives) and a word index with CJK bigrams (two-character Chinese names).

Filter, facet and range material lives in columns of `docs` (one per FACETABLE and RANGEABLE
field) so a query filters and counts without parsing JSON. Typo tolerance looks a term up in a
vocabulary of the indexed words (with its own trigram index) and searches the close words too.
A query collects at most TOTAL_EXACT_UP_TO + 1 matches (newest rows first) into a temporary table,
with their score and facet values, and ranks, counts and pages over that: a broad term never scans
the whole index, and the documents are read once per match.

A long plain-ASCII term (an email or its domain, 10+ characters) is not matched as a phrase of all
its trigrams, which would read the posting lists of its common ones ("com", ".co") in full: it is
looked up by its rarest few trigrams (counted up to a cap, cached a while) and each candidate
confirmed by `instr` on its text. Confirming costs more per candidate than a posting entry, so a
shorter term (a surname, phone digits) stays a phrase.

Reads never queue behind writes: a file index is in WAL mode, where a reader sees the last commit
while a write goes on, so writes keep one connection (behind a lock: one transaction at a time) and
reads take one of a small pool of their own. Each connection is used by one thread at a time and
none is tied to a thread, so callers may hand any call to an OS thread (the search service does:
SQLite calls hold the process otherwise)."""

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..errors import BadRequest, ServiceUnavailable
from . import (
    FACETABLE,
    MISSING_FACET_VALUE,
    RANGEABLE,
    TOTAL_EXACT_UP_TO,  # a module global read at search time (tests lower it)
    SearchDoc,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SearchResult,
)
from .text import (
    RECENCY_HALF_LIFE_DAYS,
    RECENCY_WEIGHT,
    cjk_grams,
    decode_search_cursor,
    encode_search_cursor,
    has_cjk,
    highlight,
    is_typo_of,
    keyword_values,
    max_typos,
    parse_instant,
    query_now,
    query_terms,
    typo_distance,
    words,
)

T = TypeVar("T")

TYPO_ALTERNATIVES = 20  # close words searched per typo-tolerant term, nearest first
TYPO_CACHE_SIZE = 2048
RARE_TRIGRAMS = 3  # trigrams of a long term looked up in the index; the rest confirmed with instr
LONG_TERM_TRIGRAMS = 8  # a term with this many trigrams (10+ characters) is looked up by its rarest
# Trigram document counts only steer which postings are read, so a stale one costs speed, never
# results: they are kept a while (counting a common trigram reads its whole posting list).
TRIGRAM_COUNTS_KEPT_SECONDS = 600.0
# Past this many docs a trigram is common, and how common no longer matters: counting stops there
# (~1 ms) where an exact count (fts5vocab's) reads the whole posting list (~13 ms for "com" at 1.6M).
TRIGRAM_COUNT_CAP = 20_000
TRIGRAM_COUNT_CACHE_SIZE = 100_000
VOCABULARY_WORD_LENGTH = (3, 40)  # words a typo can be measured against: 4+ letter terms, 1-2 edits
TEXT_FIELD_SUFFIX = "_id"  # keyword fields whose values are ids are not searchable text
DATE_ATTRIBUTES = ("created_at", "updated_at")  # RANGEABLE fields that are SearchDoc attributes
IDLE_READERS_KEPT = 2  # read connections kept open between reads; more concurrent reads open their own
WRITER_CACHE_KIB = 65536  # SQLite page cache per connection: the writer's holds the pages a batch rewrites
READER_CACHE_KIB = 32768  # each reader's; the OS page cache holds the file for all of them
BUSY_TIMEOUT_SECONDS = 5.0
MEMORY = ":memory:"


def _facet_column(name: str) -> str:
    return "type" if name == "type" else f"f_{name}"


def _range_column(name: str) -> str:
    return name if name in DATE_ATTRIBUTES else f"r_{name}"


FACET_COLUMNS = [_facet_column(name) for name in FACETABLE if name != "type"]
FACET_COLUMNS_OF_MATCHES = [_facet_column(name) for name in FACETABLE]
MATCH_COLUMNS = "rid, key, score, " + ", ".join(FACET_COLUMNS_OF_MATCHES)
MATCH_FACETS = ", ".join(f"d.{column}" for column in FACET_COLUMNS_OF_MATCHES)
RANGE_COLUMNS = [_range_column(name) for name in RANGEABLE if name not in DATE_ATTRIBUTES]
ADDED_COLUMNS = (
    ["access TEXT NOT NULL DEFAULT '[]'", "created_at TEXT", "recency_day REAL"]
    + [f"{column} TEXT" for column in FACET_COLUMNS]
    + [f"{column}" for column in RANGE_COLUMNS]  # no affinity: numbers stay numbers, dates text
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  key TEXT PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL,
  body TEXT NOT NULL, fields TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0);
CREATE VIRTUAL TABLE IF NOT EXISTS fts_trigram USING fts5(text, tokenize='trigram');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_words USING fts5(words, tokenize='unicode61 remove_diacritics 2', prefix='1 2');
CREATE TABLE IF NOT EXISTS vocabulary (id INTEGER PRIMARY KEY, word TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE IF NOT EXISTS vocabulary_trigram USING fts5(
  word, tokenize='trigram', content='vocabulary', content_rowid='id');
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS docs_type_id ON docs (type, id);
CREATE INDEX IF NOT EXISTS docs_owner ON docs (f_owner_id) WHERE deleted = 0;
"""
DOC_COLUMNS = (
    ["type", "id", "title", "body", "fields", "version", "updated_at", "access", "created_at", "recency_day"]
    + FACET_COLUMNS
    + RANGE_COLUMNS
)


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _normalized_bound(value: Any) -> Any:
    """Numbers stay numbers (a numeric string becomes one); a date-time becomes UTC ISO with a Z,
    so it compares as a string with the stored ones; a plain date stays as it is."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    try:
        return float(text)
    except ValueError:
        pass
    if "T" in text or " " in text:
        moment = parse_instant(text)
        if moment is not None:
            return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def _julian_day(iso: str | None) -> float | None:
    moment = parse_instant(iso) if iso else None
    if moment is None:
        return None
    return moment.timestamp() / 86400.0 + 2440587.5


def _execute(conn: sqlite3.Connection, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        raise ServiceUnavailable(f"search index unavailable: {exc}") from None


def _connect(path: str, cache_kib: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS)
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    return conn


def _prepare_for_search(conn: sqlite3.Connection) -> None:
    """The connection's own table of the matches of the query it answers (temporary tables belong
    to their connection), and `pow` where SQLite was built without the math functions."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS search_matches (rid INTEGER PRIMARY KEY, key TEXT, score REAL, "
        + ", ".join(FACET_COLUMNS_OF_MATCHES)
        + ")"
    )
    try:
        conn.execute("SELECT pow(2, 1)")
    except sqlite3.OperationalError:
        conn.create_function("pow", 2, pow, deterministic=True)


def _searchable_text(doc: SearchDoc) -> str:
    """Title, body and the keyword fields' human text (text.keyword_values: the rule both adapters share)."""
    return "\n".join([doc.title, doc.body, *keyword_values(doc.fields)])


def _row_values(doc: SearchDoc) -> tuple:
    facets = [doc.fields.get(name) for name in FACETABLE if name != "type"]
    ranges = [_normalized_bound(doc.fields.get(name)) for name in RANGEABLE if name not in DATE_ATTRIBUTES]
    return (
        doc.type,
        doc.id,
        doc.title,
        doc.body,
        json.dumps(doc.fields, ensure_ascii=False),
        doc.version,
        doc.updated_at,
        json.dumps(list(doc.access), ensure_ascii=False),
        _normalized_bound(doc.created_at) or None,
        _julian_day(doc.updated_at) or _julian_day(doc.created_at),
        *[None if value is None else str(value) for value in facets],
        *ranges,
    )


class SqliteFtsIndex(SearchIndex):
    def __init__(self, path: str):
        if path != MEMORY:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._path = path
        self._lock = threading.RLock()  # the writer's: one transaction at a time on its connection
        self._closed = False
        # Idle read connections. Taking one (list.pop) and giving it back (append) are single
        # operations under the GIL: no lock, so a read never waits on another thread for one.
        self._idle_readers: list[sqlite3.Connection] = []
        # Typo alternatives by term, for the vocabulary as last committed: a write that adds words
        # puts a new, empty dict in its place once it commits. A read fills the dict it took before
        # its snapshot, so an answer from before a commit never lands in the dict for after it.
        self._typo_cache: dict[str, list[str]] = {}
        self._vocabulary_grew = False  # in the write under way (the writer's lock held)
        self._trigram_counts: dict[str, int] = {}
        self._trigram_counts_since = time.monotonic()
        self._conn = _connect(path, WRITER_CACHE_KIB)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(docs)")}
        for spec in ADDED_COLUMNS:
            # An index from before these columns: its docs have none of them, so only unrestricted,
            # unfiltered queries find them until their records are written again (or reindexed).
            if spec.split()[0] not in columns:
                self._conn.execute(f"ALTER TABLE docs ADD COLUMN {spec}")
        self._conn.executescript(INDEXES)
        if path == MEMORY:  # another connection would open another, empty database: reads share this one
            _prepare_for_search(self._conn)

    def _run(self, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
        """A statement on the writer's connection (the caller holds the lock)."""
        return _execute(self._conn, sql, params)

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A connection to read on, inside one read transaction: the statements of a call see one
        snapshot (the last commit when it began), and a write meanwhile neither waits nor shows."""
        if self._path == MEMORY:
            with self._lock:
                yield from self._snapshot(self._conn)
            return
        try:
            conn = self._idle_readers.pop()
        except IndexError:
            conn = _connect(self._path, READER_CACHE_KIB)
            _prepare_for_search(conn)
        try:
            yield from self._snapshot(conn)
        finally:
            if self._closed or len(self._idle_readers) >= IDLE_READERS_KEPT:
                conn.close()
            else:
                self._idle_readers.append(conn)

    @staticmethod
    def _snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        _execute(conn, "BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:  # (an error may have ended it) nothing to keep: only its temporary matches
                conn.execute("ROLLBACK")

    # --- writes -------------------------------------------------------------------------

    def _current(self, key: str) -> tuple[int, int] | None:
        return self._run("SELECT rowid, version FROM docs WHERE key = ?", (key,)).fetchone()

    def _write(self, doc: SearchDoc) -> bool:
        """Store one doc inside the caller's transaction unless the version guard refuses it."""
        key = f"{doc.type}:{doc.id}"
        current = self._current(key)
        if current and current[1] >= doc.version:
            return False
        values = _row_values(doc)
        if current:
            rowid = current[0]
            assignments = ", ".join(f"{column}=?" for column in DOC_COLUMNS)
            self._run(f"UPDATE docs SET {assignments}, deleted=0 WHERE rowid=?", values + (rowid,))
            self._run("DELETE FROM fts_trigram WHERE rowid = ?", (rowid,))
            self._run("DELETE FROM fts_words WHERE rowid = ?", (rowid,))
        else:
            marks = ",".join("?" * (len(DOC_COLUMNS) + 1))
            rowid = self._run(
                f"INSERT INTO docs (key, {', '.join(DOC_COLUMNS)}) VALUES ({marks})", (key,) + values
            ).lastrowid
        text = _searchable_text(doc)
        self._run("INSERT INTO fts_trigram (rowid, text) VALUES (?, ?)", (rowid, text))
        self._run("INSERT INTO fts_words (rowid, words) VALUES (?, ?)", (rowid, text + "\n" + cjk_grams(text)))
        self._remember_words(text)
        return True

    def _remember_words(self, text: str) -> None:
        """Add the text's new words to the vocabulary the typo lookup searches. Words are never
        removed: a word no doc holds any more only costs a search alternative that finds nothing."""
        shortest, longest = VOCABULARY_WORD_LENGTH
        for word in set(words(text)):
            if shortest <= len(word) <= longest and not has_cjk(word):
                added = self._run("INSERT OR IGNORE INTO vocabulary (word) VALUES (?)", (word,))
                if added.rowcount:
                    self._run("INSERT INTO vocabulary_trigram (rowid, word) VALUES (?, ?)", (added.lastrowid, word))
                    self._vocabulary_grew = True

    def _transaction(self, work: Callable[[], T]) -> T:
        with self._lock:
            self._run("BEGIN IMMEDIATE")
            self._vocabulary_grew = False
            try:
                result = work()
                self._run("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            if self._vocabulary_grew:
                self._typo_cache = {}
        return result

    def upsert(self, doc: SearchDoc) -> bool:
        return self._transaction(lambda: self._write(doc))

    def upsert_many(self, docs: list[SearchDoc]) -> int:
        """One transaction for the batch: a reindex page costs one commit, not one per doc."""
        if not docs:
            return 0
        return self._transaction(lambda: sum(self._write(doc) for doc in docs))

    def delete(self, doc_type: str, doc_id: str, version: int) -> bool:
        key = f"{doc_type}:{doc_id}"

        def tombstone() -> bool:
            current = self._current(key)
            if current and current[1] >= version:
                return False
            if current:
                blanks = ", ".join(f"{column}=NULL" for column in FACET_COLUMNS + RANGE_COLUMNS)
                self._run(
                    "UPDATE docs SET deleted=1, version=?, title='', body='', fields='{}', access='[]', "
                    f"created_at=NULL, recency_day=NULL, {blanks} WHERE rowid=?",
                    (version, current[0]),
                )
                self._run("DELETE FROM fts_trigram WHERE rowid = ?", (current[0],))
                self._run("DELETE FROM fts_words WHERE rowid = ?", (current[0],))
            else:
                self._run(
                    "INSERT INTO docs (key, type, id, title, body, fields, version, updated_at, "
                    "deleted) VALUES (?,?,?,'','','{}',?,'',1)",
                    (key, doc_type, doc_id, version),
                )
            return True

        return self._transaction(tombstone)

    # --- reads --------------------------------------------------------------------------

    def get(self, doc_type: str, doc_id: str) -> SearchDoc | None:
        with self._reading() as conn:
            row = _execute(
                conn,
                "SELECT type, id, title, version, body, fields, updated_at, access, created_at FROM docs "
                "WHERE key = ? AND deleted = 0",
                (f"{doc_type}:{doc_id}",),
            ).fetchone()
        if not row:
            return None
        return SearchDoc(
            row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], json.loads(row[7]), row[8] or ""
        )

    def versions(self, doc_type: str, after_id: str | None, limit: int) -> list[tuple[str, int, bool]]:
        with self._reading() as conn:
            rows = _execute(
                conn,
                "SELECT id, version, deleted FROM docs WHERE type = ? AND id > ? ORDER BY id LIMIT ?",
                (doc_type, after_id if after_id is not None else "", limit),
            ).fetchall()
        return [(doc_id, version, bool(deleted)) for doc_id, version, deleted in rows]

    def count(self, doc_type: str | None = None) -> int:
        with self._reading() as conn:
            if doc_type is None:
                return _execute(conn, "SELECT count(*) FROM docs WHERE deleted = 0").fetchone()[0]
            return _execute(conn, "SELECT count(*) FROM docs WHERE type = ? AND deleted = 0", (doc_type,)).fetchone()[0]

    def _typo_alternatives(self, conn: sqlite3.Connection, typo_cache: dict[str, list[str]], term: str) -> list[str]:
        """Indexed words a typo-tolerant term matches (not the term itself), nearest first.
        Candidates share a trigram with the term or its first two letters (either order, for a
        swap there), the same first letter and a length within the allowance."""
        allowed = max_typos(term)
        if not allowed:
            return []
        cached = typo_cache.get(term)
        if cached is not None:
            return cached
        trigrams = {term[i : i + 3] for i in range(len(term) - 2)}
        shortest, longest = len(term) - allowed, len(term) + allowed
        rows = _execute(
            conn,
            "SELECT word FROM vocabulary WHERE id IN (SELECT rowid FROM vocabulary_trigram "
            "WHERE vocabulary_trigram MATCH ?) AND length(word) BETWEEN ? AND ? AND substr(word, 1, 1) = ? "
            "UNION SELECT word FROM vocabulary WHERE (word >= ? AND word < ?) OR (word >= ? AND word < ?)",
            (
                " OR ".join(_fts_phrase(t) for t in sorted(trigrams)),
                shortest,
                longest,
                term[0],
                term[:2],
                term[:2] + "\uffff",
                term[0] + term[2],
                term[0] + term[2] + "\uffff",
            ),
        ).fetchall()
        close = sorted(
            (typo_distance(term, word, allowed), word)
            for (word,) in rows
            if word != term and shortest <= len(word) <= longest and is_typo_of(term, word)
        )
        alternatives = [word for _distance, word in close[:TYPO_ALTERNATIVES]]
        if len(typo_cache) >= TYPO_CACHE_SIZE:
            typo_cache.clear()
        typo_cache[term] = alternatives
        return alternatives

    def _trigram_counts_of(self, conn: sqlite3.Connection, trigrams: list[str]) -> dict[str, int]:
        """How many docs hold each trigram, up to TRIGRAM_COUNT_CAP (a capped count costs ~1 ms)."""
        if (
            time.monotonic() - self._trigram_counts_since > TRIGRAM_COUNTS_KEPT_SECONDS
            or len(self._trigram_counts) >= TRIGRAM_COUNT_CACHE_SIZE
        ):
            self._trigram_counts, self._trigram_counts_since = {}, time.monotonic()
        for trigram in trigrams:
            if trigram not in self._trigram_counts:
                self._trigram_counts[trigram] = _execute(
                    conn,
                    "SELECT count(*) FROM (SELECT rowid FROM fts_trigram WHERE fts_trigram MATCH ? LIMIT ?)",
                    (_fts_phrase(trigram), TRIGRAM_COUNT_CAP),
                ).fetchone()[0]
        return {t: self._trigram_counts[t] for t in trigrams}

    def _substring_match(self, conn: sqlite3.Connection, variants: list[str]) -> tuple[str, list[str]]:
        """A trigram-index expression finding the docs that hold any of the variants, and the
        variants to confirm with `instr` (none when the expression is exact by itself). Long
        plain-ASCII variants are looked up by their rarest trigrams only; the trigram index folds
        ASCII case as `lower` does, so `instr(lower(text), variant)` then says exactly what the
        phrase would. Anything else (a shorter term, non-ASCII letters) stays a phrase query."""
        if not all(len(v) - 2 >= LONG_TERM_TRIGRAMS and v.isascii() for v in variants):
            return " OR ".join(_fts_phrase(v) for v in variants), []
        grams = {v: sorted({v[i : i + 3] for i in range(len(v) - 2)}) for v in variants}
        counts = self._trigram_counts_of(conn, sorted({g for each in grams.values() for g in each}))
        groups = []
        for variant in variants:
            rarest = sorted(grams[variant], key=lambda g: (counts[g], g))[:RARE_TRIGRAMS]
            groups.append("(" + " AND ".join(_fts_phrase(g) for g in rarest) + ")")
        return " OR ".join(groups), list(variants)

    def _text_match(
        self, conn: sqlite3.Connection, typo_cache: dict[str, list[str]], terms: list[str]
    ) -> tuple[str, list, dict[str, list[str]]]:
        """The FROM source of candidate rowids for the terms (newest first) and its parameters,
        plus each term's typo alternatives. Terms of 3+ characters (and their alternatives) go to
        one trigram MATCH that streams; CJK and short prefix terms to the word index."""
        trigram_parts, confirmations, word_parts, alternatives = [], [], [], {}
        for term in terms:
            if has_cjk(term):
                grams = cjk_grams(term).split()
                bigrams = [g for g in grams if len(g) == 2] or grams
                word_parts.append(" AND ".join(_fts_phrase(g) for g in bigrams))
            elif len(term) >= 3:
                alternatives[term] = self._typo_alternatives(conn, typo_cache, term)
                expr, confirm = self._substring_match(conn, [term, *alternatives[term]])
                trigram_parts.append(f"({expr})")
                if confirm:
                    confirmations.append(confirm)
            else:
                word_parts.append(_fts_phrase(term) + "*")
        trigram_expr, word_expr = " AND ".join(trigram_parts), " AND ".join(f"({p})" for p in word_parts)
        confirm_sql = "".join(
            " AND (" + " OR ".join("instr(lower(text), ?)" for _ in variants) + ")" for variants in confirmations
        )
        confirm_params = [variant for variants in confirmations for variant in variants]
        if trigram_expr and word_expr:
            source = (
                f"(SELECT rowid AS rid FROM fts_trigram WHERE fts_trigram MATCH ?{confirm_sql} AND rowid IN "
                "(SELECT rowid FROM fts_words WHERE fts_words MATCH ?) ORDER BY rowid DESC)"
            )
            return source, [trigram_expr, *confirm_params, word_expr], alternatives
        if trigram_expr:
            source = (
                f"(SELECT rowid AS rid FROM fts_trigram WHERE fts_trigram MATCH ?{confirm_sql} ORDER BY rowid DESC)"
            )
            return source, [trigram_expr, *confirm_params], alternatives
        source = "(SELECT rowid AS rid FROM fts_words WHERE fts_words MATCH ? ORDER BY rowid DESC)"
        return source, [word_expr], alternatives

    def _restrictions(self, query: SearchQuery) -> tuple[list[str], list]:
        """WHERE clauses over `docs` (aliased d) for types, filters, ranges and access."""
        clauses, params = ["d.deleted = 0"], []
        if query.types:
            clauses.append(f"d.type IN ({','.join('?' * len(query.types))})")
            params.extend(query.types)
        for name, accepted in query.filters.items():
            values = [str(v) for v in accepted if v is not None]
            if name in FACETABLE:
                column, column_params = f"d.{_facet_column(name)}", []
            else:
                column, column_params = "json_extract(d.fields, ?)", [json.dumps(f"$.{name}")[1:-1]]
            options = []
            if values:
                options.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(column_params + values)
            if len(values) != len(accepted):
                options.append(f"{column} IS NULL")
                params.extend(column_params)
            clauses.append("(" + " OR ".join(options) + ")" if options else "0")
        for name, bounds in query.ranges.items():
            if name not in RANGEABLE:
                raise BadRequest(f"range: {name!r} is not a rangeable field")
            low, high = (_normalized_bound(bound) for bound in bounds)
            column = f"d.{_range_column(name)}"
            clauses.append(f"{column} IS NOT NULL AND {column} != ''")
            if low is not None:
                clauses.append(f"{column} >= ?")
                params.append(low)
            if high is not None:
                clauses.append(f"{column} < ?")
                params.append(high)
        if query.access is not None:
            tokens = sorted(set(query.access))
            if tokens:
                # `access` is a JSON array ('["a", "b"]'): an element is a JSON string right after
                # "[" or ", " (a quote inside a string is escaped), so finding that text is an exact
                # membership test, and far cheaper per row than json_each.
                encoded = [json.dumps(token, ensure_ascii=False) for token in tokens]
                clauses.append("(" + " OR ".join("instr(d.access, ?)" for _ in range(2 * len(tokens))) + ")")
                params.extend(prefix + token for token in encoded for prefix in ("[", ", "))
            else:
                clauses.append("0")
        return clauses, params

    def _score(self, terms: list[str], alternatives: dict[str, list[str]], now: datetime) -> tuple[str, list]:
        """relevance * (1 + 0.5 * 0.5 ** (age_days / 90)): a term found in the title weighs 2,
        elsewhere 1, and half that when only a typo alternative matched."""
        parts, params = [], []
        for term in terms:
            typos = alternatives.get(term, [])
            cases = ["WHEN instr(lower(d.title), ?) THEN 2.0", "WHEN instr(lower(d.body), ?) THEN 1.0"]
            params.extend([term, term])
            if typos:
                cases.append("WHEN instr(lower(d.fields), ?) THEN 1.0")
                cases.append("WHEN " + " OR ".join("instr(lower(d.title), ?)" for _ in typos) + " THEN 1.0")
                cases.append("ELSE 0.5")
                params.extend([term, *typos])
            else:
                cases.append("ELSE 1.0")
            parts.append(f"(CASE {' '.join(cases)} END)")
        relevance = " + ".join(parts) if parts else "1.0"
        now_day = now.timestamp() / 86400.0 + 2440587.5
        recency = (
            f"(CASE WHEN d.recency_day IS NULL THEN 1.0 ELSE 1.0 + {RECENCY_WEIGHT} * "
            f"pow(0.5, max(0.0, ? - d.recency_day) / {RECENCY_HALF_LIFE_DAYS}) END)"
        )
        return f"round(({relevance}) * {recency}, 9)", params + [now_day]

    def search(self, query: SearchQuery) -> SearchResult:
        terms = query_terms(query.text)
        unknown = [name for name in query.facets if name not in FACETABLE]
        if unknown:
            raise BadRequest(f"facets: {', '.join(unknown)} cannot be counted")
        empty_facets: dict[str, dict[str, int]] = {name: {} for name in query.facets}
        if not terms and not query.filters and not query.ranges:
            return SearchResult([], empty_facets, 0)
        now = query_now(query.now)
        cap = TOTAL_EXACT_UP_TO
        restrictions, restriction_params = self._restrictions(query)
        typo_cache = self._typo_cache  # taken before the snapshot (see __init__)
        with self._reading() as conn:
            # Each match is read once: its key, score and facet values go into the temporary table.
            if terms:
                source, source_params, alternatives = self._text_match(conn, typo_cache, terms)
                rowid, rows, order = "m.rid", f"{source} AS m CROSS JOIN docs AS d ON d.rowid = m.rid", ""
            else:
                source_params, alternatives = [], {}
                rowid, rows, order = "d.rowid", "docs AS d", " ORDER BY d.rowid DESC"
            score, score_params = self._score(terms, alternatives, now)
            collect = (
                f"INSERT INTO temp.search_matches ({MATCH_COLUMNS}) SELECT {rowid}, d.key, {score}, {MATCH_FACETS} "
                f"FROM {rows} WHERE {' AND '.join(restrictions)}{order} LIMIT ?"
            )
            collect_params = score_params + source_params + restriction_params + [cap + 1]
            _execute(conn, "DELETE FROM temp.search_matches")
            _execute(conn, collect, collect_params)
            matched = _execute(conn, "SELECT count(*) FROM temp.search_matches").fetchone()[0]
            if matched > cap:  # counted one past the cap only to know it was passed
                _execute(conn, "DELETE FROM temp.search_matches WHERE rid = (SELECT min(rid) FROM temp.search_matches)")
            facets = {}
            for name in query.facets:
                column = _facet_column(name)
                rows = _execute(
                    conn,
                    f"SELECT coalesce({column}, ?), count(*) FROM temp.search_matches GROUP BY 1",
                    (MISSING_FACET_VALUE,),
                ).fetchall()
                facets[name] = {value: n for value, n in rows}
            page_clause, page_params = "", []
            if query.cursor:
                last_score, last_key = decode_search_cursor(query.cursor)
                page_clause = "WHERE score < ? OR (score = ? AND key > ?)"
                page_params = [last_score, last_score, last_key]
            rows = _execute(
                conn,
                "SELECT m.key, d.type, d.id, d.title, d.body, d.fields, m.score FROM (SELECT rid, key, score "
                f"FROM temp.search_matches {page_clause} ORDER BY score DESC, key ASC LIMIT ?) AS m "
                "CROSS JOIN docs AS d ON d.rowid = m.rid ORDER BY m.score DESC, m.key ASC",
                page_params + [query.limit + 1],
            ).fetchall()
        highlight_terms = terms + [word for typos in alternatives.values() for word in typos]
        hits = []
        for _key, doc_type, doc_id, title, body, fields, score_value in rows[: query.limit]:
            marks = [h for h in (highlight(title, highlight_terms), highlight(body, highlight_terms)) if h]
            hits.append(SearchHit(doc_type, doc_id, title, score_value, marks, json.loads(fields)))
        next_cursor = None
        if len(rows) > query.limit and hits:
            last = rows[query.limit - 1]
            next_cursor = encode_search_cursor([last[6], last[0]])
        total, relation = (cap, "gte") if matched > cap else (matched, "eq")
        return SearchResult(hits, facets, total, next_cursor, relation)

    def ping(self) -> None:
        with self._reading() as conn:
            _execute(conn, "SELECT 1 FROM docs LIMIT 1")

    def close(self) -> None:
        """Closes the writer and the idle readers; a read under way closes its own as it ends."""
        self._closed = True
        with self._lock:
            while self._idle_readers:
                self._idle_readers.pop().close()
            self._conn.close()
