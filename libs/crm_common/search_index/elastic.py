"""The Elasticsearch search adapter: explicit mapping, external versions, SQLite-equal matching."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError, TransportError, UnsupportedProductError

from ..errors import BadRequest, CrmError, ServiceUnavailable
from . import (
    FACETABLE,
    MISSING_FACET_VALUE,
    RANGEABLE,
    TOTAL_EXACT_UP_TO,
    SearchDoc,
    SearchHit,
    SearchIndex,
    SearchQuery,
    SearchResult,
)
from .text import (
    RECENCY_HALF_LIFE_DAYS,
    RECENCY_WEIGHT,
    cjk_grams,
    decode_search_cursor,
    encode_search_cursor,
    has_cjk,
    highlight,
    keyword_values,
    max_typos,
    parse_instant,
    query_now,
    query_terms,
)

TITLE_BOOST = 2.0
TYPO_WEIGHT = 0.5  # a term found only through a typo counts half
FACET_SIZE = 1000  # buckets per facet: every owner, stage or status a query can meet
FACETS_AGG = "facets"
SOURCE_FIELDS = ["type", "id", "title", "body", "fields"]
# The text a term is looked for in: `keywords` holds the human text of the doc's fields.
TEXT_FIELDS = ("title", "body", "keywords")
# Keyword fields a query may filter on: the facets' and the links a record view narrows by.
FILTERABLE = tuple(name for name in FACETABLE if name != "type") + ("contact_id", "company_id", "assignee_id")
NUMERIC_RANGES = ("amount", "value_score")

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
        # Lower-cased letter runs (text.words): what a typo'd term is compared with. A built-in
        # analyzer, so an index from before typo tolerance can take the field on (put mapping).
        "words": {"type": "text", "analyzer": "simple"},
    },
}

# The filter, facet and range material of `fields`, indexed with a fixed type each. Other keys
# stay in `fields` (returned with hits) without being indexed.
FILTER_MAPPING: dict[str, Any] = {
    "type": "object",
    "dynamic": False,
    "properties": {
        **{name: {"type": "keyword"} for name in FILTERABLE},
        **{name: {"type": "double" if name in NUMERIC_RANGES else "date"} for name in RANGEABLE},
    },
}

# Fields added to the mapping after the first release: put onto an index created before them
# (its docs lack them until their records are written again or reindexed).
ADDED_PROPERTIES: dict[str, Any] = {
    "access": {"type": "keyword"},
    "created_at": {"type": "date", "ignore_malformed": True},
    # updated_at, else created_at, as an instant: the recency boost's field.
    "recent_at": {"type": "date"},
    "f": FILTER_MAPPING,
    "title": _TEXT,
    "body": _TEXT,
    "keywords": _TEXT,
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "key": {"type": "keyword"},
        "type": {"type": "keyword"},
        "id": {"type": "keyword"},
        # Kept as sent, for hits and get(); `f` is its indexed part.
        "fields": {"type": "object", "enabled": False},
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


def _instant(value: Any) -> str | None:
    """An ISO date or date-time as UTC milliseconds, the one form Elasticsearch always parses."""
    moment = parse_instant(value) if isinstance(value, str) and value else None
    return _format_instant(moment) if moment else None


def _format_instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: Any) -> float | None:
    """A number, or a numeric string (money often travels as one) as a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _keyword(value: Any) -> Any:
    """Scalars and lists of them as they are; anything else is not a keyword."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, (str, int, float, bool))] or None
    return value if isinstance(value, (str, int, float, bool)) else None


def filter_material(doc: SearchDoc) -> dict[str, Any]:
    """`f`: the doc's filterable keywords and rangeable values, typed for the mapping. created_at
    and updated_at are the doc's own, as in the SQLite adapter."""
    material: dict[str, Any] = {}
    for name in FILTERABLE:
        value = _keyword(doc.fields.get(name))
        if value is not None:
            material[name] = value
    own_dates = {"created_at": doc.created_at, "updated_at": doc.updated_at}
    for name in RANGEABLE:
        raw = own_dates[name] if name in own_dates else doc.fields.get(name)
        value = _number(raw) if name in NUMERIC_RANGES else _instant(raw)
        if value is not None:
            material[name] = value
    return material


def _bigrams(term: str) -> list[str]:
    """A CJK term's bigrams (a lone character: itself), every one of which must be indexed. A
    `match` with operator and would not do: with output_unigrams the bigrams are graph synonyms
    of their unigrams, so 张伟 would also match 张三 … 李伟."""
    grams = cjk_grams(term).split()
    return [g for g in grams if len(g) == 2] or grams


def _found_in(field: str, term: str) -> dict[str, Any]:
    """The term as written in one text field: CJK bigrams, a substring, or a word's prefix."""
    if has_cjk(term):
        return {"bool": {"must": [{"term": {f"{field}.cjk": g}} for g in _bigrams(term)]}}
    if len(term) >= 3:
        # A phrase over consecutive trigrams is an exact substring (like FTS5's trigram phrase);
        # operator and would also accept the term's trigrams scattered through the text.
        return {"match_phrase": {f"{field}.ngram": term}}
    # A prefix query, not match_phrase_prefix: that one stops at max_expansions (50) terms,
    # which a one- or two-letter prefix exceeds in any real index.
    return {"prefix": {field: term}}


def _found_anywhere(term: str) -> dict[str, Any]:
    """The term as written in any text field; a CJK term's bigrams may sit in different fields,
    as in the SQLite adapter's one text per doc."""
    if has_cjk(term):
        return {
            "bool": {"must": [_any_field(lambda field, g=g: {"term": {f"{field}.cjk": g}}) for g in _bigrams(term)]}
        }
    return _any_field(lambda field: _found_in(field, term))


def _typo_in(field: str, term: str, typos: int) -> dict[str, Any]:
    """A word of the field within `typos` edits of the term, its first letter the same."""
    options = {"value": term, "fuzziness": typos, "prefix_length": 1, "transpositions": True}
    return {"fuzzy": {f"{field}.words": options}}


def _any_field(clause: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    return {"bool": {"should": [clause(field) for field in TEXT_FIELDS], "minimum_should_match": 1}}


def _weighted(clause: dict[str, Any], weight: float) -> dict[str, Any]:
    return {"constant_score": {"filter": clause, "boost": weight}}


def _term_clause(term: str) -> dict[str, Any]:
    """One query term, matched the way the SQLite adapter matches it and weighted the same: the
    best way it is found counts (dis_max): in the title 2, elsewhere 1, and half that when only a
    typo'd word matches. Constant weights, not BM25, so both adapters rank alike."""
    ways = [_weighted(_found_in("title", term), TITLE_BOOST), _weighted(_found_anywhere(term), 1.0)]
    typos = max_typos(term)
    if typos:
        ways.append(_weighted(_typo_in("title", term, typos), TITLE_BOOST * TYPO_WEIGHT))
        ways.append(_weighted(_any_field(lambda field: _typo_in(field, term, typos)), TYPO_WEIGHT))
    return {"dis_max": {"queries": ways}}


def _field_path(name: str) -> str:
    return "type" if name == "type" else f"f.{name}"


def _filter_clause(name: str, accepted: list) -> dict[str, Any]:
    if name != "type" and name not in FILTERABLE:
        raise BadRequest(f"cannot filter on {name!r}: one of {', '.join(('type',) + FILTERABLE)}")
    if not accepted:
        # No accepted value matches nothing, as in the SQLite adapter (an empty bool would match all).
        return {"match_none": {}}
    path = _field_path(name)
    values = [v for v in accepted if v is not None]
    options: list[dict[str, Any]] = []
    if values:
        options.append({"terms": {path: values}})
    if len(values) != len(accepted):
        options.append({"bool": {"must_not": [{"exists": {"field": path}}]}})
    return {"bool": {"should": options, "minimum_should_match": 1}}


def _range_clause(name: str, bounds: tuple[Any, Any]) -> dict[str, Any]:
    if name not in RANGEABLE:
        raise BadRequest(f"cannot range over {name!r}: one of {', '.join(RANGEABLE)}")
    limits: dict[str, Any] = {}
    for operator, bound in zip(("gte", "lt"), bounds, strict=True):
        if bound is None:
            continue
        value = _number(bound) if name in NUMERIC_RANGES else _instant(bound)
        if value is None:
            raise BadRequest(f"invalid {operator} bound for {name}: {bound!r}")
        limits[operator] = value
    # Unbounded still asks for the field, as in the SQLite adapter.
    return {"range": {f"f.{name}": limits}} if limits else {"exists": {"field": f"f.{name}"}}


def _with_recency(query: dict[str, Any], now: datetime) -> dict[str, Any]:
    """relevance * (1 + 0.5 * 0.5 ** (age_days / 90)): exp decay from `now` on recent_at. A doc
    dated after `now` counts as age 0 (the decay alone would count the distance either way); a
    doc without a date gets no boost (the decay alone would give it the full one)."""
    origin = _format_instant(now)
    decay = {"recent_at": {"origin": origin, "scale": f"{RECENCY_HALF_LIFE_DAYS:g}d", "decay": 0.5}}
    return {
        "function_score": {
            "query": query,
            "functions": [
                {"weight": 1},
                {"filter": {"range": {"recent_at": {"lte": origin}}}, "exp": decay, "weight": RECENCY_WEIGHT},
                {"filter": {"range": {"recent_at": {"gt": origin}}}, "weight": RECENCY_WEIGHT},
            ],
            "score_mode": "sum",
            "boost_mode": "multiply",
        }
    }


def search_body(terms: list[str], query: SearchQuery) -> dict[str, Any]:
    """The _search request for the terms (all must match; none: browse), filters, ranges, recency,
    sort, page and facets."""
    filters: list[dict[str, Any]] = [{"term": {"deleted": False}}]
    if query.types:
        filters.append({"terms": {"type": list(query.types)}})
    filters.extend(_filter_clause(name, accepted) for name, accepted in query.filters.items())
    filters.extend(_range_clause(name, bounds) for name, bounds in query.ranges.items())
    if query.access is not None:
        # In the filter context, so hits, the total and the facets all count visible docs only.
        tokens = sorted(set(query.access))
        filters.append({"terms": {"access": tokens}} if tokens else {"match_none": {}})
    # Browsing scores every doc 1 (a bool of filters alone would score 0): recency still orders.
    must = [_term_clause(t) for t in terms] or [{"match_all": {}}]
    body: dict[str, Any] = {
        "query": _with_recency({"bool": {"must": must, "filter": filters}}, query_now(query.now)),
        "sort": [{"_score": "desc"}, {"key": "asc"}],
        "size": query.limit + 1,  # one more than asked: is there a next page?
        "track_total_hits": TOTAL_EXACT_UP_TO,
        # The facets count the best-scoring TOTAL_EXACT_UP_TO matches (per shard): all of them
        # while the total is exact, and a broad term costs no more than that.
        "aggs": {
            FACETS_AGG: {
                "sampler": {"shard_size": TOTAL_EXACT_UP_TO},
                "aggs": {name: _facet_agg(name) for name in query.facets},
            }
        },
        "_source": SOURCE_FIELDS,
    }
    if query.cursor:
        body["search_after"] = decode_search_cursor(query.cursor)
    return body


def _facet_agg(name: str) -> dict[str, Any]:
    if name not in FACETABLE:
        raise BadRequest(f"cannot count {name!r}: one of {', '.join(FACETABLE)}")
    return {"terms": {"field": _field_path(name), "size": FACET_SIZE, "missing": MISSING_FACET_VALUE}}


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
        adding a field is allowed and idempotent. Its older docs lack them (no access tokens: only
        unrestricted queries find them; no typo words, filter or range material) until their
        records are written again: a reindex does that."""
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

    @staticmethod
    def _source(doc: SearchDoc) -> dict[str, Any]:
        key = _key(doc.type, doc.id)
        return {
            "key": key,
            "type": doc.type,
            "id": doc.id,
            "title": doc.title,
            "body": doc.body,
            "keywords": "\n".join(keyword_values(doc.fields)),
            "fields": doc.fields,
            "f": filter_material(doc),
            "version": doc.version,
            "updated_at": doc.updated_at or None,
            "created_at": doc.created_at or None,
            "recent_at": _instant(doc.updated_at) or _instant(doc.created_at),
            "deleted": False,
            "access": list(doc.access),
        }

    def upsert(self, doc: SearchDoc) -> bool:
        return self._write(_key(doc.type, doc.id), self._source(doc), doc.version)

    def upsert_many(self, docs: list[SearchDoc]) -> int:
        """One _bulk request; an item refused for its version (409) was simply not written."""
        if not docs:
            return 0
        self._ensure_index()
        operations: list[dict[str, Any]] = []
        for doc in docs:
            operations.append(
                {"index": {"_id": _key(doc.type, doc.id), "version": doc.version, "version_type": "external"}}
            )
            operations.append(self._source(doc))
        with _unavailable_on_failure("bulk"):
            response = self._client.bulk(index=self._index, operations=operations, refresh=False)
        written = 0
        for item in response["items"]:
            outcome = item["index"]
            status = outcome["status"]
            if status in (200, 201):
                written += 1
            elif status == 429 or status >= 500:
                raise ServiceUnavailable(f"search index unavailable (bulk): {outcome.get('error')}")
            elif status != 409:
                raise CrmError(f"search index refused {outcome['_id']}: {outcome.get('error')}")
        return written

    def delete(self, doc_type: str, doc_id: str, version: int) -> bool:
        # A tombstone, not a DELETE: its external version keeps refusing late older upserts, and
        # versions() reports it to the consistency check.
        key = _key(doc_type, doc_id)
        return self._write(
            key,
            {
                "key": key,
                "type": doc_type,
                "id": doc_id,
                "title": "",
                "body": "",
                "keywords": "",
                "fields": {},
                "f": {},
                "version": version,
                "updated_at": None,
                "created_at": None,
                "recent_at": None,
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
            source.get("created_at") or "",
        )

    def search(self, query: SearchQuery) -> SearchResult:
        terms = query_terms(query.text)
        if not terms and not (query.filters or query.ranges):
            return SearchResult([], {name: {} for name in query.facets}, 0)
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
        counted = response["aggregations"][FACETS_AGG]
        facets = {name: {str(b["key"]): b["doc_count"] for b in counted[name]["buckets"]} for name in query.facets}
        total = response["hits"]["total"]
        return SearchResult(hits, facets, total["value"], next_cursor, total["relation"])

    def versions(self, doc_type: str, after_id: str | None, limit: int) -> list[tuple[str, int, bool]]:
        """Pages the type's docs, tombstones included, by their keyword `id` (search_after)."""
        self._ensure_index()
        body: dict[str, Any] = {
            "query": {"bool": {"filter": [{"term": {"type": doc_type}}]}},
            "sort": [{"id": "asc"}],
            "size": limit,
            "track_total_hits": False,
            "_source": ["id", "version", "deleted"],
        }
        if after_id is not None:
            body["search_after"] = [after_id]
        with _unavailable_on_failure("versions"):
            response = self._client.search(index=self._index, **body)
        return [
            (row["_source"]["id"], int(row["_source"]["version"]), bool(row["_source"].get("deleted")))
            for row in response["hits"]["hits"]
        ]

    def count(self, doc_type: str | None = None) -> int:
        self._ensure_index()
        filters: list[dict[str, Any]] = [{"term": {"deleted": False}}]
        if doc_type is not None:
            filters.append({"term": {"type": doc_type}})
        with _unavailable_on_failure("count"):
            response = self._client.count(index=self._index, query={"bool": {"filter": filters}})
        return int(response["count"])

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
