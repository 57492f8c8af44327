"""The search index as a nameko dependency: opened once per container from SEARCH_INDEX_URL, and
the `crm_search_documents{type}` gauge read from it at each scrape.

The embedded SQLite index works in C that eventlet cannot switch out of: run on the hub, a reindex
batch's write (or a search) holds every other RPC of the process until it ends. So its calls run in
OS threads (eventlet.tpool) while the hub goes on serving; SQLite lets go of the GIL as it works.
The Elasticsearch adapter waits on green sockets and stays on the hub."""

import os
from collections.abc import Callable
from typing import TypeVar

from eventlet import tpool
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from crm_common.config import data_dir
from crm_common.search_index import SearchDoc, SearchIndex, SearchQuery, SearchResult, open_search_index
from crm_common.search_index.sqlite_fts import SqliteFtsIndex

from .domain import TYPES


def search_index_url() -> str:
    return os.environ.get("SEARCH_INDEX_URL") or f"sqlite:///{os.path.join(data_dir(), 'search-index.db')}"


class DocumentCounts:
    """Live documents per type, counted by the index when Prometheus scrapes (not kept in step by
    hand: a reindex, a fix or an event all change it). One per process, registered at import: it
    counts the index of the container that opened one last (there is one container per process)."""

    index: SearchIndex | None = None

    def collect(self):
        gauge = GaugeMetricFamily("crm_search_documents", "Searchable documents in the index", labels=["type"])
        if self.index is not None:
            for doc_type in TYPES:
                gauge.add_metric([doc_type], self.index.count(doc_type))
        yield gauge


DOCUMENTS = DocumentCounts()
REGISTRY.register(DOCUMENTS)


T = TypeVar("T")


class ThreadedIndex(SearchIndex):
    """An index whose every call runs in an OS thread from eventlet's pool, the caller's greenthread
    waiting green. Writes enter one at a time: the adapter's write lock is a green one under nameko
    (threading is patched), which a thread outside the hub must not wait on, so they queue here, on
    the hub, first. Reads run side by side (the adapter gives each its own connection)."""

    def __init__(self, index: SearchIndex):
        self.index = index
        self._writing = Semaphore()

    def _read(self, call: Callable[..., T], *args) -> T:
        return tpool.execute(call, *args)

    def _write(self, call: Callable[..., T], *args) -> T:
        with self._writing:
            return tpool.execute(call, *args)

    def upsert(self, doc: SearchDoc) -> bool:
        return self._write(self.index.upsert, doc)

    def upsert_many(self, docs: list[SearchDoc]) -> int:
        return self._write(self.index.upsert_many, docs)

    def delete(self, doc_type: str, doc_id: str, version: int) -> bool:
        return self._write(self.index.delete, doc_type, doc_id, version)

    def get(self, doc_type: str, doc_id: str) -> SearchDoc | None:
        return self._read(self.index.get, doc_type, doc_id)

    def search(self, query: SearchQuery) -> SearchResult:
        return self._read(self.index.search, query)

    def versions(self, doc_type: str, after_id: str | None, limit: int) -> list[tuple[str, int, bool]]:
        return self._read(self.index.versions, doc_type, after_id, limit)

    def count(self, doc_type: str | None = None) -> int:
        return self._read(self.index.count, doc_type)

    def ping(self) -> None:
        self._read(self.index.ping)

    def close(self) -> None:
        with self._writing:  # after the write under way, if any
            self.index.close()


def served_index(url: str) -> SearchIndex:
    """The index at `url` as the service calls it: the SQLite one through OS threads."""
    index = open_search_index(url)
    return ThreadedIndex(index) if isinstance(index, SqliteFtsIndex) else index


class Index(DependencyProvider):
    def setup(self) -> None:
        self.index: SearchIndex = served_index(search_index_url())
        DOCUMENTS.index = self.index

    def stop(self) -> None:
        if DOCUMENTS.index is self.index:
            DOCUMENTS.index = None
        self.index.close()

    def get_dependency(self, worker_ctx) -> SearchIndex:
        return self.index
