"""The document-store port: what every service's repository is written against."""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ..envelope import Event
from ..errors import Conflict

OUTBOX = "_outbox"
PROCESSED_EVENTS = "_processed_events"
FAILED_EVENTS = "_failed_events"


@dataclass(frozen=True)
class Index:
    """An index on one or more document fields (dotted paths); unique ignores null/missing."""

    fields: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    indexes: tuple[Index, ...] = ()


@dataclass
class Page:
    items: list[dict]
    next_cursor: str | None = None


Sort = list[tuple[str, int]]  # (field, 1 ascending | -1 descending); id is always the tie-break

# Collections every service store carries for the messaging machinery.
MESSAGING_COLLECTIONS = (
    CollectionSpec(OUTBOX, (Index(("status", "id")),)),
    CollectionSpec(PROCESSED_EVENTS),
    CollectionSpec(FAILED_EVENTS, (Index(("status", "next_attempt_at")),)),
)


class Collection(ABC):
    """Documents are JSON objects with a string `id`; the store owns `version` (starts at 1)."""

    @abstractmethod
    def get(self, doc_id: str) -> dict | None: ...

    @abstractmethod
    def insert(self, doc: dict) -> dict:
        """Raises Conflict when the id or a unique index value is taken."""

    def insert_many(self, docs: list[dict]) -> list[dict]:
        """Insert several new documents in one round trip (an import's chunk); the stored
        documents, in order. All or none: Conflict, and none of them written, when an id or a
        unique index value is taken, by a stored document or by another of `docs`."""
        stored: list[dict] = []
        try:
            for doc in docs:
                stored.append(self.insert(doc))
        except Conflict:
            for doc in stored:
                self.delete(doc["id"])
            raise
        return stored

    @abstractmethod
    def replace(self, doc: dict, expected_version: int | None = None) -> dict:
        """Replace the whole document; PreconditionFailed on a version mismatch, NotFound if absent."""

    @abstractmethod
    def put(self, doc: dict) -> dict:
        """Insert or replace regardless of version (projections and bookkeeping)."""

    @abstractmethod
    def delete(self, doc_id: str, expected_version: int | None = None) -> bool: ...

    @abstractmethod
    def find(
        self, filter: dict | None = None, sort: Sort | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page:
        """Filter (see query.py for the grammar), keyset-paginated: fast at any depth."""

    @abstractmethod
    def count(self, filter: dict | None = None) -> int: ...

    def iterate(self, filter: dict | None = None, sort: Sort | None = None, batch: int = 500) -> Iterator[dict]:
        cursor = None
        while True:
            page = self.find(filter, sort, batch, cursor)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor


class Transaction(ABC):
    """One local transaction: document writes and outbox events commit together or not at all.
    Adapters set `_store` to the DocumentStore the transaction belongs to."""

    _store: "DocumentStore"

    @abstractmethod
    def __getitem__(self, name: str) -> Collection: ...

    def emit(self, event: Event) -> None:
        # `record` names the aggregate so the relay can keep each record's events in order.
        record = f"{event.source}:{event.payload.get('id', '')}"
        self[OUTBOX].insert({"id": event.event_id, "status": "pending", "record": record, "event": event.as_dict()})
        self._store.emitted += 1

    def emit_many(self, events: list[Event]) -> None:
        """`emit` for several events, written to the outbox in one bulk insert."""
        if not events:
            return
        self[OUTBOX].insert_many(
            [
                {
                    "id": event.event_id,
                    "status": "pending",
                    "record": f"{event.source}:{event.payload.get('id', '')}",
                    "event": event.as_dict(),
                }
                for event in events
            ]
        )
        self._store.emitted += len(events)


class DocumentStore(ABC):
    """Adapters fill `_collections` with one Collection per declared spec."""

    _collections: dict[str, Collection]
    emitted = 0  # events this process wrote to the outbox: the relay wakes only when it grows

    def __getitem__(self, name: str) -> Collection:
        try:
            return self._collections[name]
        except KeyError:
            raise KeyError(f"collection {name!r} was not declared") from None

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]: ...

    @abstractmethod
    def ping(self) -> None:
        """Raise when the store cannot serve requests."""

    @abstractmethod
    def close(self) -> None: ...


def open_store(url: str, specs: tuple[CollectionSpec, ...], **options: Any) -> DocumentStore:
    """`sqlite:///path/file.db` or `mongodb://...`; declares collections and their indexes."""
    all_specs = tuple(specs) + MESSAGING_COLLECTIONS
    if url.startswith("sqlite://"):
        from .sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite://"), all_specs, **options)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from .mongo import MongoStore

        return MongoStore(url, all_specs, **options)
    raise ValueError(f"unsupported store URL scheme: {url.split(':', 1)[0]!r}")
