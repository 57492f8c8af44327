"""The search-index port: one index of every entity, versioned per record, queried by one box."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

# Keyword fields of `SearchDoc.fields` (plus the doc's type) that a query can count (facets).
FACETABLE = (
    "type",
    "owner_id",
    "stage_id",
    "status",
    "value_grade",
    "priority",
    "team_id",
    "pipeline_id",
    "kind",
    "currency",
)
# Fields a query can bound: dates (ISO strings, compared as strings) and numbers.
RANGEABLE = ("created_at", "updated_at", "amount", "expected_close_date", "ordered_at", "occurred_at", "value_score")
# Counting every match of a broad term costs a scan of all of them: past this many, the total is
# a lower bound (`total_relation: "gte"`) and the facets count the first matches only.
TOTAL_EXACT_UP_TO = 10_000
# The facet key for a doc that lacks the field (or holds null there).
MISSING_FACET_VALUE = ""


@dataclass
class SearchDoc:
    """One searchable record. `version` orders writes per record: an older one never wins.
    `access` holds the record's access tokens (crm_common.access.record_tokens): a query with
    `access` finds it only when the two lists share a token. `fields` holds the filter, facet and
    range material (FACETABLE keywords, RANGEABLE dates as ISO strings and numbers)."""

    type: str
    id: str
    title: str
    version: int
    body: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    updated_at: str = ""
    access: list[str] = field(default_factory=list)
    created_at: str = ""


@dataclass
class SearchQuery:
    # Every term must match. "" browses: allowed only together with filters or ranges.
    text: str
    types: list[str] | None = None
    # field -> accepted values (OR within, AND across); None among them accepts a missing field.
    filters: dict[str, list] = field(default_factory=dict)
    # RANGEABLE field -> (gte or None, lt or None); dates compare as ISO strings.
    ranges: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # FACETABLE fields to count over the visible matches.
    facets: tuple[str, ...] = ("type",)
    limit: int = 20
    cursor: str | None = None
    # The caller's access tokens: only docs whose `access` meets them count, in hits, total and
    # facets alike. None means no restriction (admins, the system); [] finds nothing.
    access: list[str] | None = None
    # ISO time the recency boost measures age against; None: the current time. Paging callers
    # pass the first page's `now` so scores (and so the cursor) stay comparable.
    now: str | None = None


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
    facets: dict[str, dict[str, int]]  # field -> value ("" for missing) -> count
    total: int
    next_cursor: str | None = None
    total_relation: str = "eq"  # "gte" when total was capped at TOTAL_EXACT_UP_TO


class SearchIndex(ABC):
    @abstractmethod
    def upsert(self, doc: SearchDoc) -> bool:
        """Store the doc unless the index holds the same or a newer version; True when written."""

    @abstractmethod
    def upsert_many(self, docs: list[SearchDoc]) -> int:
        """Bulk upsert with the same per-doc version guard; how many docs were written."""

    @abstractmethod
    def delete(self, doc_type: str, doc_id: str, version: int) -> bool:
        """Remove the doc unless a newer version is indexed; remembers the version (tombstone)."""

    @abstractmethod
    def get(self, doc_type: str, doc_id: str) -> SearchDoc | None: ...

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchResult: ...

    @abstractmethod
    def versions(self, doc_type: str, after_id: str | None, limit: int) -> list[tuple[str, int, bool]]:
        """(id, version, deleted) of one type in id order after `after_id`, tombstones included:
        the consistency check pages these against the sources."""

    @abstractmethod
    def count(self, doc_type: str | None = None) -> int:
        """Live docs (tombstones not counted), of one type or all."""

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
