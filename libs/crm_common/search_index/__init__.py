"""The search-index port: one index of every entity, versioned per record, queried by one box."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

FACET_FIELDS = ("type",)


@dataclass
class SearchDoc:
    """One searchable record. `version` orders writes per record: an older one never wins.
    `access` holds the record's access tokens (crm_common.access.record_tokens): a query with
    `access` finds it only when the two lists share a token."""

    type: str
    id: str
    title: str
    version: int
    body: str = ""
    fields: dict[str, Any] = field(default_factory=dict)  # filterable keywords: owner_id, stage...
    updated_at: str = ""
    access: list[str] = field(default_factory=list)


@dataclass
class SearchQuery:
    text: str
    types: list[str] | None = None
    filters: dict[str, list] = field(default_factory=dict)  # field -> accepted values (OR within, AND across)
    limit: int = 20
    cursor: str | None = None
    # The caller's access tokens: only docs whose `access` meets them count, in hits, total and
    # facets alike. None means no restriction (admins, the system); [] finds nothing.
    access: list[str] | None = None


@dataclass
class SearchHit:
    type: str
    id: str
    title: str
    score: float
    highlights: list[str]
    fields: dict[str, Any]


@dataclass
class SearchResult:
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]]
    total: int
    next_cursor: str | None = None


class SearchIndex(ABC):
    @abstractmethod
    def upsert(self, doc: SearchDoc) -> bool:
        """Store the doc unless the index holds the same or a newer version; True when written."""

    @abstractmethod
    def delete(self, doc_type: str, doc_id: str, version: int) -> bool:
        """Remove the doc unless a newer version is indexed; remembers the version (tombstone)."""

    @abstractmethod
    def get(self, doc_type: str, doc_id: str) -> SearchDoc | None: ...

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchResult: ...

    @abstractmethod
    def ping(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


def open_search_index(url: str, **options: Any) -> SearchIndex:
    """`sqlite:///path/search.db` or `http(s)://host:9200` (Elasticsearch)."""
    if url.startswith("sqlite://"):
        from .sqlite_fts import SqliteFtsIndex

        return SqliteFtsIndex(url.removeprefix("sqlite://"), **options)
    if url.startswith(("http://", "https://")):
        from .elastic import ElasticIndex

        return ElasticIndex(url, **options)
    raise ValueError(f"unsupported search index URL scheme: {url.split(':', 1)[0]!r}")
