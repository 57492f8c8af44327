"""The embedded search adapter: SQLite FTS5 with a trigram index (substrings, phone and email
fragments) and a word index with CJK bigrams (two-character Chinese names)."""

import json
import os
import sqlite3
import threading

from ..errors import ServiceUnavailable
from . import SearchDoc, SearchHit, SearchIndex, SearchQuery, SearchResult
from .text import cjk_grams, decode_search_cursor, encode_search_cursor, has_cjk, highlight, query_terms

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  key TEXT PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL,
  body TEXT NOT NULL, fields TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0, access TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS docs_type ON docs (type, deleted);
CREATE VIRTUAL TABLE IF NOT EXISTS fts_trigram USING fts5(text, tokenize='trigram');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_words USING fts5(words, tokenize='unicode61 remove_diacritics 2', prefix='1 2');
"""


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class SqliteFtsIndex(SearchIndex):
    def __init__(self, path: str):
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(docs)")}
        if "access" not in columns:
            # An index from before access tokens: its docs carry none, so only unrestricted
            # queries find them until their records are written again.
            self._conn.execute("ALTER TABLE docs ADD COLUMN access TEXT NOT NULL DEFAULT '[]'")

    def _run(self, sql: str, params: tuple | list = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise ServiceUnavailable(f"search index unavailable: {exc}") from None

    def _current(self, key: str) -> tuple[int, int] | None:
        return self._run("SELECT rowid, version FROM docs WHERE key = ?", (key,)).fetchone()

    def upsert(self, doc: SearchDoc) -> bool:
        key = f"{doc.type}:{doc.id}"
        text = f"{doc.title}\n{doc.body}"
        with self._lock:
            self._run("BEGIN IMMEDIATE")
            try:
                current = self._current(key)
                if current and current[1] >= doc.version:
                    self._run("ROLLBACK")
                    return False
                values = (
                    doc.type,
                    doc.id,
                    doc.title,
                    doc.body,
                    json.dumps(doc.fields, ensure_ascii=False),
                    doc.version,
                    doc.updated_at,
                    json.dumps(list(doc.access), ensure_ascii=False),
                )
                if current:
                    rowid = current[0]
                    self._run(
                        "UPDATE docs SET type=?, id=?, title=?, body=?, fields=?, version=?, "
                        "updated_at=?, access=?, deleted=0 WHERE rowid=?",
                        values + (rowid,),
                    )
                    self._run("DELETE FROM fts_trigram WHERE rowid = ?", (rowid,))
                    self._run("DELETE FROM fts_words WHERE rowid = ?", (rowid,))
                else:
                    rowid = self._run(
                        "INSERT INTO docs (key, type, id, title, body, fields, version, "
                        "updated_at, access) VALUES (?,?,?,?,?,?,?,?,?)",
                        (key,) + values,
                    ).lastrowid
                self._run("INSERT INTO fts_trigram (rowid, text) VALUES (?, ?)", (rowid, text))
                self._run("INSERT INTO fts_words (rowid, words) VALUES (?, ?)", (rowid, text + "\n" + cjk_grams(text)))
                self._run("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return True

    def delete(self, doc_type: str, doc_id: str, version: int) -> bool:
        key = f"{doc_type}:{doc_id}"
        with self._lock:
            self._run("BEGIN IMMEDIATE")
            try:
                current = self._current(key)
                if current and current[1] >= version:
                    self._run("ROLLBACK")
                    return False
                if current:
                    self._run(
                        "UPDATE docs SET deleted=1, version=?, title='', body='', fields='{}', access='[]' "
                        "WHERE rowid=?",
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
                self._run("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return True

    def get(self, doc_type: str, doc_id: str) -> SearchDoc | None:
        with self._lock:
            row = self._run(
                "SELECT type, id, title, version, body, fields, updated_at, access FROM docs "
                "WHERE key = ? AND deleted = 0",
                (f"{doc_type}:{doc_id}",),
            ).fetchone()
        if not row:
            return None
        return SearchDoc(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], json.loads(row[7]))

    def _matching(self, terms: list[str], query: SearchQuery) -> tuple[str, list]:
        """WHERE clause over `docs` for the terms (all must match) and the filters."""
        clauses, params = ["deleted = 0"], []
        for term in terms:
            if has_cjk(term):
                grams = cjk_grams(term).split()
                bigrams = [g for g in grams if len(g) == 2] or grams
                clauses.append("rowid IN (SELECT rowid FROM fts_words WHERE fts_words MATCH ?)")
                params.append(" AND ".join(_fts_phrase(g) for g in bigrams))
            elif len(term) >= 3:
                clauses.append("rowid IN (SELECT rowid FROM fts_trigram WHERE fts_trigram MATCH ?)")
                params.append(_fts_phrase(term))
            else:
                clauses.append("rowid IN (SELECT rowid FROM fts_words WHERE fts_words MATCH ?)")
                params.append(_fts_phrase(term) + "*")
        if query.types:
            clauses.append(f"type IN ({','.join('?' * len(query.types))})")
            params.extend(query.types)
        for name, accepted in query.filters.items():
            values = [v for v in accepted if v is not None]
            options = []
            if values:
                options.append(f"json_extract(fields, ?) IN ({','.join('?' * len(values))})")
                params.extend([f"$.{name}"] + values)
            if len(values) != len(accepted):
                options.append("json_extract(fields, ?) IS NULL")
                params.append(f"$.{name}")
            clauses.append("(" + " OR ".join(options) + ")" if options else "0")
        if query.access is not None:
            tokens = sorted(set(query.access))
            if tokens:
                marks = ",".join("?" * len(tokens))
                clauses.append(f"EXISTS (SELECT 1 FROM json_each(docs.access) WHERE value IN ({marks}))")
                params.extend(tokens)
            else:
                clauses.append("0")
        return " AND ".join(clauses), params

    def search(self, query: SearchQuery) -> SearchResult:
        terms = query_terms(query.text)
        if not terms:
            return SearchResult([], {"type": {}}, 0)
        where, params = self._matching(terms, query)
        # Score: every term found in the title counts double; recency breaks near-ties. Recency is
        # measured from a fixed epoch, not from 'now': a clock-dependent score drifts between two
        # page requests and the cursor's [score, key] would then skip or repeat hits.
        title_hits = " + ".join("(instr(lower(title), ?) > 0)" for _ in terms)
        score = (
            f"(({title_hits}) * 2.0 + {len(terms)} + coalesce(1.0 - 1.0 / (1.0 + max(0, "
            "julianday(updated_at) - julianday('2000-01-01')) / 30.0), 1.0))"
        )
        score_params = list(terms)
        page_clause, page_params = "", []
        if query.cursor:
            last_score, last_key = decode_search_cursor(query.cursor)
            page_clause = "WHERE score < ? OR (score = ? AND key > ?)"
            page_params = [last_score, last_score, last_key]
        sql = (
            f"SELECT * FROM (SELECT key, type, id, title, body, fields, round({score}, 9) AS score "
            f"FROM docs WHERE {where}) {page_clause} ORDER BY score DESC, key ASC LIMIT ?"
        )
        with self._lock:
            rows = self._run(sql, score_params + params + page_params + [query.limit + 1]).fetchall()
            facet_rows = self._run(f"SELECT type, count(*) FROM docs WHERE {where} GROUP BY type", params).fetchall()
        hits = []
        for _key, doc_type, doc_id, title, body, fields, score_value in rows[: query.limit]:
            marks = [h for h in (highlight(title, terms), highlight(body, terms)) if h]
            hits.append(SearchHit(doc_type, doc_id, title, score_value, marks, json.loads(fields)))
        next_cursor = None
        if len(rows) > query.limit and hits:
            last = rows[query.limit - 1]
            next_cursor = encode_search_cursor([last[6], last[0]])
        facets = {"type": {t: n for t, n in facet_rows}}
        return SearchResult(hits, facets, sum(facets["type"].values()), next_cursor)

    def ping(self) -> None:
        with self._lock:
            self._run("SELECT 1 FROM docs LIMIT 1")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
