"""The search index as a nameko dependency: opened once per container from SEARCH_INDEX_URL, and
the `crm_search_documents{type}` gauge read from it at each scrape."""

import os

from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from crm_common.config import data_dir
from crm_common.search_index import SearchIndex, open_search_index

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


class Index(DependencyProvider):
    def setup(self) -> None:
        self.index: SearchIndex = open_search_index(search_index_url())
        DOCUMENTS.index = self.index

    def stop(self) -> None:
        if DOCUMENTS.index is self.index:
            DOCUMENTS.index = None
        self.index.close()

    def get_dependency(self, worker_ctx) -> SearchIndex:
        return self.index
