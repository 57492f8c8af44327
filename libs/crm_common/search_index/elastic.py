"""The Elasticsearch search adapter: explicit mapping, external versions, SQLite-equal matching."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError, TransportError, UnsupportedProductError

from ..errors import ServiceUnavailable
from . import SearchDoc, SearchHit, SearchIndex, SearchQuery, SearchResult
from .text import cjk_grams, decode_search_cursor, encode_search_cursor, has_cjk, highlight, query_terms

TITLE_BOOST = 2.0
FACET_SIZE = 100  # more entity types than the CRM will ever have
SOURCE_FIELDS = ["type", "id", "title", "body", "fields"]
# Fields added to the mapping after the first release: put onto an index created before them.
ADDED_PROPERTIES: dict[str, Any] = {"access": {"type": "keyword"}}

SETTINGS: dict[str, Any] = {
    # Writes do not wait for a refresh (throughput); a write becomes searchable within this
    # interval. get() is realtime and never waits.
    "index": {"refresh_interval": "1s"},
    "analysis": {
        "tokenizer": {
            # min_gram == max_gram, so the default index.max_ngram_diff (1) is enough. No
            # token_chars: grams span punctuation so "@example.com" and "010-4242" fragments match.
            "crm_trigram": {"type": "ngram", "min_gram": 3, "max_gram": 3},
        },
        "filter": {
            "crm_cjk_bigram": {"type": "cjk_bigram", "output_unigrams": True},
        },
        "analyzer": {
            "crm_trigram": {"type": "custom", "tokenizer": "crm_trigram", "filter": ["lowercase"]},
            "crm_cjk": {"type": "custom", "tokenizer": "standard", "filter": ["crm_cjk_bigram", "lowercase"]},
        },
    },
}

_TEXT = {
    "type": "text",
    "analyzer": "standard",
    "fields": {
        "ngram": {"type": "text", "analyzer": "crm_trigram"},
        "cjk": {"type": "text", "analyzer": "crm_cjk"},
    },
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "dynamic_templates": [
        {"fields_strings": {"path_match": "fields.*", "match_mapping_type": "string", "mapping": {"type": "keyword"}}},
    ],
    "properties": {
        "key": {"type": "keyword"},
        "type": {"type": "keyword"},
        "id": {"type": "keyword"},
        "title": _TEXT,
        "body": _TEXT,
        "fields": {"type": "object", "dynamic": True},
        "version": {"type": "long"},
        # The SQLite adapter accepts any string here; a malformed date must not refuse the record.
        "updated_at": {"type": "date", "ignore_malformed": True},
        "deleted": {"type": "boolean"},
        # The record's access tokens; a query with access tokens keeps docs sharing one (`terms`).
        **ADDED_PROPERTIES,
    },
}


def _key(doc_type: str, doc_id: str) -> str:
    return f"{doc_type}:{doc_id}"


@contextmanager
def _unavailable_on_failure(operation: str) -> Iterator[None]:
    """Connection errors, timeouts, 5xx, 429 and a non-Elasticsearch server -> ServiceUnavailable."""
    try:
        yield
    except TransportError as exc:
        raise ServiceUnavailable(f"search index unavailable ({operation}): {exc}") from None
    except ApiError as exc:
        if isinstance(exc, UnsupportedProductError) or exc.status_code >= 500 or exc.status_code == 429:
            raise ServiceUnavailable(f"search index unavailable ({operation}): {exc}") from None
        raise


def _term_clause(term: str) -> dict[str, Any]:
    """One query term, matched the way the SQLite adapter matches it."""
    if has_cjk(term):
        # Every CJK bigram of the term must be indexed (a lone character: the unigram). A
        # `match` with operator and would not do: with output_unigrams the bigrams are graph
        # synonyms of their unigrams, so 张伟 would also match 张三 … 李伟.
        grams = cjk_grams(term).split()
        bigrams = [g for g in grams if len(g) == 2] or grams
        return {
            "bool": {
                "must": [
                    {
                        "bool": {
                            "should": [
                                {"term": {"title.cjk": {"value": g, "boost": TITLE_BOOST}}},
                                {"term": {"body.cjk": g}},
                            ],
                            "minimum_should_match": 1,
                        }
                    }
                    for g in bigrams
                ]
            }
        }
    if len(term) >= 3:
        # A phrase over consecutive trigrams is an exact substring (like FTS5's trigram phrase);
        # operator and would also accept the term's trigrams scattered through the text.
        return {
            "multi_match": {"query": term, "type": "phrase", "fields": [f"title.ngram^{TITLE_BOOST:g}", "body.ngram"]}
        }
    # A prefix query, not match_phrase_prefix: that one stops at max_expansions (50) terms,
    # which a one- or two-letter prefix exceeds in any real index.
    return {
        "bool": {
            "should": [{"prefix": {"title": {"value": term, "boost": TITLE_BOOST}}}, {"prefix": {"body": term}}],
            "minimum_should_match": 1,
        }
    }


def _filter_clause(name: str, accepted: list) -> dict[str, Any]:
    if not accepted:
        # No accepted value matches nothing, as in the SQLite adapter (an empty bool would match all).
        return {"match_none": {}}
    values = [v for v in accepted if v is not None]
    options: list[dict[str, Any]] = []
    if values:
        options.append({"terms": {f"fields.{name}": values}})
    if len(values) != len(accepted):
        options.append({"bool": {"must_not": [{"exists": {"field": f"fields.{name}"}}]}})
    return {"bool": {"should": options, "minimum_should_match": 1}}


def search_body(terms: list[str], query: SearchQuery) -> dict[str, Any]:
    """The _search request for the terms (all must match), filters, sort, page and facets."""
    filters: list[dict[str, Any]] = [{"term": {"deleted": False}}]
    if query.types:
        filters.append({"terms": {"type": list(query.types)}})
    filters.extend(_filter_clause(name, accepted) for name, accepted in query.filters.items())
    if query.access is not None:
        # In the filter context, so hits, the total and the facets all count visible docs only.
        tokens = sorted(set(query.access))
        filters.append({"terms": {"access": tokens}} if tokens else {"match_none": {}})
    body: dict[str, Any] = {
        "query": {"bool": {"must": [_term_clause(t) for t in terms], "filter": filters}},
        "sort": [{"_score": "desc"}, {"key": "asc"}],
        "size": query.limit + 1,  # one more than asked: is there a next page?
        "track_total_hits": True,
        "aggs": {"type": {"terms": {"field": "type", "size": FACET_SIZE}}},
        "_source": SOURCE_FIELDS,
    }
    if query.cursor:
        body["search_after"] = decode_search_cursor(query.cursor)
    return body


class ElasticIndex(SearchIndex):
    def __init__(
        self, url: str, *, index: str = "crm-search", client: Elasticsearch | None = None, request_timeout: float = 5.0
    ):
        self._client = client or Elasticsearch(url, request_timeout=request_timeout)
        self._index = index
        self._ready = False
        self._lock = threading.Lock()

    def _ensure_index(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            with _unavailable_on_failure("create index"):
                if not self._client.indices.exists(index=self._index):
                    try:
                        self._client.indices.create(index=self._index, settings=SETTINGS, mappings=MAPPINGS)
                    except ApiError as exc:
                        # Another process created it between our check and our create.
                        if exc.error != "resource_already_exists_exception":
                            raise
                        self._add_new_properties()
                else:
                    self._add_new_properties()
            self._ready = True

    def _add_new_properties(self) -> None:
        """An index created by an older release has a strict mapping without the newer fields;
        adding a field is allowed and idempotent. Its older docs carry no access tokens, so only
        unrestricted queries find them until their records are written again."""
        self._client.indices.put_mapping(index=self._index, properties=ADDED_PROPERTIES)

    def _write(self, key: str, source: dict[str, Any], version: int) -> bool:
        self._ensure_index()
        try:
            with _unavailable_on_failure("index"):
                self._client.index(
                    index=self._index, id=key, document=source, version=version, version_type="external", refresh=False
                )
        except ConflictError:
            return False  # the index holds the same or a newer version
        return True

    def upsert(self, doc: SearchDoc) -> bool:
        key = _key(doc.type, doc.id)
        return self._write(
            key,
            {
                "key": key,
                "type": doc.type,
                "id": doc.id,
                "title": doc.title,
                "body": doc.body,
                "fields": doc.fields,
                "version": doc.version,
                "updated_at": doc.updated_at or None,
                "deleted": False,
                "access": list(doc.access),
            },
            doc.version,
        )

    def delete(self, doc_type: str, doc_id: str, version: int) -> bool:
        # A tombstone, not a DELETE: its external version keeps refusing late older upserts.
        key = _key(doc_type, doc_id)
        return self._write(
            key,
            {
                "key": key,
                "type": doc_type,
                "id": doc_id,
                "title": "",
                "body": "",
                "fields": {},
                "version": version,
                "updated_at": None,
                "deleted": True,
                "access": [],
            },
            version,
        )

    def get(self, doc_type: str, doc_id: str) -> SearchDoc | None:
        self._ensure_index()
        try:
            with _unavailable_on_failure("get"):
                found = self._client.get(index=self._index, id=_key(doc_type, doc_id))
        except NotFoundError:
            return None
        source = found["_source"]
        if source.get("deleted"):
            return None
        return SearchDoc(
            source["type"],
            source["id"],
            source["title"],
            source["version"],
            source.get("body", ""),
            source.get("fields") or {},
            source.get("updated_at") or "",
            list(source.get("access") or []),
        )

    def search(self, query: SearchQuery) -> SearchResult:
        terms = query_terms(query.text)
        if not terms:
            return SearchResult([], {"type": {}}, 0)
        body = search_body(terms, query)
        self._ensure_index()
        with _unavailable_on_failure("search"):
            response = self._client.search(index=self._index, **body)
        rows = response["hits"]["hits"]
        hits = []
        for row in rows[: query.limit]:
            source = row["_source"]
            title, text = source.get("title", ""), source.get("body", "")
            marks = [h for h in (highlight(title, terms), highlight(text, terms)) if h]
            hits.append(
                SearchHit(source["type"], source["id"], title, float(row["sort"][0]), marks, source.get("fields") or {})
            )
        next_cursor = None
        if len(rows) > query.limit and hits:
            next_cursor = encode_search_cursor(list(rows[query.limit - 1]["sort"]))
        buckets = response["aggregations"]["type"]["buckets"]
        facets = {"type": {b["key"]: b["doc_count"] for b in buckets}}
        return SearchResult(hits, facets, response["hits"]["total"]["value"], next_cursor)

    def refresh(self) -> None:
        """Make every acknowledged write searchable now (tests; production waits refresh_interval)."""
        self._ensure_index()
        with _unavailable_on_failure("refresh"):
            self._client.indices.refresh(index=self._index)

    def ping(self) -> None:
        # Any failure, a refused authentication included, means the cluster cannot serve us.
        try:
            self._client.info()
        except (ApiError, TransportError) as exc:
            raise ServiceUnavailable(f"search index unavailable (ping): {exc}") from None

    def close(self) -> None:
        self._client.close()
