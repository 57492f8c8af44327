"""What the search port offers beyond matching text, kept by every adapter: typo tolerance, recency
ranking, filters, ranges, facets, browse, capped totals, bulk writes, versions and counts."""

import sys
from pathlib import Path

import pytest

from crm_common import search_index
from crm_common.search_index import SearchDoc, SearchIndex, SearchResult

# The repository runs pytest with --import-mode=importlib, which leaves a test's own directory off
# sys.path; the shared fixtures live beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_search_contract as contract  # noqa: E402

index, stub = contract.index, contract.stub  # the adapters' fixtures, parametrized the same way
keys, search = contract.keys, contract.search

NOW = "2025-06-01T00:00:00Z"
OLD = "2023-01-01T00:00:00Z"

PEOPLE = [
    SearchDoc("contact", "smithson", "John Smithson", 1, body="Rotterdam office", updated_at=OLD),
    SearchDoc("contact", "montgomery", "Ada Montgomery", 1, body="Glasgow", updated_at=OLD),
    SearchDoc("contact", "mithson", "Mary Mithson", 1, updated_at=OLD),  # not Smithson: first letter differs
    SearchDoc("contact", "smith", "Kate Smith", 1, updated_at=OLD),
]


def refreshed(index: SearchIndex) -> SearchIndex:
    refresh = getattr(index, "refresh", None)
    if refresh:
        refresh()
    return index


@pytest.fixture
def people(index: SearchIndex) -> SearchIndex:
    assert index.upsert_many(PEOPLE) == len(PEOPLE)
    return index


# --- typo tolerance -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "smtihson",  # two neighbours swapped: one edit
        "smithsn",  # a letter left out
        "SMITHSONN",  # a letter too many, any case
        "smithsen rotterdam",  # one typo'd term among exact ones
    ],
)
def test_a_surname_with_one_typo_is_found(people: SearchIndex, text: str) -> None:
    assert keys(search(people, text, now=NOW)) == {"contact:smithson"}


def test_a_long_word_tolerates_two_typos(people: SearchIndex) -> None:
    assert keys(search(people, "mnotgomry", now=NOW)) == {"contact:montgomery"}  # swap + deletion


@pytest.mark.parametrize(
    "text",
    [
        "smtihsn",  # two edits in a 7-letter term: one is the allowance
        "smythsun",  # two substitutions in 8 letters: within the allowance (found, see below)
        "smyhtsun",  # three edits
        "amithson",  # the first letter is never the typo
        "smoht",  # 5 letters allow one edit; "smith" is two away
        "gls",  # short terms never match by typo
    ],
)
def test_words_beyond_the_typo_allowance_are_not_found(people: SearchIndex, text: str) -> None:
    expected = {"contact:smithson"} if text == "smythsun" else set()
    assert keys(search(people, text, now=NOW)) == expected


def test_a_typo_match_ranks_below_an_exact_one(index: SearchIndex) -> None:
    # Same date, same field: only the typo tells them apart (the typo'd one would win the key tie).
    index.upsert(SearchDoc("contact", "b-exact", "Paula Lorenzon", 1, updated_at=OLD))
    index.upsert(SearchDoc("contact", "a-typo", "Paula Lorenzen", 1, updated_at=OLD))
    result = search(index, "lorenzon", now=NOW)
    assert [hit.id for hit in result.hits] == ["b-exact", "a-typo"]
    assert result.hits[0].score > result.hits[1].score
    assert result.total == 2


def test_a_typo_match_highlights_the_documents_word(people: SearchIndex) -> None:
    (hit,) = search(people, "smtihson", now=NOW).hits
    assert hit.highlights[0] == "John <mark>Smithson</mark>"


# --- ranking by recency ---------------------------------------------------------------------


def test_of_two_equal_matches_the_more_recently_updated_ranks_first(index: SearchIndex) -> None:
    index.upsert(SearchDoc("deal", "a-old", "Harbour crane", 1, updated_at="2024-01-01T00:00:00Z"))
    index.upsert(SearchDoc("deal", "b-new", "Harbour crane", 1, updated_at="2025-05-25T00:00:00Z"))
    index.upsert(SearchDoc("deal", "c-mid", "Harbour crane", 1, updated_at="2025-02-01T00:00:00Z"))
    result = search(index, "harbour", now=NOW)
    assert [hit.id for hit in result.hits] == ["b-new", "c-mid", "a-old"]
    # The boost is at most 1.5x: a title match of an old record still beats a body-only new one.
    index.upsert(SearchDoc("deal", "d-body", "Crane", 1, body="harbour", updated_at=NOW))
    assert search(index, "harbour", now=NOW).hits[-1].id == "d-body"


def test_created_at_stands_in_for_a_missing_updated_at(index: SearchIndex) -> None:
    index.upsert(SearchDoc("contact", "a-old", "Quill", 1, created_at="2024-01-01T00:00:00Z"))
    index.upsert(SearchDoc("contact", "b-new", "Quill", 1, created_at="2025-05-30T00:00:00Z"))
    assert [hit.id for hit in search(index, "quill", now=NOW).hits] == ["b-new", "a-old"]


# --- filters, ranges, facets ----------------------------------------------------------------

DEALS = [
    SearchDoc(
        "deal",
        "d1",
        "Pump order",
        1,
        fields={
            "owner_id": "u1",
            "stage_id": "s1",
            "status": "open",
            "amount": 500,
            "currency": "EUR",
            "expected_close_date": "2025-06-30",
        },
        created_at="2025-01-10T08:00:00Z",
        updated_at="2025-05-01T08:00:00Z",
        access=["owner:u1"],
    ),
    SearchDoc(
        "deal",
        "d2",
        "Pump service",
        1,
        fields={
            "owner_id": "u1",
            "stage_id": "s2",
            "status": "won",
            "amount": 999.5,
            "currency": "EUR",
            "expected_close_date": "2025-07-15",
        },
        created_at="2025-02-10T08:00:00Z",
        updated_at="2025-05-02T08:00:00Z",
        access=["owner:u1"],
    ),
    SearchDoc(
        "deal",
        "d3",
        "Pump spares",
        1,
        fields={
            "owner_id": "u2",
            "stage_id": "s1",
            "status": "open",
            "amount": 1000,
            "currency": "USD",
            "expected_close_date": "2025-08-01",
        },
        created_at="2025-03-10T08:00:00Z",
        updated_at="2025-05-03T08:00:00Z",
        access=["owner:u2"],
    ),
    SearchDoc(
        "deal",
        "d4",
        "Pump lease",
        1,
        fields={"owner_id": None, "status": "open", "amount": 20000, "currency": "USD"},
        created_at="2025-04-10T08:00:00Z",
        updated_at="2025-05-04T08:00:00Z",
        access=["pool"],
    ),
    SearchDoc(
        "ticket",
        "t1",
        "Pump broken",
        1,
        fields={"owner_id": "u2", "status": "open", "priority": "high", "team_id": "tm1"},
        created_at="2025-05-10T08:00:00Z",
        updated_at="2025-05-10T08:00:00Z",
        access=["owner:u2", "team:tm1"],
    ),
]


@pytest.fixture
def deals(index: SearchIndex) -> SearchIndex:
    assert index.upsert_many(DEALS) == len(DEALS)
    return index


def test_filters_on_several_fields_and_none_for_missing(deals: SearchIndex) -> None:
    assert keys(search(deals, "pump", filters={"status": ["open"], "currency": ["USD"]})) == {"deal:d3", "deal:d4"}
    assert keys(search(deals, "pump", filters={"owner_id": [None]})) == {"deal:d4"}
    # stage_id: d4 and the ticket lack it.
    assert keys(search(deals, "pump", filters={"stage_id": ["s2", None]})) == {"deal:d2", "deal:d4", "ticket:t1"}
    assert keys(search(deals, "pump", types=["deal"], filters={"priority": [None]})) == {
        "deal:d1",
        "deal:d2",
        "deal:d3",
        "deal:d4",
    }


def test_ranges_on_numbers(deals: SearchIndex) -> None:
    assert keys(search(deals, "pump", ranges={"amount": (500, 1000)})) == {"deal:d1", "deal:d2"}
    assert keys(search(deals, "pump", ranges={"amount": (999.5, None)})) == {"deal:d2", "deal:d3", "deal:d4"}
    assert keys(search(deals, "pump", ranges={"amount": (None, 999.5)})) == {"deal:d1"}


def test_ranges_on_dates(deals: SearchIndex) -> None:
    assert keys(search(deals, "pump", ranges={"created_at": ("2025-02-01", "2025-04-01")})) == {"deal:d2", "deal:d3"}
    assert keys(search(deals, "pump", ranges={"created_at": ("2025-03-10T08:00:00Z", None)})) == {
        "deal:d3",
        "deal:d4",
        "ticket:t1",
    }
    assert keys(search(deals, "pump", ranges={"updated_at": (None, "2025-05-03")})) == {"deal:d1", "deal:d2"}
    assert keys(search(deals, "pump", ranges={"expected_close_date": ("2025-07-01", "2025-08-01")})) == {"deal:d2"}
    assert keys(search(deals, "pump", ranges={"expected_close_date": ("2025-06-01", None), "amount": (600, None)})) == {
        "deal:d2",
        "deal:d3",
    }


def test_facets_count_several_fields_with_missing_under_the_empty_key(deals: SearchIndex) -> None:
    result = search(deals, "pump", facets=("type", "owner_id", "stage_id", "status", "priority"))
    assert result.total == 5 and result.total_relation == "eq"
    assert result.facets == {
        "type": {"deal": 4, "ticket": 1},
        "owner_id": {"u1": 2, "u2": 2, "": 1},
        "stage_id": {"s1": 2, "s2": 1, "": 2},
        "status": {"open": 4, "won": 1},
        "priority": {"high": 1, "": 4},
    }


def test_facets_follow_the_filters(deals: SearchIndex) -> None:
    result = search(deals, "pump", filters={"currency": ["EUR"]}, facets=("owner_id", "stage_id"))
    assert result.facets == {"owner_id": {"u1": 2}, "stage_id": {"s1": 1, "s2": 1}}
    assert result.total == 2


def test_a_rep_never_sees_another_reps_doc_in_hits_total_or_facets(deals: SearchIndex) -> None:
    facets = ("type", "owner_id", "stage_id", "status", "currency", "priority", "team_id")
    rep = search(deals, "pump", access=["owner:u1", "pool"], facets=facets)
    assert keys(rep) == {"deal:d1", "deal:d2", "deal:d4"}
    assert rep.total == 3
    assert rep.facets == {
        "type": {"deal": 3},
        "owner_id": {"u1": 2, "": 1},
        "stage_id": {"s1": 1, "s2": 1, "": 1},
        "status": {"open": 2, "won": 1},
        "currency": {"EUR": 2, "USD": 1},
        "priority": {"": 3},
        "team_id": {"": 3},
    }
    browse = search(deals, "", filters={"status": ["open"]}, access=["owner:u1"], facets=("owner_id",))
    assert (keys(browse), browse.total, browse.facets) == ({"deal:d1"}, 1, {"owner_id": {"u1": 1}})


def test_browse_with_an_empty_text_and_a_filter_ranks_by_recency(deals: SearchIndex) -> None:
    result = search(deals, "", filters={"status": ["open"]}, now=NOW)
    assert [hit.id for hit in result.hits] == ["t1", "d4", "d3", "d1"]
    assert result.total == 4
    ranged = search(deals, "", ranges={"amount": (1000, None)}, facets=("currency",), now=NOW)
    assert [hit.id for hit in ranged.hits] == ["d4", "d3"]
    assert ranged.facets == {"currency": {"USD": 2}}


def test_an_empty_text_without_filters_or_ranges_finds_nothing(deals: SearchIndex) -> None:
    assert search(deals, "", facets=("type", "owner_id")) == SearchResult([], {"type": {}, "owner_id": {}}, 0)


def test_browse_pages_every_match_once(deals: SearchIndex) -> None:
    seen, cursor = [], None
    for _ in range(6):
        page = search(deals, "", filters={"status": ["open", "won"]}, limit=2, cursor=cursor, now=NOW)
        seen.extend(hit.id for hit in page.hits)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == ["d1", "d2", "d3", "d4", "t1"]


# --- capped totals --------------------------------------------------------------------------


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """Adapters read TOTAL_EXACT_UP_TO from their module's globals (or the package) at search time."""
    from crm_common.search_index import elastic, sqlite_fts

    for module in (search_index, sqlite_fts, elastic):
        monkeypatch.setattr(module, "TOTAL_EXACT_UP_TO", 5, raising=False)
    return 5


def test_a_total_past_the_cap_is_a_lower_bound(index: SearchIndex, small_cap: int) -> None:
    index.upsert_many([SearchDoc("contact", f"w{n}", f"Widespread {n}", 1) for n in range(small_cap)])
    exact = search(index, "widespread", limit=2)
    assert (exact.total, exact.total_relation) == (small_cap, "eq")
    index.upsert_many([SearchDoc("contact", f"x{n}", f"Widespread {n}", 1) for n in range(3)])
    capped = search(index, "widespread", limit=2)
    assert (capped.total, capped.total_relation) == (small_cap, "gte")
    assert len(capped.hits) == 2 and capped.next_cursor is not None
    narrow = search(index, "widespread", limit=2, filters={"owner_id": [None]}, types=["contact"])
    assert narrow.total_relation == "gte"


# --- bulk writes, versions, counts ----------------------------------------------------------


def test_upsert_many_keeps_the_version_guard(index: SearchIndex) -> None:
    assert index.upsert(SearchDoc("contact", "n1", "Newer", 3))
    assert index.delete("contact", "gone", 5)
    written = index.upsert_many(
        [
            SearchDoc("contact", "n1", "Older", 2),  # refused: 3 is indexed
            SearchDoc("contact", "gone", "Resurrected", 4),  # refused: the tombstone is version 5
            SearchDoc("contact", "b1", "Bulk one", 1),
            SearchDoc("company", "b2", "Bulk two", 7),
        ]
    )
    assert written == 2
    assert index.get("contact", "n1").title == "Newer"
    assert index.get("contact", "gone") is None
    assert index.get("company", "b2").version == 7
    assert keys(search(index, "bulk")) == {"contact:b1", "company:b2"}
    assert index.upsert_many([]) == 0
    assert index.upsert_many([SearchDoc("contact", "n1", "Newest", 4)]) == 1
    assert keys(search(index, "newest")) == {"contact:n1"}


def test_versions_page_in_id_order_with_tombstones(index: SearchIndex) -> None:
    index.upsert_many([SearchDoc("contact", f"v{n}", f"Versioned {n}", n + 1) for n in range(5)])
    index.upsert(SearchDoc("company", "v0", "Other type", 9))
    index.delete("contact", "v2", 10)
    index.delete("contact", "v9", 4)  # a tombstone that never was a doc
    refreshed(index)
    first = index.versions("contact", None, 3)
    assert first == [("v0", 1, False), ("v1", 2, False), ("v2", 10, True)]
    second = index.versions("contact", "v2", 3)
    assert second == [("v3", 4, False), ("v4", 5, False), ("v9", 4, True)]
    assert index.versions("contact", "v9", 3) == []
    assert index.versions("deal", None, 3) == []


def test_count_is_live_docs_per_type_or_all(index: SearchIndex) -> None:
    index.upsert_many([SearchDoc("contact", f"k{n}", "Counted", 1) for n in range(4)])
    index.upsert(SearchDoc("deal", "k1", "Counted", 1))
    index.delete("contact", "k0", 2)
    index.delete("contact", "never", 1)
    refreshed(index)
    assert index.count("contact") == 3
    assert index.count("deal") == 1
    assert index.count("ticket") == 0
    assert index.count() == 4
