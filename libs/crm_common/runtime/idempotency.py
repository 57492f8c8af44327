"""Effectively-once RPCs: a request the gateway retries with the same Idempotency-Key runs once.

The gateway sends a scoped key (a hash of the credential, the Idempotency-Key, the method and the
path) in the RPC context as `idempotency_key`. For an RPC worker with that key the Store
dependency hands out a `KeyedStore`, which:

- before the method runs, looks for the call's record in `idempotent_calls` (id
  `<key>:<rpc method>:<hash of the arguments>`): with a stored outcome the method does not run
  again and the first result (or the first typed error) is answered; a record without an outcome
  (the first attempt is still running, or its process died after its write committed) answers
  `ServiceUnavailable` (503 with Retry-After at the gateway, which keeps no response for a 5xx),
  so the client retries later;
- inserts the record `{id, state: "applied", method, created_at}` inside the first transaction of
  the worker that writes, just before it commits: the record and the write commit together or not
  at all. A concurrent duplicate that got past the look-up fails on the record's unique id, its
  whole transaction rolls back (nothing half-written) and it answers the same retryable 503;
- after the method returns (before the reply leaves), stores its result on the record (state
  "done"); a typed error raised after the write committed is stored and answered the same way.

A call that writes nothing (a read, a validation error) leaves no record and simply runs again.
Records are pruned after IDEMPOTENCY_TTL_SECONDS (the gateway's setting, default 24 h). Calls a
service makes to another service do not carry the key (see runtime/rpc.py): only the call the
gateway made on behalf of the client is deduplicated.
"""

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kombu.utils.json import dumps as wire_dumps
from kombu.utils.json import loads as wire_loads

from ..config import int_setting
from ..errors import ALL_ERRORS, Conflict, CrmError, ServiceUnavailable, error_from_remote
from ..ids import utc_now
from ..store import Collection, CollectionSpec, DocumentStore, Index, Page, Sort, Transaction

log = logging.getLogger(__name__)

IDEMPOTENT_CALLS = "idempotent_calls"
IDEMPOTENT_CALLS_SPEC = CollectionSpec(IDEMPOTENT_CALLS, (Index(("created_at",)),))
CONTEXT_KEY = "idempotency_key"  # the context-data key the gateway's scoped key travels under
IN_PROGRESS = "a request with this Idempotency-Key is still being applied; retry after Retry-After"
PRUNE_CHANCE = 0.01  # about one recorded call in a hundred also removes expired records
_ERROR_PATHS = {cls: f"{cls.__module__}.{cls.__name__}" for cls in ALL_ERRORS}


def ttl_seconds() -> int:
    """As long as the gateway keeps a key: a retry within it finds the record."""
    return int_setting("IDEMPOTENCY_TTL_SECONDS", 24 * 3600)


def call_id(key: str, method: str, args: tuple, kwargs: dict) -> str:
    """`<key>:<method>:<arguments hash>`: two different RPCs of one request do not collide."""
    arguments = wire_dumps([list(args), kwargs], sort_keys=True, default=str)
    return f"{key}:{method}:{hashlib.sha256(arguments.encode()).hexdigest()[:16]}"


def prune_idempotent_calls(store: DocumentStore, now: float, batch: int = 500) -> int:
    """Forget call records older than IDEMPOTENCY_TTL_SECONDS; the number removed."""
    try:
        calls = store[IDEMPOTENT_CALLS]
    except KeyError:
        return 0  # a store opened without the runtime's collections
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - ttl_seconds())) + ".000000Z"
    removed = 0
    while True:
        old = calls.find({"created_at": {"$lt": cutoff}}, [("created_at", 1)], limit=batch).items
        for record in old:
            removed += calls.delete(record["id"])
        if len(old) < batch:
            return removed


def _error_record(exc: BaseException) -> dict:
    if isinstance(exc, CrmError) and type(exc) in _ERROR_PATHS:
        return {"path": _ERROR_PATHS[type(exc)], "args": wire_loads(wire_dumps(list(exc.args), default=str))}
    detail = f"the first attempt of this request failed after it was applied: {type(exc).__name__}"
    return {"path": _ERROR_PATHS[CrmError], "args": [detail]}


def _replay_error(error: dict) -> CrmError:
    return error_from_remote(error.get("path"), error.get("args")) or CrmError(str(error))


class IdempotentCall:
    """One keyed RPC worker: its record id, and whether its record has been committed."""

    def __init__(self, store: DocumentStore, record_id: str, method: str):
        self.store, self.record_id, self.method = store, record_id, method
        self.recorded = False

    def existing(self) -> dict | None:
        return self.store[IDEMPOTENT_CALLS].get(self.record_id)

    def record(self) -> dict:
        return {"id": self.record_id, "state": "applied", "method": self.method, "created_at": utc_now()}

    def finish(self, outcome: dict) -> None:
        """Store the outcome on the committed record (no-op when the call wrote nothing)."""
        if not self.recorded:
            return
        calls = self.store[IDEMPOTENT_CALLS]
        try:
            current = calls.get(self.record_id)
            if current is not None:
                calls.replace({**current, **outcome, "state": "done"}, current["version"])
        except (CrmError, TypeError, ValueError):
            # The write stands; a retry meets the record without an outcome and gets the 503
            # until the record expires. Logged: it needs a look.
            log.error("could not store the outcome of idempotent call %s", self.record_id, exc_info=True)

    def run(self, method: Callable, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(*args, **kwargs)
        except Exception as exc:
            self.finish({"error": _error_record(exc)})
            raise
        try:
            stored = wire_loads(wire_dumps(result))  # what the caller receives over the wire
        except (TypeError, ValueError):
            log.error("result of idempotent call %s is not serialisable", self.record_id, exc_info=True)
            return result
        self.finish({"result": stored})
        return result

    @staticmethod
    def replay(existing: dict) -> Callable:
        """A stand-in for the RPC method that answers the stored outcome without running it."""
        if existing.get("state") == "done" and "error" in existing:
            error = _replay_error(existing["error"])

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise error

            return fail
        if existing.get("state") == "done":
            result = existing.get("result")
            return lambda *args, **kwargs: result
        return IdempotentCall.refuse(ServiceUnavailable(IN_PROGRESS))

    @staticmethod
    def refuse(error: Exception) -> Callable:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise error

        return fail


class _KeyedCollection(Collection):
    """A collection whose writes mark the worker as having written; outside a transaction each
    write runs in a transaction of its own, so the call's record commits with it."""

    def __init__(self, store: "KeyedStore", inner: Collection):
        self._keyed, self._inner = store, inner

    def _write(self, operation: str, *args: Any) -> Any:
        with self._keyed.transaction():
            self._keyed._wrote = True
            return getattr(self._inner, operation)(*args)

    def get(self, doc_id: str) -> dict | None:
        return self._inner.get(doc_id)

    def insert(self, doc: dict) -> dict:
        return self._write("insert", doc)

    def insert_many(self, docs: list[dict]) -> list[dict]:
        return self._write("insert_many", docs)

    def replace(self, doc: dict, expected_version: int | None = None) -> dict:
        return self._write("replace", doc, expected_version)

    def put(self, doc: dict) -> dict:
        return self._write("put", doc)

    def delete(self, doc_id: str, expected_version: int | None = None) -> bool:
        return self._write("delete", doc_id, expected_version)

    def find(
        self, filter: dict | None = None, sort: Sort | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page:
        return self._inner.find(filter, sort, limit, cursor)

    def count(self, filter: dict | None = None) -> int:
        return self._inner.count(filter)

    def iterate(self, filter: dict | None = None, sort: Sort | None = None, batch: int = 500) -> Iterator[dict]:
        return self._inner.iterate(filter, sort, batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _KeyedTransaction(Transaction):
    def __init__(self, keyed: "KeyedStore", inner: Transaction):
        self._keyed, self._inner, self._store = keyed, inner, keyed.inner

    def __getitem__(self, name: str) -> Collection:
        return _KeyedCollection(self._keyed, self._inner[name])


class KeyedStore(DocumentStore):
    """The service's store as one keyed RPC worker sees it (see the module docstring)."""

    def __init__(self, inner: DocumentStore, call: IdempotentCall):
        self.inner, self.call = inner, call
        self._depth = 0
        self._wrote = False

    def __getitem__(self, name: str) -> Collection:
        return _KeyedCollection(self, self.inner[name])

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        if self._depth:  # nested: join the outer transaction, as the adapters do
            with self.inner.transaction() as tx:
                yield _KeyedTransaction(self, tx)
            return
        self._depth, self._wrote = 1, False
        try:
            with self.inner.transaction() as tx:
                yield _KeyedTransaction(self, tx)
                if self._wrote and not self.call.recorded:
                    try:
                        tx[IDEMPOTENT_CALLS].insert(self.call.record())
                    except Conflict:
                        # A duplicate of this request committed first: roll all of this back.
                        raise ServiceUnavailable(IN_PROGRESS) from None
                    recording = True
                else:
                    recording = False
            if recording:
                self.call.recorded = True
                if random.random() < PRUNE_CHANCE:
                    self._prune()
        finally:
            self._depth, self._wrote = 0, False

    def _prune(self) -> None:
        try:
            prune_idempotent_calls(self.inner, time.time(), batch=200)
        except CrmError:
            log.warning("could not prune idempotent calls", exc_info=True)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
