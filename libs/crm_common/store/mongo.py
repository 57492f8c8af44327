"""The MongoDB document-store adapter: one collection per spec, majority writes and reads."""

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import unquote_plus

from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.errors import (
    BulkWriteError,
    CollectionInvalid,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    PyMongoError,
    WriteConcernError,
)
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from ..errors import BadRequest, Conflict, NotFound, PreconditionFailed, ServiceUnavailable
from . import Collection, CollectionSpec, DocumentStore, Page, Sort, Transaction
from .query import after_cursor, check_filter, decode_cursor, encode_cursor, normalise_sort

MAJORITY = WriteConcern("majority")
READ_MAJORITY = ReadConcern("majority")
SNAPSHOT = ReadConcern("snapshot")
DEFAULT_DATABASE = "crm"
SERVER_SELECTION_TIMEOUT_MS = 5000
PUT_ATTEMPTS = 10
DUPLICATE_KEY = 11000

# Every non-null BSON type a JSON document can carry. A unique index only covers documents where
# each indexed field has one of them, as SQLite's partial index `WHERE field IS NOT NULL` does.
PRESENT_TYPES = ["string", "number", "bool", "object", "array", "date", "objectId", "binData"]

# Error labels the server and driver attach to failures that a later retry may not meet.
RETRYABLE_LABELS = ("TransientTransactionError", "UnknownTransactionCommitResult", "RetryableWriteError")

# Matches no document: comparing with null is never true in the port's grammar (as in SQL).
MATCH_NOTHING: dict = {"_id": {"$in": []}}


def mongo_filter(filter: dict) -> dict:
    """Validate a port filter and translate it into a MongoDB query document."""
    return _translate(check_filter(filter))


def _translate(filter: dict) -> dict:
    clauses: list[dict] = []
    for key, value in filter.items():
        if key in ("$and", "$or"):
            clauses.append({key: [_translate(sub) for sub in value]})
        elif key == "$not":
            clauses.append({"$nor": [_translate(value)]})
        else:
            operators = value if isinstance(value, dict) else {"$eq": value}
            clauses.extend(_operator(_field(key), op, arg) for op, arg in operators.items())
    if not clauses:
        return {}
    # Separate clauses rather than one merged dict: two fields may both translate to "$or".
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _operator(field: str, op: str, arg: Any) -> dict:
    if op == "$contains":
        return {
            "$or": [
                {field: {"$elemMatch": {"$eq": arg}}},
                # Without the array guard $regex would also match string elements inside arrays.
                {field: {"$regex": re.escape(str(arg)), "$options": "i", "$not": {"$type": "array"}}},
            ]
        }
    if op == "$containsAny":
        # $elemMatch matches arrays only, as the SQLite adapter's json_each does.
        return {field: {"$elemMatch": {"$in": arg}}} if arg else MATCH_NOTHING
    if arg is None and op in ("$gt", "$gte", "$lt", "$lte"):
        return MATCH_NOTHING
    return {field: {op: arg}}


def _field(name: str) -> str:
    return "_id" if name == "id" else name


def _to_mongo(doc: dict) -> dict:
    if "_id" in doc:
        raise BadRequest("field '_id' is reserved")
    return {"_id": doc["id"], **{k: v for k, v in doc.items() if k != "id"}}


def _from_mongo(raw: dict) -> dict:
    doc = {"id": raw.pop("_id")}
    doc.update(raw)
    return doc


def _database_name(url: str) -> str | None:
    """The database named in a MongoDB URL's path, read the way pymongo reads it but without the
    DNS lookup that parsing a mongodb+srv:// URL would do."""
    hosts_and_path = url.split("://", 1)[-1].partition("?")[0]
    path = hosts_and_path.partition("/")[2]
    return unquote_plus(path).split(".", 1)[0] or None


@contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    try:
        yield
    except (ConnectionFailure, WriteConcernError, ExecutionTimeout) as exc:
        raise ServiceUnavailable(f"store unavailable: {exc}") from None
    except PyMongoError as exc:
        if any(exc.has_error_label(label) for label in RETRYABLE_LABELS):
            raise ServiceUnavailable(f"store unavailable: {exc}") from None
        raise


class MongoCollection(Collection):
    def __init__(self, store: "MongoStore", name: str, session: ClientSession | None = None):
        self._store = store
        self._name = name
        self._bound_session = session
        self._coll = store._db.get_collection(name, write_concern=MAJORITY, read_concern=READ_MAJORITY)

    def in_session(self, session: ClientSession | None) -> "MongoCollection":
        return MongoCollection(self._store, self._name, session)

    def _session(self) -> ClientSession | None:
        # A store-level collection used inside a transaction joins it, as with the SQLite adapter.
        if self._bound_session is not None:
            return self._bound_session
        return self._store._active_session()

    def _conflict(self, doc_id: Any, exc: DuplicateKeyError) -> Conflict:
        return Conflict(f"{self._name} {doc_id} collides with an existing record: {exc}")

    def _version(self, doc_id: Any, session: ClientSession | None) -> int | None:
        raw = self._coll.find_one({"_id": doc_id}, {"version": 1}, session=session)
        return raw["version"] if raw else None

    def get(self, doc_id: str) -> dict | None:
        with _unavailable_on_failure():
            self._store._declare()
            raw = self._coll.find_one({"_id": doc_id}, session=self._session())
        return _from_mongo(raw) if raw else None

    def insert(self, doc: dict) -> dict:
        stored = {**doc, "version": 1}
        with _unavailable_on_failure():
            self._store._declare()
            try:
                self._coll.insert_one(_to_mongo(stored), session=self._session())
            except DuplicateKeyError as exc:
                raise self._conflict(doc["id"], exc) from None
        return stored

    def insert_many(self, docs: list[dict]) -> list[dict]:
        stored = [{**doc, "version": 1} for doc in docs]
        if not stored:
            return stored
        with _unavailable_on_failure():
            self._store._declare()
            session = self._session()
            try:
                self._coll.insert_many([_to_mongo(doc) for doc in stored], ordered=True, session=session)
            except BulkWriteError as exc:
                failed = exc.details.get("writeErrors") or []
                if not failed or any(error.get("code") != DUPLICATE_KEY for error in failed):
                    raise
                if session is None or not session.in_transaction:
                    # Ordered: the documents before the refused one were written; a transaction
                    # would roll them back, without one they are taken back here.
                    written = [doc["id"] for doc in stored[: failed[0]["index"]]]
                    if written:
                        self._coll.delete_many({"_id": {"$in": written}}, session=session)
                raise Conflict(f"{self._name}: a document collides with an existing record: {failed[0]}") from None
        return stored

    def replace(self, doc: dict, expected_version: int | None = None) -> dict:
        doc_id = doc["id"]
        with _unavailable_on_failure():
            self._store._declare()
            session = self._session()
            base = expected_version if expected_version is not None else self._version(doc_id, session)
            if base is None:
                raise NotFound(f"{self._name} {doc_id} not found")
            stored = {**doc, "version": base + 1}
            try:
                result = self._coll.replace_one({"_id": doc_id, "version": base}, _to_mongo(stored), session=session)
            except DuplicateKeyError as exc:
                raise self._conflict(doc_id, exc) from None
            if result.matched_count == 1:
                return stored
            current = self._version(doc_id, session)
        if current is None:
            raise NotFound(f"{self._name} {doc_id} not found")
        if expected_version is None:
            raise PreconditionFailed(f"{self._name} {doc_id} changed concurrently")
        raise PreconditionFailed(f"{self._name} {doc_id} is at version {current}, not {expected_version}")

    def put(self, doc: dict) -> dict:
        doc_id = doc["id"]
        with _unavailable_on_failure():
            self._store._declare()
            session = self._session()
            # Compare-and-swap until no concurrent writer slips in between the read and the write.
            for _ in range(PUT_ATTEMPTS):
                current = self._version(doc_id, session)
                stored = {**doc, "version": (current or 0) + 1}
                try:
                    if current is None:
                        self._coll.insert_one(_to_mongo(stored), session=session)
                        return stored
                    result = self._coll.replace_one(
                        {"_id": doc_id, "version": current}, _to_mongo(stored), session=session
                    )
                    if result.matched_count == 1:
                        return stored
                except DuplicateKeyError as exc:
                    # An insert that clashes on the id lost a race with a concurrent put: go round
                    # again. Not inside a transaction, which the server has aborted by now.
                    if current is None and session is None and self._version(doc_id, None) is not None:
                        continue
                    raise self._conflict(doc_id, exc) from None
        raise ServiceUnavailable(f"{self._name} {doc_id} is being written too often to put")

    def delete(self, doc_id: str, expected_version: int | None = None) -> bool:
        with _unavailable_on_failure():
            self._store._declare()
            session = self._session()
            if expected_version is None:
                return self._coll.delete_one({"_id": doc_id}, session=session).deleted_count == 1
            result = self._coll.delete_one({"_id": doc_id, "version": expected_version}, session=session)
            if result.deleted_count == 1:
                return True
            if self._version(doc_id, session) is None:
                return False
        raise PreconditionFailed(f"{self._name} {doc_id} is not at version {expected_version}")

    def find(
        self, filter: dict | None = None, sort: Sort | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page:
        order = normalise_sort(sort)
        clauses = [filter] if filter else []
        if cursor:
            clauses.append(after_cursor(order, decode_cursor(cursor, order)))
        query = mongo_filter({"$and": clauses}) if clauses else {}
        with _unavailable_on_failure():
            self._store._declare()
            found = self._coll.find(query, session=self._session())
            raws = list(found.sort([(_field(f), d) for f, d in order]).limit(max(limit, 0) + 1))
        items = [_from_mongo(raw) for raw in raws[:limit]]
        next_cursor = encode_cursor(items[-1], order) if len(raws) > limit and items else None
        return Page(items, next_cursor)

    def count(self, filter: dict | None = None) -> int:
        query = mongo_filter(filter) if filter else {}
        with _unavailable_on_failure():
            self._store._declare()
            return self._coll.count_documents(query, session=self._session())


class _MongoTransaction(Transaction):
    def __init__(self, store: "MongoStore", session: ClientSession | None):
        self._store = store
        self.session = session

    def __getitem__(self, name: str) -> Collection:
        return self._store[name].in_session(self.session)


class MongoStore(DocumentStore):
    """One MongoDB database. With `transactions=True` (production) `transaction()` runs a
    multi-document transaction, which needs a replica set or sharded cluster (a single-node replica
    set will do); `transactions=False` is for servers and fakes without transactions (mongomock):
    the writes then apply one by one and are not rolled back on error.

    The database is `database` if given, else the one in the URL path, else "crm". Nothing
    touches the network until the first operation, which also creates the declared collections and
    indexes."""

    def __init__(
        self,
        url: str,
        specs: tuple[CollectionSpec, ...],
        *,
        client: Any = None,
        transactions: bool = True,
        database: str | None = None,
    ):
        if client is None:
            options: dict[str, Any] = {"w": "majority", "readConcernLevel": "majority", "connect": False}
            if "serverselectiontimeoutms" not in url.lower():
                options["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
            client = MongoClient(url, **options)
        self._client = client
        self._db = client.get_database(database or _database_name(url) or DEFAULT_DATABASE)
        self._specs = tuple(specs)
        self._transactions = transactions
        self._declared = False
        self._declare_lock = threading.Lock()
        self._local = threading.local()
        self._collections = {spec.name: MongoCollection(self, spec.name) for spec in self._specs}

    def _declare(self) -> None:
        if self._declared:
            return
        with self._declare_lock:
            if self._declared:
                return
            existing = set(self._db.list_collection_names())
            for spec in self._specs:
                # Created up front because older servers cannot create a collection inside a transaction.
                if spec.name not in existing:
                    with suppress(CollectionInvalid):
                        self._db.create_collection(spec.name)
                collection = self._db.get_collection(spec.name, write_concern=MAJORITY)
                for index in spec.indexes:
                    keys = [(_field(f), 1) for f in index.fields]
                    if keys == [("_id", 1)]:
                        continue  # MongoDB always indexes _id, uniquely
                    options: dict[str, Any] = {"name": "ix_" + "_".join(f.replace(".", "_") for f in index.fields)}
                    if index.unique:
                        options["unique"] = True
                        options["partialFilterExpression"] = {key: {"$type": PRESENT_TYPES} for key, _ in keys}
                    collection.create_index(keys, **options)
            self._declared = True

    def _active_session(self) -> ClientSession | None:
        tx = getattr(self._local, "tx", None)
        return tx.session if tx is not None else None

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        outer = getattr(self._local, "tx", None)
        if outer is not None:  # nested: join the outer transaction
            yield outer
            return
        with _unavailable_on_failure():
            self._declare()
            session = self._client.start_session() if self._transactions else None
        tx = _MongoTransaction(self, session)
        self._local.tx = tx
        try:
            if session is None:
                yield tx
                return
            with _unavailable_on_failure():
                session.start_transaction(read_concern=SNAPSHOT, write_concern=MAJORITY)
            try:
                yield tx
            except BaseException:
                with suppress(PyMongoError):
                    session.abort_transaction()
                raise
            with _unavailable_on_failure():
                session.commit_transaction()
        finally:
            self._local.tx = None
            if session is not None:
                session.end_session()

    def ping(self) -> None:
        with _unavailable_on_failure():
            self._client.admin.command("ping")
            self._declare()

    def close(self) -> None:
        self._client.close()
