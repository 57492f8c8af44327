"""The search part of the OpenAPI document: the one search box (text, filters, date and number
ranges, facets, highlights, cursor paging over what the caller may see) and the admin's reindex and
consistency-check jobs. Built from the blocks of gateway.openapi, which imports this module lazily;
the fields that filter, facet and range come from the search index's port."""

from crm_common.search_index import FACETABLE, RANGEABLE

from .openapi import (
    BOOL,
    INT,
    NS,
    NTS,
    STRINGS,
    TS,
    S,
    _closed,
    _csv,
    _json,
    _obj,
    _operation,
    _page,
    _param,
    _query,
    _ref,
)

TAG = "search"
SEARCH_TYPES = ("contact", "company", "interaction", "deal", "order", "ticket")
FILTERABLE = (*FACETABLE, "contact_id", "company_id")
DEFAULT_FACETS = ("type", "owner_id", "stage_id", "status", "value_grade", "priority")
JOB_KINDS = ("reindex", "consistency")
JOB_STATUSES = ("running", "done", "failed")
TYPE_LIST = {"type": ["array", "null"], "items": {"enum": list(SEARCH_TYPES)}, "minItems": 1, "uniqueItems": True}
SCALAR = {"type": ["string", "number", "null"], "maxLength": 200}
BOUND = {
    "type": ["string", "number", "null"],
    "description": "an ISO date or time (the date fields), a number (amount, value_score); null: unbounded",
}
EXAMPLE_IDS = {**STRINGS, "maxItems": 100, "description": "up to 100 example ids"}
ADMINS = "Admins only (403)."

SEARCH_NOTES = (
    "Every word must match (AND) in a title, a body or a keyword field: Chinese and other CJK text by "
    "any two characters, words of 3+ characters anywhere inside (phone and email fragments such as "
    "`4242` or `example.com`), shorter ones as prefixes, and alphabetic words of 4+ letters despite a "
    "typo (one edit up to 7 letters, two from 8; typo matches rank lower). Ranking is relevance "
    "(title twice the body) lifted by recency. `q` may be empty when `filter` or a range is given "
    "(browsing). Hits, `total` and every facet count only what the caller may see. `total` is exact up "
    "to 10000; past that `total_relation` is `gte` and the facets count the first 10000 matches. A "
    'facet counts documents without the field under the key `""`. Highlights wrap the matched text '
    "in `<mark>`, the rest HTML-escaped. 400 names the parameter that is malformed or unknown."
)
JOB_NOTES = (
    "One job store for reindexes and consistency checks: each path answers for its own kind (404 for "
    "the other). Progress is written every page of 200 records."
)


def _search_query() -> list[dict]:
    filter_schema = {
        "type": "object",
        "propertyNames": {"enum": list(FILTERABLE)},
        "additionalProperties": {"anyOf": [SCALAR, {"type": "array", "items": SCALAR, "maxItems": 100}]},
    }
    range_schema = {
        "type": "object",
        "propertyNames": {"enum": list(RANGEABLE)},
        "additionalProperties": {"type": "array", "items": BOUND, "minItems": 2, "maxItems": 2},
    }
    moments = [
        _query(name, S, f"Only documents {name.split('_')[0]} {word} this ISO date or time")
        for name, word in (
            ("created_from", "at or after"),
            ("created_to", "before"),
            ("updated_from", "at or after"),
            ("updated_to", "before"),
        )
    ]
    return [
        _query("q", {"type": "string", "maxLength": 200}, "The words to find; empty to browse by filter or range"),
        _csv("types", SEARCH_TYPES, "Only hits of these types"),
        _param("limit"),
        _param("cursor"),
        {
            "name": "filter",
            "in": "query",
            "description": "A JSON object, URL-encoded: field -> a value or a list of accepted values (OR within "
            "a field, AND across fields); null matches documents without the field. Fields: "
            f"{', '.join(FILTERABLE)}. Example: " + '{"owner_id": "usr-1", "status": ["open", "won"]}',
            "content": {"application/json": {"schema": filter_schema}},
        },
        *moments,
        {
            "name": "range",
            "in": "query",
            "description": "A JSON object, URL-encoded: field -> [from, before] (from inclusive, before exclusive, "
            f"null unbounded). Fields: {', '.join(RANGEABLE)}. Dates compare as ISO strings. "
            'Example: {"amount": [1000, null], "expected_close_date": ["2025-01-01", "2025-04-01"]}',
            "content": {"application/json": {"schema": range_schema}},
        },
        _csv("facets", FACETABLE, f"The fields to count over the visible matches; default {','.join(DEFAULT_FACETS)}"),
    ]


def search_paths() -> list:
    job = _json(_ref("SearchJob"))
    started = _json(_ref("SearchJob"), "Accepted: follow Location until status is done or failed", ("Location",))
    reindex_body = _operation(
        "post",
        "/search/reindex",
        TAG,
        "Rebuild the index from the source services (admin)",
        {202: started},
        body="SearchReindexRequest",
        errors=(403,),
        description=f"{ADMINS} Pages every source list (contacts, companies, interactions, deals, orders, "
        "tickets; or `types`) and writes each record's document in place: search keeps answering throughout, "
        "and a record changed meanwhile keeps its newer state. 409 while another job runs; a job whose "
        "process died is taken over. The body is optional.",
    )
    reindex_body[2]["requestBody"]["required"] = False
    check_body = _operation(
        "post",
        "/search/consistency-check",
        TAG,
        "Compare the index with the source services, and repair it (admin)",
        {202: started},
        body="SearchConsistencyCheckRequest",
        errors=(403,),
        description=f"{ADMINS} Reports per type the documents `missing` (in a source, not indexed), `stale` "
        "(indexed at an older version) and `orphaned` (indexed, gone from the source), with up to 100 example "
        "ids each; with `fix` it re-indexes the missing and stale and removes the orphaned. Runs as a job: "
        "follow Location. 409 while another job runs. The body is optional.",
    )
    check_body[2]["requestBody"]["required"] = False
    return [
        _operation(
            "get",
            "/search",
            TAG,
            "One box over every entity the caller may see",
            {200: _json(_ref("SearchResponse"))},
            query=_search_query(),
            description=SEARCH_NOTES,
        ),
        reindex_body,
        _operation(
            "get",
            "/search/reindex",
            TAG,
            "Reindex and consistency-check jobs, newest first (admin)",
            {200: _json(_page("SearchJob"))},
            query=[
                _param("limit"),
                _param("cursor"),
                _query("kind", {"enum": list(JOB_KINDS)}, "Only jobs of this kind"),
                _query("status", {"enum": list(JOB_STATUSES)}, "Only jobs in this status"),
            ],
            errors=(403,),
            description=f"{ADMINS} {JOB_NOTES}",
        ),
        _operation(
            "get",
            "/search/reindex/{id}",
            TAG,
            "A reindex job and its progress (admin)",
            {200: job},
            errors=(403,),
            description=f"{ADMINS} {JOB_NOTES}",
        ),
        check_body,
        _operation(
            "get",
            "/search/consistency-check/{id}",
            TAG,
            "A consistency check and its report (admin)",
            {200: job},
            errors=(403,),
            description=f"{ADMINS} {JOB_NOTES}",
        ),
    ]


def search_schemas() -> dict:
    hit = _obj(
        ["type", "id", "title", "highlights", "score"],
        type={"enum": list(SEARCH_TYPES)},
        id=S,
        title=S,
        score={"type": "number"},
        highlights=STRINGS,
        fields={"type": "object", "description": "the document's filter, facet and range material"},
    )
    counts = _obj(["read", "written"], read=INT, written=INT)
    finding = _obj(["count", "examples"], count=INT, examples=EXAMPLE_IDS)
    differences = _obj(
        ["missing", "stale", "orphaned", "fixed"],
        missing=finding,
        stale=finding,
        orphaned=finding,
        fixed={**INT, "description": "documents re-indexed or removed (0 without fix)"},
    )
    return {
        "SearchResponse": _obj(
            ["data", "facets", "total", "total_relation", "next_cursor"],
            data={"type": "array", "items": hit},
            facets={
                "type": "object",
                "additionalProperties": {"type": "object", "additionalProperties": INT},
                "description": 'counts per facet value: {facet: {value: count}}; "" counts documents without it',
            },
            total=INT,
            total_relation={"enum": ["eq", "gte"], "description": "gte: at least this many (counting stopped)"},
            next_cursor=NS,
        ),
        "SearchReindexRequest": _closed([], types={**TYPE_LIST, "description": "null or absent: every type"}),
        "SearchConsistencyCheckRequest": _closed(
            [],
            types={**TYPE_LIST, "description": "null or absent: every type"},
            fix={**BOOL, "description": "repair what it finds (default false: report only)"},
        ),
        "SearchJob": _obj(
            ["id", "kind", "status", "types", "counts", "started_at", "heartbeat_at", "finished_at", "error"],
            id=S,
            kind={"enum": list(JOB_KINDS)},
            status={"enum": list(JOB_STATUSES)},
            types={**STRINGS, "description": "the types it covers"},
            counts={"type": "object", "additionalProperties": counts, "description": "per type: records read, written"},
            report={
                "type": "object",
                "additionalProperties": differences,
                "description": "consistency checks: per type, what differs from the sources",
            },
            fix=BOOL,
            started_at=TS,
            heartbeat_at={**TS, "description": "written with every page: a stale one means its process died"},
            finished_at=NTS,
            error=NS,
            started_by=S,
        ),
    }
