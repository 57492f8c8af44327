"""The search-index contract every adapter keeps: SQLite FTS5, Elasticsearch (stub, real cluster)."""

import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import ApiError, Elasticsearch

from crm_common.errors import BadRequest, CrmError, ServiceUnavailable
from crm_common.search_index import (
    FACETABLE,
    RANGEABLE,
    SearchDoc,
    SearchIndex,
    SearchQuery,
    SearchResult,
    open_search_index,
)
from crm_common.search_index.elastic import ElasticIndex
from crm_common.search_index.text import decode_search_cursor, encode_search_cursor

# The repository runs pytest with --import-mode=importlib, which leaves a test's own directory off
# sys.path; the stub lives beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from es_stub import EsStub, Recorded  # noqa: E402

ES_URL = os.environ.get("ELASTICSEARCH_TEST_URL")
ADAPTERS = ["sqlite", "elastic-stub"] + (["elastic"] if ES_URL else [])

CORPUS = [
    SearchDoc(
        "contact",
        "c1",
        "张伟明",
        1,
        body="销售总监 北京分公司",
        fields={"owner_id": "u1"},
        updated_at="2025-03-01T09:00:00Z",
    ),
    # 张 and 伟 both occur, never side by side: a two-character name must not match this.
    SearchDoc("contact", "c2", "张三", 1, body="助理 李伟", fields={"owner_id": "u2"}),
    SearchDoc(
        "contact",
        "c3",
        "John Smithson",
        1,
        body="john.doe@example.com, +1 (555) 010-4242",
        fields={"owner_id": "u1"},
        updated_at="2025-03-02T10:30:00+01:00",
    ),
    SearchDoc("company", "k1", "Example Corp", 1, body="billing@example.com, Rotterdam", fields={"owner_id": "u2"}),
    SearchDoc(
        "deal",
        "d1",
        "Smithson renewal",
        1,
        body="Annual renewal, no owner yet",
        fields={"owner_id": None, "stage_id": "st-1"},
    ),
    # Holds the trigrams of "abcdy" (abc, bcd, cdy) but not the substring.
    SearchDoc("contact", "c4", "Abcx Bcdy", 1, fields={"owner_id": "u3"}),
]


@pytest.fixture(scope="module")
def stub() -> Iterator[EsStub]:
    with EsStub() as running:
        yield running


@pytest.fixture(params=ADAPTERS)
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchIndex]:
    if request.param == "sqlite":
        adapter = open_search_index(f"sqlite://{tmp_path}/search.db")
        yield adapter
        adapter.close()
    elif request.param == "elastic-stub":
        adapter = open_search_index(request.getfixturevalue("stub").url, index=f"crm-search-{uuid.uuid4().hex}")
        yield adapter
        adapter.close()
    else:
        client = Elasticsearch(ES_URL, request_timeout=30)
        name = f"crm-search-test-{uuid.uuid4().hex}"
        try:
            yield ElasticIndex(ES_URL, index=name, client=client)
        finally:
            client.indices.delete(index=name, ignore_unavailable=True)
            client.close()


@pytest.fixture
def corpus(index: SearchIndex) -> SearchIndex:
    for doc in CORPUS:
        assert index.upsert(doc)
    return index


def search(index: SearchIndex, text: str, **options) -> SearchResult:
    refresh = getattr(index, "refresh", None)
    if refresh:
        refresh()  # Elasticsearch makes writes searchable on its refresh interval, not at once
    return index.search(SearchQuery(text, **options))


def keys(result: SearchResult) -> set[str]:
    return {f"{hit.type}:{hit.id}" for hit in result.hits}


def test_chinese_name_is_found_by_two_characters_inside_a_longer_run(corpus: SearchIndex) -> None:
    assert keys(search(corpus, "张伟")) == {"contact:c1"}


def test_chinese_name_is_found_by_a_middle_bigram(corpus: SearchIndex) -> None:
    assert keys(search(corpus, "伟明")) == {"contact:c1"}


def test_email_domain_fragment(corpus: SearchIndex) -> None:
    assert keys(search(corpus, "example.com")) == {"contact:c3", "company:k1"}


def test_email_local_part_prefix(corpus: SearchIndex) -> None:
    assert keys(search(corpus, "john.d")) == {"contact:c3"}


def test_last_four_digits_of_a_phone(corpus: SearchIndex) -> None:
    assert keys(search(corpus, "4242")) == {"contact:c3"}


def test_control_characters_in_a_query_separate_terms(corpus: SearchIndex) -> None:
    assert keys(search(corpus, "4242\x00\x07")) == {"contact:c3"}


@pytest.mark.parametrize("text", ["sm", "Smi", "smiths"])
def test_western_surname_prefix(corpus: SearchIndex, text: str) -> None:
    assert keys(search(corpus, text)) == {"contact:c3", "deal:d1"}


def test_every_term_must_match(corpus: SearchIndex) -> None:
    assert keys(search(corpus, "smithson renewal")) == {"deal:d1"}
    assert keys(search(corpus, "john example")) == {"contact:c3"}
    assert keys(search(corpus, "张伟 example")) == set()


def test_a_term_matches_as_a_substring_not_as_scattered_trigrams(corpus: SearchIndex) -> None:
    # "abcd" itself is now one typo away from "abcx"; "abcdy" is two (its allowance is one).
    assert keys(search(corpus, "abcdy")) == set()
    assert keys(search(corpus, "bcdy")) == {"contact:c4"}


def test_types_filter(corpus: SearchIndex) -> None:
    result = search(corpus, "smithson", types=["deal"])
    assert keys(result) == {"deal:d1"}
    assert result.facets == {"type": {"deal": 1}}
    assert result.total == 1


def test_fields_filter_narrows_hits_facets_and_total(corpus: SearchIndex) -> None:
    everyone = search(corpus, "example")
    assert keys(everyone) == {"contact:c3", "company:k1"}
    assert everyone.facets == {"type": {"contact": 1, "company": 1}}
    assert everyone.total == 2

    mine = search(corpus, "example", filters={"owner_id": ["u1"]}, limit=1)
    assert keys(mine) == {"contact:c3"}
    assert mine.facets == {"type": {"contact": 1}}
    assert mine.total == 1


def test_none_in_a_fields_filter_means_the_field_is_missing(corpus: SearchIndex) -> None:
    assert keys(search(corpus, "smithson", filters={"owner_id": [None]})) == {"deal:d1"}
    assert keys(search(corpus, "smithson", filters={"owner_id": [None, "u1"]})) == {"contact:c3", "deal:d1"}
    assert keys(search(corpus, "smithson", filters={"owner_id": []})) == set()
    # contact:c3 has no stage_id key at all; deal:d1 has an owner_id that is null.
    assert keys(search(corpus, "smithson", filters={"stage_id": [None]})) == {"contact:c3"}


# Records of three owners, a pool record and a team's ticket: who finds what.
ACCESS_CORPUS = [
    SearchDoc("contact", "a1", "Visible Alpha", 1, access=["owner:u1"]),
    SearchDoc("contact", "a2", "Visible Beta", 1, access=["owner:u2", "user:u1"]),  # shared with u1
    SearchDoc("contact", "a3", "Visible Gamma", 1, access=["owner:u3"]),
    SearchDoc("company", "a4", "Visible Delta", 1, access=["pool"]),
    SearchDoc("ticket", "a5", "Visible Epsilon", 1, access=["team:t1", "owner:u3"]),
    SearchDoc("deal", "a6", "Visible Zeta", 1, access=["owner:u3"]),
    SearchDoc("deal", "a7", "Visible Eta", 1),  # no tokens: only unrestricted queries find it
]


@pytest.fixture
def guarded(index: SearchIndex) -> SearchIndex:
    for doc in ACCESS_CORPUS:
        assert index.upsert(doc)
    return index


def test_access_tokens_narrow_hits_total_and_facets_to_the_visible_set(guarded: SearchIndex) -> None:
    rep = search(guarded, "visible", access=["owner:u1", "user:u1", "pool"])
    assert keys(rep) == {"contact:a1", "contact:a2", "company:a4"}
    assert rep.total == 3
    assert rep.facets == {"type": {"contact": 2, "company": 1}}

    agent = search(guarded, "visible", access=["user:u9", "team:t1"])
    assert keys(agent) == {"ticket:a5"}
    assert (agent.total, agent.facets) == (1, {"type": {"ticket": 1}})

    manager = search(guarded, "visible", access=["owner:u3", "user:u4"], limit=1)
    assert len(manager.hits) == 1 and manager.next_cursor is not None
    assert manager.total == 3
    assert manager.facets == {"type": {"contact": 1, "ticket": 1, "deal": 1}}


def test_access_none_is_unrestricted_and_no_tokens_find_nothing(guarded: SearchIndex) -> None:
    everything = search(guarded, "visible")
    assert everything.total == len(ACCESS_CORPUS)
    assert everything.facets == {"type": {"contact": 3, "company": 1, "ticket": 1, "deal": 2}}
    nothing = search(guarded, "visible", access=[])
    assert (keys(nothing), nothing.total, nothing.facets) == (set(), 0, {"type": {}})


def test_access_combines_with_types_and_field_filters(guarded: SearchIndex) -> None:
    result = search(guarded, "visible", types=["contact"], access=["owner:u3", "user:u1"])
    assert keys(result) == {"contact:a2", "contact:a3"}
    assert result.facets == {"type": {"contact": 2}}


def test_paging_a_restricted_search_returns_every_visible_hit_once(index: SearchIndex) -> None:
    for n in range(12):
        index.upsert(SearchDoc("contact", f"p{n:02d}", f"Pagedaccess {n:02d}", 1, access=[f"owner:u{n % 3}"]))
    seen, cursor = [], None
    for _ in range(10):
        page = search(index, "pagedaccess", limit=2, access=["owner:u1"], cursor=cursor)
        assert page.total == 4
        seen.extend(hit.id for hit in page.hits)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == ["p01", "p04", "p07", "p10"]


def test_a_newer_version_replaces_the_access_tokens(index: SearchIndex) -> None:
    index.upsert(SearchDoc("deal", "m1", "Moved deal", 1, access=["owner:u1"]))
    index.upsert(SearchDoc("deal", "m1", "Moved deal", 2, access=["owner:u2"]))
    assert keys(search(index, "moved", access=["owner:u1"])) == set()
    assert keys(search(index, "moved", access=["owner:u2"])) == {"deal:m1"}
    doc = index.get("deal", "m1")
    assert doc is not None and doc.access == ["owner:u2"]


def test_highlights_mark_the_terms(corpus: SearchIndex) -> None:
    (hit,) = search(corpus, "张伟").hits
    assert hit.highlights == ["<mark>张伟</mark>明"]
    (hit,) = search(corpus, "4242").hits
    assert hit.title == "John Smithson"
    assert any("<mark>4242</mark>" in h for h in hit.highlights)


def test_highlights_escape_the_records_own_markup(index: SearchIndex) -> None:
    index.upsert(SearchDoc("contact", "x1", "Tom <img src=x onerror=alert(1)>", 1))
    (hit,) = search(index, "tom").hits
    assert hit.highlights == ["<mark>Tom</mark> &lt;img src=x onerror=alert(1)&gt;"]


def test_hits_carry_the_fields(corpus: SearchIndex) -> None:
    (hit,) = search(corpus, "4242").hits
    assert (hit.type, hit.id, hit.fields) == ("contact", "c3", {"owner_id": "u1"})


def test_cursor_paging_returns_every_hit_exactly_once(index: SearchIndex) -> None:
    expected = set()
    # Recently updated records: a score that leaned on the clock would drift between two pages.
    updated_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    for n in range(23):
        # Half match in the title, half in the body: pages cross score boundaries.
        title, body = (f"Lead {n:02d} pagingtoken", "") if n % 2 else (f"Lead {n:02d}", "pagingtoken")
        index.upsert(SearchDoc("lead", f"l{n:02d}", title, 1, body=body, updated_at=updated_at))
        expected.add(f"lead:l{n:02d}")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = search(index, "pagingtoken", limit=5, cursor=cursor)
        assert page.total == 23 and page.facets == {"type": {"lead": 23}}
        seen.extend(f"{hit.type}:{hit.id}" for hit in page.hits)
        cursor = page.next_cursor
        if cursor is None:
            break
        time.sleep(0.05)  # the next page is asked for later, as a user would
    assert len(seen) == len(expected) == 23
    assert set(seen) == expected


def test_a_tampered_cursor_is_a_bad_request(corpus: SearchIndex) -> None:
    for cursor in ("%%%", encode_search_cursor([{"score": 1}, "contact:c1"]), encode_search_cursor([1.0])):
        with pytest.raises(BadRequest):
            search(corpus, "smithson", cursor=cursor)


def test_an_older_version_never_overwrites_a_newer_one(index: SearchIndex) -> None:
    assert index.upsert(SearchDoc("contact", "v1", "Newer title", 2))
    assert not index.upsert(SearchDoc("contact", "v1", "Older title", 1))
    assert not index.upsert(SearchDoc("contact", "v1", "Same version", 2))
    doc = index.get("contact", "v1")
    assert doc is not None and (doc.title, doc.version) == ("Newer title", 2)
    assert keys(search(index, "older")) == set()
    assert keys(search(index, "newer")) == {"contact:v1"}


def test_a_late_older_upsert_does_not_resurrect_a_deleted_doc(index: SearchIndex) -> None:
    assert index.upsert(SearchDoc("contact", "r1", "Resurrection test", 1))
    assert index.delete("contact", "r1", 2)
    assert not index.upsert(SearchDoc("contact", "r1", "Resurrection test", 1))
    assert index.get("contact", "r1") is None
    assert keys(search(index, "resurrection")) == set()
    assert index.upsert(SearchDoc("contact", "r1", "Resurrection test", 3))
    assert keys(search(index, "resurrection")) == {"contact:r1"}


def test_a_delete_older_than_the_indexed_version_is_refused(index: SearchIndex) -> None:
    assert index.upsert(SearchDoc("contact", "k9", "Kept", 5))
    assert not index.delete("contact", "k9", 3)
    assert index.get("contact", "k9") is not None


def test_get_after_delete_is_none(index: SearchIndex) -> None:
    doc = SearchDoc(
        "contact", "g1", "Gone soon", 1, body="b", fields={"owner_id": "u1"}, updated_at="2025-03-01T09:00:00Z"
    )
    assert index.upsert(doc)
    assert index.get("contact", "g1") == doc
    assert index.delete("contact", "g1", 2)
    assert index.get("contact", "g1") is None
    assert index.get("contact", "never-indexed") is None


def test_a_delete_before_the_first_upsert_still_wins(index: SearchIndex) -> None:
    assert index.delete("contact", "early", 4)
    assert not index.upsert(SearchDoc("contact", "early", "Arrived late", 3))
    assert index.get("contact", "early") is None


def test_a_blank_query_finds_nothing(corpus: SearchIndex) -> None:
    assert search(corpus, "  ") == SearchResult([], {"type": {}}, 0)


def test_ping(index: SearchIndex) -> None:
    index.ping()


def test_the_fields_human_text_is_searched_like_the_body(index: SearchIndex) -> None:
    index.upsert(SearchDoc("deal", "h1", "Boiler", 1, fields={"status": "Negotiation", "owner_id": "u7"}))
    index.upsert(SearchDoc("deal", "h2", "Negotiation call", 1, fields={"status": "open"}))
    result = search(index, "negotiation")
    assert [hit.id for hit in result.hits] == ["h2", "h1"]  # the title weighs 2, a field's text 1
    assert keys(search(index, "negotiaton")) == {"deal:h1", "deal:h2"}  # a typo too
    assert keys(search(index, "u7")) == set()  # ids are not text


# --- Elasticsearch stub only: the requests the adapter sends ---------------------------------


@pytest.fixture
def index_name() -> str:
    return f"crm-search-{uuid.uuid4().hex}"


@pytest.fixture
def elastic(stub: EsStub, index_name: str) -> Iterator[ElasticIndex]:
    adapter = ElasticIndex(stub.url, index=index_name)
    yield adapter
    adapter.close()


@pytest.fixture
def sent(stub: EsStub, index_name: str) -> Callable[..., list[Recorded]]:
    """The requests this test's adapter sent: sent("PUT", "/_doc/contact:c1")."""
    return lambda method, suffix="": stub.recorded(method, f"/{index_name}{suffix}")


def test_the_index_is_created_once_with_an_explicit_mapping_and_analyzers(elastic: ElasticIndex, sent) -> None:
    for doc in CORPUS:
        elastic.upsert(doc)
    elastic.get("contact", "c1")
    search(elastic, "smithson")
    (create,) = sent("PUT")
    assert len(sent("HEAD")) == 1

    settings, mappings = create.body["settings"], create.body["mappings"]
    assert settings["index"]["refresh_interval"] == "1s"
    analysis = settings["analysis"]
    analyzers, filters, tokenizers = analysis["analyzer"], analysis["filter"], analysis["tokenizer"]
    properties = mappings["properties"]
    for text_field in ("title", "body"):
        spec = properties[text_field]
        assert (spec["type"], spec["analyzer"]) == ("text", "standard")
        ngram = analyzers[spec["fields"]["ngram"]["analyzer"]]
        assert tokenizers[ngram["tokenizer"]] == {"type": "ngram", "min_gram": 3, "max_gram": 3}
        assert ngram["filter"] == ["lowercase"]
        cjk = analyzers[spec["fields"]["cjk"]["analyzer"]]
        assert cjk["tokenizer"] == "standard"
        assert [filters.get(f, {"type": f}) for f in cjk["filter"]] == [
            {"type": "cjk_bigram", "output_unigrams": True},
            {"type": "lowercase"},
        ]
        # Letter runs, lower-cased: the words a typo'd term is compared with (text.words).
        assert spec["fields"]["words"] == {"type": "text", "analyzer": "simple"}
    for keyword in ("key", "type", "id"):
        assert properties[keyword] == {"type": "keyword"}
    # `fields` is kept as sent; its filter, facet and range material is indexed under `f`, typed.
    assert properties["fields"] == {"type": "object", "enabled": False}
    material = properties["f"]
    assert (material["type"], material["dynamic"]) == ("object", False)
    for name in [n for n in FACETABLE if n != "type"] + ["contact_id", "company_id"]:
        assert material["properties"][name] == {"type": "keyword"}
    for name in RANGEABLE:
        kind = "double" if name in ("amount", "value_score") else "date"
        assert material["properties"][name] == {"type": kind}
    assert properties["version"] == {"type": "long"}
    assert properties["updated_at"]["type"] == properties["created_at"]["type"] == "date"
    assert properties["recent_at"] == {"type": "date"}
    assert properties["deleted"] == {"type": "boolean"}
    assert mappings["dynamic"] == "strict"
    assert "dynamic_templates" not in mappings


def test_writes_use_external_versions_and_do_not_wait_for_a_refresh(elastic: ElasticIndex, sent) -> None:
    elastic.upsert(
        SearchDoc(
            "deal",
            "d1",
            "Ann",
            7,
            fields={
                "owner_id": "u1",
                "status": "Negotiation",
                "amount": "1200.50",
                "note": {"free": "form"},
                "expected_close_date": "2025-07-01",
            },
            updated_at="2025-03-02T10:30:00+01:00",
            created_at="2025-01-01",
        )
    )
    elastic.delete("deal", "d1", 8)
    upsert, tombstone = sent("PUT", "/_doc/deal:d1")
    for request, version in ((upsert, "7"), (tombstone, "8")):
        assert request.params["version"] == version
        assert request.params["version_type"] == "external"
        assert request.params.get("refresh", "false") == "false"
    assert upsert.body == {
        "key": "deal:d1",
        "type": "deal",
        "id": "d1",
        "title": "Ann",
        "body": "",
        # The fields' human text, searched like the body (not ids, dates or numbers).
        "keywords": "Negotiation",
        "fields": {
            "owner_id": "u1",
            "status": "Negotiation",
            "amount": "1200.50",
            "note": {"free": "form"},
            "expected_close_date": "2025-07-01",
        },
        # Typed for the mapping: dates as UTC instants, numbers as numbers; other keys left out.
        "f": {
            "owner_id": "u1",
            "status": "Negotiation",
            "created_at": "2025-01-01T00:00:00.000Z",
            "updated_at": "2025-03-02T09:30:00.000Z",
            "amount": 1200.5,
            "expected_close_date": "2025-07-01T00:00:00.000Z",
        },
        "version": 7,
        "updated_at": "2025-03-02T10:30:00+01:00",
        "created_at": "2025-01-01",
        "recent_at": "2025-03-02T09:30:00.000Z",
        "deleted": False,
        "access": [],
    }
    assert tombstone.body["deleted"] is True and tombstone.body["version"] == 8 and tombstone.body["access"] == []
    assert tombstone.body["f"] == {} and tombstone.body["recent_at"] is None and tombstone.body["keywords"] == ""


def test_a_write_is_searchable_only_after_a_refresh(elastic: ElasticIndex) -> None:
    elastic.upsert(SearchDoc("contact", "c1", "Ann Example", 1))
    assert elastic.search(SearchQuery("example")).total == 0
    assert elastic.get("contact", "c1") is not None  # get is realtime
    elastic.refresh()
    assert elastic.search(SearchQuery("example")).total == 1


def test_the_search_request(elastic: ElasticIndex, sent) -> None:
    elastic.search(
        SearchQuery(
            "张伟 Example.com sm smithsn",
            types=["contact"],
            filters={"owner_id": ["u1", None]},
            ranges={"amount": (100, None), "created_at": ("2025-01-01", "2025-02-01T12:00:00+02:00")},
            facets=("type", "owner_id"),
            limit=2,
            now="2025-06-01T02:00:00+02:00",
        )
    )
    (body,) = [r.body for r in sent("POST", "/_search")]
    scored = body["query"]["function_score"]
    origin = "2025-06-01T00:00:00.000Z"
    # relevance * (1 + 0.5 * 0.5 ** (age / 90 days)); dated after `now`: age 0; undated: no boost.
    assert scored["functions"] == [
        {"weight": 1},
        {
            "filter": {"range": {"recent_at": {"lte": origin}}},
            "exp": {"recent_at": {"origin": origin, "scale": "90d", "decay": 0.5}},
            "weight": 0.5,
        },
        {"filter": {"range": {"recent_at": {"gt": origin}}}, "weight": 0.5},
    ]
    assert (scored["score_mode"], scored["boost_mode"]) == ("sum", "multiply")
    cjk, substring, prefix, typo = scored["query"]["bool"]["must"]

    def anywhere(clause: Callable[[str], dict]) -> dict:
        return {"bool": {"should": [clause(f) for f in ("title", "body", "keywords")], "minimum_should_match": 1}}

    def weighted(clause: dict, weight: float) -> dict:
        return {"constant_score": {"filter": clause, "boost": weight}}

    # Each term scores the best way it is found: in the title 2, elsewhere 1, by a typo half that.
    assert cjk == {
        "dis_max": {
            "queries": [
                weighted({"bool": {"must": [{"term": {"title.cjk": "张伟"}}]}}, 2.0),
                weighted({"bool": {"must": [anywhere(lambda f: {"term": {f"{f}.cjk": "张伟"}})]}}, 1.0),
            ]
        }
    }
    assert substring == {
        "dis_max": {
            "queries": [
                weighted({"match_phrase": {"title.ngram": "example.com"}}, 2.0),
                weighted(anywhere(lambda f: {"match_phrase": {f"{f}.ngram": "example.com"}}), 1.0),
            ]
        }
    }
    assert prefix == {
        "dis_max": {
            "queries": [
                weighted({"prefix": {"title": "sm"}}, 2.0),
                weighted(anywhere(lambda f: {"prefix": {f: "sm"}}), 1.0),
            ]
        }
    }
    fuzzy = {"value": "smithsn", "fuzziness": 1, "prefix_length": 1, "transpositions": True}
    assert typo == {
        "dis_max": {
            "queries": [
                weighted({"match_phrase": {"title.ngram": "smithsn"}}, 2.0),
                weighted(anywhere(lambda f: {"match_phrase": {f"{f}.ngram": "smithsn"}}), 1.0),
                weighted({"fuzzy": {"title.words": fuzzy}}, 1.0),
                weighted(anywhere(lambda f: {"fuzzy": {f"{f}.words": fuzzy}}), 0.5),
            ]
        }
    }
    assert scored["query"]["bool"]["filter"] == [
        {"term": {"deleted": False}},
        {"terms": {"type": ["contact"]}},
        {
            "bool": {
                "should": [
                    {"terms": {"f.owner_id": ["u1"]}},
                    {"bool": {"must_not": [{"exists": {"field": "f.owner_id"}}]}},
                ],
                "minimum_should_match": 1,
            }
        },
        {"range": {"f.amount": {"gte": 100.0}}},
        {"range": {"f.created_at": {"gte": "2025-01-01T00:00:00.000Z", "lt": "2025-02-01T10:00:00.000Z"}}},
    ]
    assert body["sort"] == [{"_score": "desc"}, {"key": "asc"}]
    assert body["size"] == 3 and body["track_total_hits"] == 10_000
    # The facets count the best-scoring 10,000 matches: every match while the total is exact.
    assert body["aggs"] == {
        "facets": {
            "sampler": {"shard_size": 10_000},
            "aggs": {
                "type": {"terms": {"field": "type", "size": 1000, "missing": ""}},
                "owner_id": {"terms": {"field": "f.owner_id", "size": 1000, "missing": ""}},
            },
        }
    }
    assert "search_after" not in body


def test_a_browse_scores_every_match_alike_before_recency(elastic: ElasticIndex, sent) -> None:
    elastic.search(SearchQuery("", ranges={"amount": (None, None)}, now="2025-06-01T00:00:00Z"))
    (body,) = [r.body for r in sent("POST", "/_search")]
    assert body["query"]["function_score"]["query"]["bool"]["must"] == [{"match_all": {}}]
    # A range without bounds still asks for the field.
    assert body["query"]["function_score"]["query"]["bool"]["filter"][-1] == {"exists": {"field": "f.amount"}}


@pytest.mark.parametrize(
    "query",
    [
        SearchQuery("x", filters={"note": ["a"]}),
        SearchQuery("x", ranges={"title": ("a", None)}),
        SearchQuery("x", ranges={"amount": ("lots", None)}),
        SearchQuery("x", facets=("contact_id",)),
        SearchQuery("x", now="yesterday"),
    ],
)
def test_what_the_mapping_cannot_answer_is_a_bad_request(elastic: ElasticIndex, query: SearchQuery) -> None:
    with pytest.raises(BadRequest):
        elastic.search(query)


def test_the_access_tokens_are_a_terms_filter(elastic: ElasticIndex, sent) -> None:
    elastic.search(SearchQuery("smithson", access=["user:u1", "team:t1", "user:u1"]))
    elastic.search(SearchQuery("smithson", access=[]))
    elastic.search(SearchQuery("smithson"))
    restricted, nothing, unrestricted = [
        r.body["query"]["function_score"]["query"]["bool"]["filter"] for r in sent("POST", "/_search")
    ]
    assert restricted[-1] == {"terms": {"access": ["team:t1", "user:u1"]}}
    assert nothing[-1] == {"match_none": {}}
    assert unrestricted == [{"term": {"deleted": False}}]


def test_the_mapping_holds_access_as_a_keyword(elastic: ElasticIndex, sent) -> None:
    elastic.upsert(CORPUS[0])
    (create,) = sent("PUT")
    assert create.body["mappings"]["properties"]["access"] == {"type": "keyword"}


def test_upsert_many_is_one_bulk_request_with_external_versions(elastic: ElasticIndex, sent) -> None:
    assert elastic.upsert(SearchDoc("contact", "n1", "Newer", 3))
    written = elastic.upsert_many([SearchDoc("contact", "n1", "Older", 2), SearchDoc("contact", "n2", "Fresh", 1)])
    assert written == 1  # the version conflict is an item's outcome, not an error
    (bulk,) = sent("PUT", "/_bulk")
    assert bulk.params.get("refresh", "false") == "false"
    lines = [json.loads(line) for line in bulk.body.splitlines()]
    assert lines[0] == {"index": {"_id": "contact:n1", "version": 2, "version_type": "external"}}
    assert lines[1]["title"] == "Older" and lines[1]["version"] == 2
    assert lines[2] == {"index": {"_id": "contact:n2", "version": 1, "version_type": "external"}}
    assert elastic.get("contact", "n1").title == "Newer"


def test_a_bulk_item_refused_for_another_reason_than_its_version_is_an_error(elastic: ElasticIndex) -> None:
    malformed = SearchDoc("contact", "bad", {"not": "text"}, 1)  # type: ignore[arg-type]
    with pytest.raises(CrmError) as refused:
        elastic.upsert_many([SearchDoc("contact", "ok", "Fine", 1), malformed])
    assert not isinstance(refused.value, ServiceUnavailable) and "contact:bad" in refused.value.detail
    assert elastic.get("contact", "ok") is not None  # the other items were written


def test_versions_page_by_the_keyword_id_and_count_skips_tombstones(elastic: ElasticIndex, sent) -> None:
    elastic.versions("contact", "v2", 50)
    elastic.count("contact")
    elastic.count()
    (versions,) = [r.body for r in sent("POST", "/_search")]
    assert versions == {
        "query": {"bool": {"filter": [{"term": {"type": "contact"}}]}},
        "sort": [{"id": "asc"}],
        "size": 50,
        "track_total_hits": False,
        "_source": ["id", "version", "deleted"],
        "search_after": ["v2"],
    }
    one_type, every_type = [r.body for r in sent("POST", "/_count")]
    assert one_type == {"query": {"bool": {"filter": [{"term": {"deleted": False}}, {"term": {"type": "contact"}}]}}}
    assert every_type == {"query": {"bool": {"filter": [{"term": {"deleted": False}}]}}}


# An index created by the release before this one: no access tokens, typo words, filter material.
PREVIOUS_MAPPINGS = {
    "dynamic": "strict",
    "dynamic_templates": [
        {"fields_strings": {"path_match": "fields.*", "match_mapping_type": "string", "mapping": {"type": "keyword"}}}
    ],
    "properties": {
        "key": {"type": "keyword"},
        "type": {"type": "keyword"},
        "id": {"type": "keyword"},
        "title": {
            "type": "text",
            "analyzer": "standard",
            "fields": {
                "ngram": {"type": "text", "analyzer": "crm_trigram"},
                "cjk": {"type": "text", "analyzer": "crm_cjk"},
            },
        },
        "body": {"type": "text", "analyzer": "standard"},
        "fields": {"type": "object", "dynamic": True},
        "version": {"type": "long"},
        "updated_at": {"type": "date", "ignore_malformed": True},
        "deleted": {"type": "boolean"},
    },
}


def test_an_index_from_an_older_release_gets_the_new_fields_added(stub: EsStub, index_name: str, sent) -> None:
    from crm_common.search_index import elastic as elastic_module

    client = Elasticsearch(stub.url)
    client.indices.create(index=index_name, settings=elastic_module.SETTINGS, mappings=PREVIOUS_MAPPINGS)
    client.index(
        index=index_name,
        id="contact:old",
        document={
            "key": "contact:old",
            "type": "contact",
            "id": "old",
            "title": "Oldtimer",
            "body": "",
            "fields": {"owner_id": "u1"},
            "version": 1,
            "updated_at": None,
            "deleted": False,
        },
        version=1,
        version_type="external",
    )
    client.close()
    adapter = ElasticIndex(stub.url, index=index_name)
    try:
        assert adapter.upsert(
            SearchDoc("contact", "new", "Oldtimer too", 1, fields={"owner_id": "u1"}, access=["owner:u1"])
        )
        (mapping,) = sent("PUT", "/_mapping")
        assert mapping.body == {"properties": elastic_module.ADDED_PROPERTIES}
        # The old doc carries no tokens: only an unrestricted query finds it; no filter material
        # either: it counts as missing an owner until a reindex writes it again.
        assert keys(search(adapter, "oldtimer", access=["owner:u1"])) == {"contact:new"}
        everyone = search(adapter, "oldtimer", facets=("owner_id",))
        assert keys(everyone) == {"contact:old", "contact:new"}
        assert everyone.facets == {"owner_id": {"u1": 1, "": 1}}
    finally:
        adapter.close()


@pytest.mark.parametrize(
    "request_body",
    [
        {"query": {"fuzzy": {"title.words": {"value": "smith", "rewrite": "constant_score"}}}},
        {"query": {"function_score": {"query": {"match_all": {}}, "score_mode": "avg"}}},
        {"query": {"function_score": {"functions": [{"gauss": {"recent_at": {"origin": "now", "scale": "1d"}}}]}}},
        {"query": {"range": {"recent_at": {"gte": "now-1d"}}}},
        {"query": {"match_all": {}}, "aggs": {"owner": {"terms": {"field": "f.owner_id", "order": {"_key": "asc"}}}}},
        {"query": {"match_all": {}}, "aggs": {"amounts": {"terms": {"field": "f.amount"}}}},
    ],
)
def test_the_stub_refuses_what_it_does_not_emulate(
    elastic: ElasticIndex, stub: EsStub, index_name: str, request_body
) -> None:
    elastic.refresh()  # creates the index
    client = Elasticsearch(stub.url)
    try:
        with pytest.raises(ApiError) as refused:
            client.search(index=index_name, **request_body)
        assert refused.value.status_code == 400
        with pytest.raises(ApiError):
            client.bulk(index=index_name, operations=[{"delete": {"_id": "contact:x"}}])
    finally:
        client.close()


def test_a_sqlite_index_from_before_access_tokens_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE docs (key TEXT PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL,"
        " body TEXT NOT NULL, fields TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL,"
        " deleted INTEGER NOT NULL DEFAULT 0);"
    )
    old.close()
    adapter = open_search_index(f"sqlite://{path}")
    try:
        assert adapter.upsert(SearchDoc("contact", "n1", "Migrated", 1, access=["owner:u1"]))
        assert keys(search(adapter, "migrated", access=["owner:u1"])) == {"contact:n1"}
    finally:
        adapter.close()


def test_the_next_page_is_asked_for_with_search_after(elastic: ElasticIndex, sent) -> None:
    for doc in CORPUS:
        elastic.upsert(doc)
    first = search(elastic, "example.com", limit=1)
    assert first.next_cursor is not None
    elastic.search(SearchQuery("example.com", limit=1, cursor=first.next_cursor))
    bodies = [r.body for r in sent("POST", "/_search")]
    assert bodies[1]["search_after"] == decode_search_cursor(first.next_cursor)
    assert bodies[1]["search_after"][1] in ("contact:c3", "company:k1")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_cluster_is_service_unavailable() -> None:
    adapter = ElasticIndex(f"http://127.0.0.1:{_closed_port()}", request_timeout=1.0)
    with pytest.raises(ServiceUnavailable):
        adapter.ping()
    with pytest.raises(ServiceUnavailable):
        adapter.search(SearchQuery("smithson"))
    with pytest.raises(ServiceUnavailable):
        adapter.upsert(CORPUS[0])


def test_a_server_error_is_service_unavailable(stub: EsStub, elastic: ElasticIndex) -> None:
    elastic.upsert(CORPUS[0])
    stub.fail_status = 503
    try:
        with pytest.raises(ServiceUnavailable):
            elastic.search(SearchQuery("smithson"))
        with pytest.raises(ServiceUnavailable):
            elastic.ping()
    finally:
        stub.fail_status = None


def test_a_timeout_is_service_unavailable(stub: EsStub) -> None:
    adapter = ElasticIndex(stub.url, index=f"crm-search-{uuid.uuid4().hex}", request_timeout=0.2)
    stub.delay = 0.6
    try:
        with pytest.raises(ServiceUnavailable):
            adapter.get("contact", "c1")
    finally:
        stub.delay = 0.0
        adapter.close()


def test_a_server_that_is_not_elasticsearch_is_service_unavailable(stub: EsStub) -> None:
    adapter = ElasticIndex(stub.url, index=f"crm-search-{uuid.uuid4().hex}")
    stub.product_header = False
    try:
        with pytest.raises(ServiceUnavailable):
            adapter.ping()
        with pytest.raises(ServiceUnavailable):
            adapter.search(SearchQuery("smithson"))
    finally:
        stub.product_header = True
        adapter.close()
