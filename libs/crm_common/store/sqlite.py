"""The embedded document-store adapter: one SQLite file, WAL, JSON documents, expression indexes."""

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import Conflict, NotFound, PreconditionFailed, ServiceUnavailable
from . import Collection, CollectionSpec, DocumentStore, Page, Sort, Transaction
from .query import after_cursor, check_filter, decode_cursor, encode_cursor, normalise_sort


def _table(name: str) -> str:
    return '"c_' + name.replace('"', "") + '"'


def _path_expr(field: str) -> str:
    # The exact same text is used in CREATE INDEX and in queries so SQLite picks the index.
    return "id" if field == "id" else f"json_extract(doc, '$.{field}')"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# One encoder for every write: `json.dumps` with options builds a new one per call. Documents are
# trees (no cycles to check for).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


def _dump(doc: dict) -> str:
    return _ENCODE(doc)


class _Sql:
    """Translate the port's filter grammar into a parameterised WHERE clause."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def where(self, filter: dict) -> str:
        parts = []
        for key, value in filter.items():
            if key == "$and":
                parts.append("(" + " AND ".join(self.where(f) for f in value) + ")")
            elif key == "$or":
                parts.append("(" + " OR ".join(self.where(f) for f in value) + ")")
            elif key == "$not":
                parts.append(f"NOT COALESCE(({self.where(value)}), 0)")
            elif isinstance(value, dict):
                parts.extend(self._operator(key, op, arg) for op, arg in value.items())
            else:
                parts.append(self._operator(key, "$eq", value))
        return " AND ".join(parts) if parts else "1"

    def _bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def _operator(self, field: str, op: str, arg: Any) -> str:
        expr = _path_expr(field)
        if op == "$eq":
            return f"{expr} IS NULL" if arg is None else f"{expr} = {self._bind(arg)}"
        if op == "$ne":
            return f"{expr} IS NOT NULL" if arg is None else f"{expr} IS NOT {self._bind(arg)}"
        if op in ("$gt", "$gte", "$lt", "$lte"):
            if arg is None:
                return "0"
            sign = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
            return f"{expr} {sign} {self._bind(arg)}"
        if op in ("$in", "$nin"):
            values = [v for v in arg if v is not None]
            has_null = len(values) != len(arg)
            listed = f"{expr} IN ({','.join(self._bind(v) for v in values)})" if values else "0"
            matched = f"({listed} OR {expr} IS NULL)" if has_null else listed
            if op == "$in":
                return matched
            return f"NOT COALESCE({matched}, 0)"
        if op == "$containsAny":
            if not arg:
                return "0"
            members = ",".join(self._bind(v) for v in arg)
            return (
                f"(json_type(doc, '$.{field}') = 'array' AND EXISTS (SELECT 1 FROM json_each(doc, '$.{field}')"
                f" WHERE value IN ({members})))"
            )
        if op == "$exists":
            present = "id IS NOT NULL" if field == "id" else f"json_type(doc, '$.{field}') IS NOT NULL"
            return present if arg else f"NOT ({present})"
        if op == "$contains":
            kind = f"json_type(doc, '$.{field}')"
            member = self._bind(arg)
            needle = self._bind(str(arg))
            return (
                f"(CASE {kind} WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each(doc, '$.{field}')"
                f" WHERE value = {member}) WHEN 'text' THEN instr(py_lower({expr}), py_lower({needle})) > 0"
                f" ELSE 0 END)"
            )
        raise AssertionError(op)


@dataclass(frozen=True)
class _Result:
    rows: list
    rowcount: int

    @property
    def first(self):
        return self.rows[0] if self.rows else None


class SqliteCollection(Collection):
    def __init__(self, store: "SqliteStore", name: str):
        self._store = store
        self._name = name
        self._table = _table(name)

    def _run(self, sql: str, params: tuple | list = ()) -> "_Result":
        return self._store._execute(sql, params)

    def get(self, doc_id: str) -> dict | None:
        row = self._run(f"SELECT doc FROM {self._table} WHERE id = ?", (doc_id,)).first
        return json.loads(row[0]) if row else None

    def insert(self, doc: dict) -> dict:
        stored = {**doc, "version": 1}
        try:
            self._run(f"INSERT INTO {self._table} (id, version, doc) VALUES (?, 1, ?)", (doc["id"], _dump(stored)))
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"{self._name} {doc['id']} collides with an existing record: {exc}") from None
        return stored

    def insert_many(self, docs: list[dict]) -> list[dict]:
        stored = [{**doc, "version": 1} for doc in docs]
        if stored:
            rows = [(doc["id"], _dump(doc)) for doc in stored]
            try:
                self._store._execute_many(f"INSERT INTO {self._table} (id, version, doc) VALUES (?, 1, ?)", rows)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"{self._name}: a document collides with an existing record: {exc}") from None
        return stored

    def replace(self, doc: dict, expected_version: int | None = None) -> dict:
        current = self._run(f"SELECT version FROM {self._table} WHERE id = ?", (doc["id"],)).first
        if current is None:
            raise NotFound(f"{self._name} {doc['id']} not found")
        if expected_version is not None and current[0] != expected_version:
            raise PreconditionFailed(f"{self._name} {doc['id']} is at version {current[0]}, not {expected_version}")
        stored = {**doc, "version": current[0] + 1}
        try:
            cur = self._run(
                f"UPDATE {self._table} SET version = ?, doc = ? WHERE id = ? AND version = ?",
                (stored["version"], _dump(stored), doc["id"], current[0]),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"{self._name} {doc['id']} collides with an existing record: {exc}") from None
        if cur.rowcount != 1:
            raise PreconditionFailed(f"{self._name} {doc['id']} changed concurrently")
        return stored

    def put(self, doc: dict) -> dict:
        current = self._run(f"SELECT version FROM {self._table} WHERE id = ?", (doc["id"],)).first
        stored = {**doc, "version": (current[0] if current else 0) + 1}
        try:
            self._run(
                f"INSERT INTO {self._table} (id, version, doc) VALUES (?, ?, ?) ON CONFLICT(id) "
                "DO UPDATE SET version = excluded.version, doc = excluded.doc",
                (doc["id"], stored["version"], _dump(stored)),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"{self._name} {doc['id']} collides with an existing record: {exc}") from None
        return stored

    def delete(self, doc_id: str, expected_version: int | None = None) -> bool:
        if expected_version is None:
            return self._run(f"DELETE FROM {self._table} WHERE id = ?", (doc_id,)).rowcount == 1
        cur = self._run(f"DELETE FROM {self._table} WHERE id = ? AND version = ?", (doc_id, expected_version))
        if cur.rowcount == 1:
            return True
        if self.get(doc_id) is None:
            return False
        raise PreconditionFailed(f"{self._name} {doc_id} is not at version {expected_version}")

    def find(
        self, filter: dict | None = None, sort: Sort | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page:
        order = normalise_sort(sort)
        clauses = [check_filter(filter)] if filter else []
        if cursor:
            clauses.append(after_cursor(order, decode_cursor(cursor, order)))
        sql = _Sql()
        where = sql.where({"$and": clauses}) if clauses else "1"
        order_by = ", ".join(f"{_path_expr(f)} {'ASC' if d > 0 else 'DESC'}" for f, d in order)
        rows = self._run(
            f"SELECT doc FROM {self._table} WHERE {where} ORDER BY {order_by} LIMIT ?", sql.params + [limit + 1]
        ).rows
        items = [json.loads(r[0]) for r in rows[:limit]]
        next_cursor = encode_cursor(items[-1], order) if len(rows) > limit and items else None
        return Page(items, next_cursor)

    def count(self, filter: dict | None = None) -> int:
        sql = _Sql()
        where = sql.where(check_filter(filter)) if filter else "1"
        return self._run(f"SELECT count(*) FROM {self._table} WHERE {where}", sql.params).first[0]


class _SqliteTransaction(Transaction):
    def __init__(self, store: "SqliteStore"):
        self._store = store

    def __getitem__(self, name: str) -> Collection:
        return self._store[name]


class SqliteStore(DocumentStore):
    """One connection guarded by a re-entrant lock: calls are sub-millisecond, and sharing one
    connection keeps a transaction's statements together under green threads and OS threads."""

    def __init__(self, path: str, specs: tuple[CollectionSpec, ...], *, timeout: float = 5.0):
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock = threading.RLock()
        self._in_transaction = False
        self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # SQLite's own lower() folds ASCII only; $contains is case-insensitive for every script.
        self._conn.create_function("py_lower", 1, _lower, deterministic=True)
        self._collections: dict[str, SqliteCollection] = {}
        for spec in specs:
            self._declare(spec)

    def _declare(self, spec: CollectionSpec) -> None:
        table = _table(spec.name)
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {table} "
            "(id TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL)"
        )
        for index in spec.indexes:
            name = f'"ix_{spec.name}_{"_".join(f.replace(".", "_") for f in index.fields)}"'
            columns = ", ".join(_path_expr(f) for f in index.fields)
            if index.unique:
                present = " AND ".join(f"{_path_expr(f)} IS NOT NULL" for f in index.fields)
                self._execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {table} ({columns}) WHERE {present}")
            else:
                self._execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")
        self._collections[spec.name] = SqliteCollection(self, spec.name)

    def _execute(self, sql: str, params: tuple | list = ()) -> "_Result":
        # Rows are read before the lock is released: a statement left half-read keeps a read
        # snapshot open on the shared connection, and another thread's BEGIN IMMEDIATE then
        # fails at once with "database is locked" instead of waiting.
        with self._lock:
            try:
                cursor = self._conn.execute(sql, params)
                return _Result(cursor.fetchall(), cursor.rowcount)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as exc:
                # Disk full, read-only file, locked database: the service cannot serve right now.
                raise ServiceUnavailable(f"store unavailable: {exc}") from None

    def _execute_many(self, sql: str, rows: list[tuple]) -> None:
        """`sql` once per row, all or none (a savepoint: also inside a transaction)."""
        with self._lock:
            try:
                self._conn.execute("SAVEPOINT execute_many")
                try:
                    self._conn.executemany(sql, rows)
                except BaseException:
                    self._conn.execute("ROLLBACK TO execute_many")
                    raise
                finally:
                    self._conn.execute("RELEASE execute_many")
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as exc:
                raise ServiceUnavailable(f"store unavailable: {exc}") from None

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (it does so itself on some errors)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._lock:
            if self._in_transaction:  # nested: join the outer transaction
                yield _SqliteTransaction(self)
                return
            self._execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield _SqliteTransaction(self)
            except BaseException:
                self._in_transaction = False
                self._rollback()
                raise
            self._in_transaction = False
            try:
                self._execute("COMMIT")
            except ServiceUnavailable:
                self._rollback()
                raise

    def ping(self) -> None:
        self._execute("SELECT 1")
        self._execute("PRAGMA quick_check(1)")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
