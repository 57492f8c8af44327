"""The document-store contract: every adapter behind the port must pass every test here."""

import base64
import json
import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mongomock
import mongomock.filtering
import pymongo
import pytest

from crm_common.envelope import new_event
from crm_common.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from crm_common.store import OUTBOX, Collection, CollectionSpec, DocumentStore, Index, open_store
from crm_common.store.query import normalise_sort

MONGODB_TEST_URL = os.environ.get("MONGODB_TEST_URL")

SPECS = (
    CollectionSpec(
        "contacts",
        (
            Index(("email",), unique=True),
            Index(("external.hubspot_id",), unique=True),
            Index(("custom_fields.region",)),
            Index(("last_name", "first_name")),
        ),
    ),
    CollectionSpec("accounts", (Index(("domain", "tenant"), unique=True),)),
    CollectionSpec("items"),
)


@dataclass(frozen=True)
class Adapter:
    name: str
    rolls_back: bool  # a transaction that raises leaves nothing written


ADAPTERS = [Adapter("sqlite", rolls_back=True), Adapter("mongomock", rolls_back=False)]
if MONGODB_TEST_URL:
    ADAPTERS.append(Adapter("mongodb", rolls_back=True))


def _mongomock_type_op(doc_value: Any, search: Any) -> bool:
    """mongomock 4.3 evaluates `$type` with one type only; MongoDB also takes a list, which the
    adapter's partial unique indexes use."""
    kinds = search if isinstance(search, list) else [search]
    return any(mongomock.filtering._type_op(doc_value, kind) for kind in kinds)


@contextmanager
def opened(adapter: Adapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DocumentStore]:
    if adapter.name == "sqlite":
        store = open_store("sqlite:///" + str(tmp_path / "store.db"), SPECS)
        try:
            yield store
        finally:
            store.close()
    elif adapter.name == "mongomock":
        monkeypatch.setitem(mongomock.filtering._filterer_inst._operator_map, "$type", _mongomock_type_op)
        store = open_store(
            "mongodb://localhost/crm_contract", SPECS, client=mongomock.MongoClient(), transactions=False
        )
        try:
            yield store
        finally:
            store.close()
    else:
        database = f"crm_contract_{uuid.uuid4().hex[:12]}"
        store = open_store(MONGODB_TEST_URL, SPECS, database=database)
        try:
            yield store
        finally:
            store.close()
            admin = pymongo.MongoClient(MONGODB_TEST_URL)
            admin.drop_database(database)
            admin.close()


@pytest.fixture(params=ADAPTERS, ids=lambda adapter: adapter.name)
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DocumentStore]:
    with opened(request.param, tmp_path, monkeypatch) as opened_store:
        yield opened_store


@pytest.fixture(params=[a for a in ADAPTERS if a.rolls_back], ids=lambda adapter: adapter.name)
def rollback_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DocumentStore]:
    with opened(request.param, tmp_path, monkeypatch) as opened_store:
        yield opened_store


CONTACTS = [
    {
        "id": "ada",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "age": 36,
        "tags": ["vip", "math"],
        "custom_fields": {"region": "emea", "tier": 1},
        "active": True,
        "notes": "Wrote the first Program",
    },
    {
        "id": "grace",
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@navy.mil",
        "age": 85,
        "tags": ["navy"],
        "custom_fields": {"region": "amer", "tier": 2},
        "active": False,
        "notes": "COBOL pioneer",
    },
    {
        "id": "alan",
        "first_name": "Alan",
        "last_name": "Turing",
        "email": None,
        "age": 41,
        "tags": [],
        "custom_fields": {"region": "emea"},
        "active": True,
    },
    {
        "id": "katherine",
        "first_name": "Katherine",
        "last_name": "Johnson",
        "age": None,
        "tags": ["math", "nasa"],
        "custom_fields": {},
        "active": False,
        "notes": "Orbital mechanics at NASA",
    },
    {"id": "edsger", "first_name": "Edsger", "last_name": "Dijkstra", "notes": "goto considered harmful; programs"},
    {
        "id": "zoe",
        "first_name": "Zoë",
        "last_name": "Ärger",
        "email": "zoe@example.de",
        "age": 29,
        "tags": ["Math"],
        "custom_fields": {"region": None},
        "notes": "Mathematikerin",
    },
]


@pytest.fixture
def contacts(store: DocumentStore) -> Collection:
    for contact in CONTACTS:
        store["contacts"].insert(contact)
    return store["contacts"]


def ids(collection: Collection, filter: dict | None = None, sort: list | None = None) -> list[str]:
    return [doc["id"] for doc in collection.find(filter, sort, limit=1000).items]


# --- documents and versions -------------------------------------------------------------------


def test_insert_starts_at_version_one_and_get_returns_the_document(store: DocumentStore) -> None:
    doc = {"id": "c1", "name": "Ada", "custom_fields": {"region": "emea"}, "tags": ["a"]}
    inserted = store["contacts"].insert(doc)
    assert inserted == {**doc, "version": 1}
    assert store["contacts"].get("c1") == {**doc, "version": 1}


def test_insert_does_not_change_the_callers_document(store: DocumentStore) -> None:
    doc = {"id": "c1", "name": "Ada"}
    store["contacts"].insert(doc)
    assert doc == {"id": "c1", "name": "Ada"}


def test_documents_read_back_carry_id_and_never_a_store_key(contacts: Collection) -> None:
    for doc in [contacts.get("ada"), *contacts.find().items]:
        assert "_id" not in doc
        assert isinstance(doc["id"], str) and doc["version"] == 1


def test_get_of_an_unknown_id_returns_none(store: DocumentStore) -> None:
    assert store["contacts"].get("nobody") is None


def test_an_undeclared_collection_is_refused(store: DocumentStore) -> None:
    with pytest.raises(KeyError):
        store["nope"]
    with pytest.raises(KeyError), store.transaction() as tx:
        tx["nope"]


def test_inserting_a_taken_id_is_a_conflict(store: DocumentStore) -> None:
    store["contacts"].insert({"id": "c1", "name": "first"})
    with pytest.raises(Conflict):
        store["contacts"].insert({"id": "c1", "name": "second"})
    assert store["contacts"].get("c1")["name"] == "first"


def test_inserting_a_taken_unique_value_is_a_conflict(store: DocumentStore) -> None:
    store["contacts"].insert({"id": "c1", "email": "ada@example.com"})
    with pytest.raises(Conflict):
        store["contacts"].insert({"id": "c2", "email": "ada@example.com"})
    assert store["contacts"].get("c2") is None


def test_insert_many_stores_every_document_at_version_one_in_order(store: DocumentStore) -> None:
    docs = [{"id": f"c{i}", "email": f"u{i}@example.com", "tags": ["a"]} for i in range(5)]
    inserted = store["contacts"].insert_many(docs)
    assert inserted == [{**doc, "version": 1} for doc in docs]
    assert [store["contacts"].get(f"c{i}") for i in range(5)] == inserted
    assert docs[0] == {"id": "c0", "email": "u0@example.com", "tags": ["a"]}
    assert store["contacts"].insert_many([]) == []


@pytest.mark.parametrize(
    "batch",
    [
        [{"id": "c2", "email": "b@example.com"}, {"id": "c1", "email": "c@example.com"}],  # a taken id
        [{"id": "c2", "email": "b@example.com"}, {"id": "c3", "email": "ada@example.com"}],  # a taken unique value
        [{"id": "c2", "email": "b@example.com"}, {"id": "c2", "email": "c@example.com"}],  # the batch repeats an id
        [{"id": "c2", "email": "b@example.com"}, {"id": "c3", "email": "b@example.com"}],  # and a unique value
    ],
)
def test_insert_many_with_a_conflict_writes_none_of_the_documents(store: DocumentStore, batch: list[dict]) -> None:
    store["contacts"].insert({"id": "c1", "email": "ada@example.com"})
    with pytest.raises(Conflict):
        store["contacts"].insert_many(batch)
    assert ids(store["contacts"]) == ["c1"]


def test_insert_many_inside_a_transaction_commits_and_rolls_back_with_it(rollback_store: DocumentStore) -> None:
    store = rollback_store
    with store.transaction() as tx:
        tx["items"].insert_many([{"id": "kept1"}, {"id": "kept2"}])
        assert tx["items"].get("kept2") == {"id": "kept2", "version": 1}
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx["items"].insert_many([{"id": "gone1"}, {"id": "gone2"}])
        raise RuntimeError("boom")
    assert ids(store["items"]) == ["kept1", "kept2"]


def test_unique_index_on_a_nested_field_refuses_duplicates(store: DocumentStore) -> None:
    store["contacts"].insert({"id": "c1", "external": {"hubspot_id": "h-1"}})
    with pytest.raises(Conflict):
        store["contacts"].insert({"id": "c2", "external": {"hubspot_id": "h-1"}})


def test_null_and_missing_unique_values_never_collide(store: DocumentStore) -> None:
    contacts = store["contacts"]
    contacts.insert({"id": "c1", "email": None, "external": None})
    contacts.insert({"id": "c2", "email": None, "external": {"hubspot_id": None}})
    contacts.insert({"id": "c3"})
    contacts.insert({"id": "c4", "external": {}})
    assert contacts.count() == 4


def test_compound_unique_index_refuses_only_a_full_match(store: DocumentStore) -> None:
    accounts = store["accounts"]
    accounts.insert({"id": "a1", "domain": "acme.com", "tenant": "t1"})
    accounts.insert({"id": "a2", "domain": "acme.com", "tenant": "t2"})
    accounts.insert({"id": "a3", "domain": "acme.com", "tenant": None})
    accounts.insert({"id": "a4", "domain": "acme.com"})
    accounts.insert({"id": "a5", "domain": "acme.com", "tenant": None})
    with pytest.raises(Conflict):
        accounts.insert({"id": "a6", "domain": "acme.com", "tenant": "t1"})
    assert accounts.count() == 5


def test_replace_with_the_current_version_bumps_it(store: DocumentStore) -> None:
    store["contacts"].insert({"id": "c1", "name": "Ada", "email": "ada@example.com"})
    replaced = store["contacts"].replace({"id": "c1", "name": "Ada L."}, expected_version=1)
    assert replaced == {"id": "c1", "name": "Ada L.", "version": 2}
    assert store["contacts"].get("c1") == replaced  # the whole document is replaced: email is gone


def test_replace_with_stale_version_is_refused(store: DocumentStore) -> None:
    store["contacts"].insert({"id": "c1", "name": "Ada"})
    store["contacts"].replace({"id": "c1", "name": "Ada L."}, expected_version=1)
    with pytest.raises(PreconditionFailed):
        store["contacts"].replace({"id": "c1", "name": "stale"}, expected_version=1)
    assert store["contacts"].get("c1") == {"id": "c1", "name": "Ada L.", "version": 2}


def test_replace_without_expected_version_always_applies(store: DocumentStore) -> None:
    store["contacts"].insert({"id": "c1", "name": "Ada"})
    store["contacts"].replace({"id": "c1", "name": "two"})
    assert store["contacts"].replace({"id": "c1", "name": "three"})["version"] == 3


def test_replace_of_a_missing_document_is_not_found(store: DocumentStore) -> None:
    with pytest.raises(NotFound):
        store["contacts"].replace({"id": "ghost", "name": "x"})
    with pytest.raises(NotFound):
        store["contacts"].replace({"id": "ghost", "name": "x"}, expected_version=1)
    assert store["contacts"].get("ghost") is None


def test_replace_onto_a_taken_unique_value_is_a_conflict(store: DocumentStore) -> None:
    store["contacts"].insert({"id": "c1", "email": "ada@example.com"})
    store["contacts"].insert({"id": "c2", "email": "grace@navy.mil"})
    with pytest.raises(Conflict):
        store["contacts"].replace({"id": "c2", "email": "ada@example.com"}, expected_version=1)
    assert store["contacts"].get("c2")["email"] == "grace@navy.mil"


def test_put_inserts_then_replaces_regardless_of_version(store: DocumentStore) -> None:
    assert store["items"].put({"id": "i1", "n": 1, "version": 99}) == {"id": "i1", "n": 1, "version": 1}
    assert store["items"].put({"id": "i1", "n": 2}) == {"id": "i1", "n": 2, "version": 2}
    assert store["items"].get("i1") == {"id": "i1", "n": 2, "version": 2}


def test_put_onto_a_taken_unique_value_is_a_conflict(store: DocumentStore) -> None:
    store["contacts"].insert({"id": "c1", "email": "ada@example.com"})
    with pytest.raises(Conflict):
        store["contacts"].put({"id": "c2", "email": "ada@example.com"})
    store["contacts"].insert({"id": "c3", "email": "grace@navy.mil"})
    with pytest.raises(Conflict):
        store["contacts"].put({"id": "c3", "email": "ada@example.com"})
    assert store["contacts"].get("c3")["email"] == "grace@navy.mil"


def test_delete_reports_whether_a_document_was_removed(store: DocumentStore) -> None:
    store["items"].insert({"id": "i1"})
    assert store["items"].delete("i1") is True
    assert store["items"].delete("i1") is False
    assert store["items"].get("i1") is None


def test_delete_with_stale_version_is_refused(store: DocumentStore) -> None:
    store["items"].insert({"id": "i1"})
    store["items"].replace({"id": "i1", "n": 2})
    with pytest.raises(PreconditionFailed):
        store["items"].delete("i1", expected_version=1)
    assert store["items"].get("i1") is not None
    assert store["items"].delete("i1", expected_version=2) is True
    assert store["items"].delete("i1", expected_version=2) is False


def test_count_honours_the_filter(contacts: Collection) -> None:
    assert contacts.count() == len(CONTACTS)
    assert contacts.count({"active": True}) == 2
    assert contacts.count({"$or": [{"id": "ada"}, {"id": "zoe"}]}) == 2


# --- filters ------------------------------------------------------------------------------------

FILTERS = [
    ("plain value is equality", {"last_name": "Hopper"}, {"grace"}),
    ("eq", {"age": {"$eq": 41}}, {"alan"}),
    ("several fields must all match", {"first_name": "Ada", "age": 36}, {"ada"}),
    ("boolean equality", {"active": False}, {"grace", "katherine"}),
    ("none equality matches null and missing", {"email": None}, {"alan", "katherine", "edsger"}),
    ("eq none matches null and missing", {"email": {"$eq": None}}, {"alan", "katherine", "edsger"}),
    ("ne none means present and not null", {"email": {"$ne": None}}, {"ada", "grace", "zoe"}),
    ("ne value includes null and missing", {"age": {"$ne": 36}}, {"grace", "alan", "katherine", "edsger", "zoe"}),
    ("gt", {"age": {"$gt": 36}}, {"grace", "alan"}),
    ("gte", {"age": {"$gte": 36}}, {"ada", "grace", "alan"}),
    ("lt", {"age": {"$lt": 41}}, {"ada", "zoe"}),
    ("lte", {"age": {"$lte": 41}}, {"ada", "alan", "zoe"}),
    ("range on one field", {"age": {"$gt": 30, "$lt": 50}}, {"ada", "alan"}),
    ("string comparison", {"last_name": {"$lt": "K"}}, {"grace", "katherine", "edsger"}),
    ("comparing with none matches nothing", {"age": {"$gte": None}}, set()),
    ("in", {"last_name": {"$in": ["Hopper", "Turing", "Nobody"]}}, {"grace", "alan"}),
    (
        "in with none matches null and missing",
        {"email": {"$in": [None, "ada@example.com"]}},
        {"ada", "alan", "katherine", "edsger"},
    ),
    ("in an empty list matches nothing", {"id": {"$in": []}}, set()),
    (
        "nin includes null and missing",
        {"custom_fields.region": {"$nin": ["emea"]}},
        {"grace", "katherine", "edsger", "zoe"},
    ),
    ("nin with none excludes null and missing", {"custom_fields.region": {"$nin": ["emea", None]}}, {"grace"}),
    ("exists counts a null as present", {"email": {"$exists": True}}, {"ada", "grace", "alan", "zoe"}),
    ("exists false", {"email": {"$exists": False}}, {"katherine", "edsger"}),
    ("nested exists", {"custom_fields.region": {"$exists": True}}, {"ada", "grace", "alan", "zoe"}),
    ("dotted field equality", {"custom_fields.region": "emea"}, {"ada", "alan"}),
    ("dotted field comparison", {"custom_fields.tier": {"$gte": 2}}, {"grace"}),
    ("dotted field none", {"custom_fields.region": None}, {"katherine", "edsger", "zoe"}),
    ("id field", {"id": {"$in": ["ada", "zoe"]}}, {"ada", "zoe"}),
    ("contains an array element exactly", {"tags": {"$contains": "math"}}, {"ada", "katherine"}),
    ("contains on arrays is not a substring match", {"tags": {"$contains": "nav"}}, set()),
    ("contains a case insensitive substring", {"notes": {"$contains": "PROGRAM"}}, {"ada", "edsger"}),
    ("contains ignores case beyond ascii", {"last_name": {"$contains": "ärg"}}, {"zoe"}),
    ("contains takes regex characters literally", {"notes": {"$contains": "a.a"}}, set()),
    ("contains on a nested string", {"custom_fields.region": {"$contains": "EM"}}, {"ada", "alan"}),
    ("contains any of several elements", {"tags": {"$containsAny": ["navy", "nasa"]}}, {"grace", "katherine"}),
    ("contains any is exact and case sensitive", {"tags": {"$containsAny": ["Nav", "math"]}}, {"ada", "katherine"}),
    ("contains any of an empty list matches nothing", {"tags": {"$containsAny": []}}, set()),
    ("contains any never matches a string field", {"last_name": {"$containsAny": ["Hopper"]}}, set()),
    ("contains any never matches a missing field", {"scores": {"$containsAny": ["x"]}}, set()),
    ("not contains any", {"$not": {"tags": {"$containsAny": ["math"]}}}, {"grace", "alan", "edsger", "zoe"}),
    (
        "contains any or missing",
        {"$or": [{"tags": None}, {"tags": {"$containsAny": ["navy"]}}]},
        {"grace", "edsger"},
    ),
    ("or", {"$or": [{"age": {"$lt": 30}}, {"tags": {"$contains": "navy"}}]}, {"zoe", "grace"}),
    ("and", {"$and": [{"active": True}, {"custom_fields.region": "emea"}]}, {"ada", "alan"}),
    ("two contains side by side", {"tags": {"$contains": "math"}, "notes": {"$contains": "nasa"}}, {"katherine"}),
    (
        "not includes documents the inner filter cannot judge",
        {"$not": {"age": {"$gt": 40}}},
        {"ada", "katherine", "edsger", "zoe"},
    ),
    ("not of or", {"$not": {"$or": [{"active": True}, {"email": None}]}}, {"grace", "zoe"}),
    ("empty filter matches everything", {}, {c["id"] for c in CONTACTS}),
]


@pytest.mark.parametrize("filter, expected", [(f, e) for _, f, e in FILTERS], ids=[n for n, _, _ in FILTERS])
def test_filter_selects_exactly_the_matching_documents(contacts: Collection, filter: dict, expected: set[str]) -> None:
    assert set(ids(contacts, filter)) == expected
    assert contacts.count(filter) == len(expected)


INVALID_FILTERS = [
    ("javascript where", {"$where": "sleep(1000)"}),
    ("regex operator", {"email": {"$regex": ".*"}}),
    ("operator hidden in a value", {"email": {"$eq": {"$gt": ""}}}),
    ("operator hidden in a list", {"email": {"$in": [{"$gt": ""}]}}),
    ("object equality", {"custom_fields": {"region": "emea"}}),
    ("sql in a field name", {"email') OR 1=1 --": "x"}),
    ("dollar field path", {"custom_fields.$where": 1}),
    ("empty or", {"$or": []}),
    ("empty operator object", {"email": {}}),
    ("in needs a list", {"email": {"$in": "ada@example.com"}}),
    ("exists needs a boolean", {"email": {"$exists": 1}}),
    ("contains needs a scalar", {"tags": {"$contains": ["math"]}}),
    ("contains any needs a list", {"tags": {"$containsAny": "math"}}),
    ("contains any refuses null", {"tags": {"$containsAny": [None]}}),
    ("not an object", ["email"]),
]


@pytest.mark.parametrize("filter", [f for _, f in INVALID_FILTERS], ids=[n for n, _ in INVALID_FILTERS])
def test_malformed_or_injected_filter_is_a_bad_request(contacts: Collection, filter: Any) -> None:
    with pytest.raises(BadRequest):
        contacts.find(filter)
    with pytest.raises(BadRequest):
        contacts.count(filter)


def test_sorting_by_an_unsafe_field_is_a_bad_request(contacts: Collection) -> None:
    with pytest.raises(BadRequest):
        contacts.find(sort=[("age; DROP TABLE c_contacts", 1)])
    with pytest.raises(BadRequest):
        contacts.find(sort=[("$natural", 1)])


# --- sorting and pagination ---------------------------------------------------------------------


def test_ascending_sort_puts_nulls_and_missing_first(contacts: Collection) -> None:
    assert ids(contacts, sort=[("age", 1)]) == ["edsger", "katherine", "zoe", "ada", "alan", "grace"]


def test_descending_sort_puts_nulls_and_missing_last(contacts: Collection) -> None:
    assert ids(contacts, sort=[("age", -1)]) == ["grace", "alan", "ada", "zoe", "katherine", "edsger"]


def test_sort_on_a_nested_field(contacts: Collection) -> None:
    assert ids(contacts, sort=[("custom_fields.region", 1), ("id", 1)]) == [
        "edsger",
        "katherine",
        "zoe",
        "grace",
        "ada",
        "alan",
    ]


def _sort_key(doc: dict, field: str) -> tuple:
    value: Any = doc
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return (0, 0) if value is None else (1, value)


def expected_order(docs: list[dict], sort: list[tuple[str, int]]) -> list[str]:
    """The port's ordering computed in Python: nulls first ascending, id as the final tie-break."""
    ordered = list(docs)
    for field, direction in reversed(normalise_sort(sort)):
        ordered.sort(key=lambda doc: _sort_key(doc, field), reverse=direction < 0)
    return [doc["id"] for doc in ordered]


def page_through(
    collection: Collection, sort: list, filter: dict | None = None, limit: int = 10
) -> tuple[list[str], int]:
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        page = collection.find(filter, sort, limit, cursor)
        assert len(page.items) <= limit
        seen.extend(doc["id"] for doc in page.items)
        pages += 1
        if page.next_cursor is None:
            return seen, pages
        cursor = page.next_cursor


def _many() -> list[dict]:
    docs = []
    for i in range(57):
        doc: dict[str, Any] = {
            "id": f"p{(i * 23) % 57:02d}",
            "rank": None if i % 9 == 0 else i % 5,
            "group": "abc"[i % 3],
            "score": (i * 7) % 13 + (0.5 if i % 4 == 0 else 0),
            "custom_fields": {"tier": i % 4} if i % 6 else {},
        }
        if i % 11 == 0:
            del doc["rank"]
        docs.append(doc)
    random.Random(7).shuffle(docs)
    return docs


@pytest.fixture
def many(store: DocumentStore) -> tuple[Collection, list[dict]]:
    docs = _many()
    for doc in docs:
        store["items"].insert(doc)
    return store["items"], [{**doc, "version": 1} for doc in docs]


SORTS = [
    ("ascending with nulls", [("rank", 1)]),
    ("descending with nulls", [("rank", -1)]),
    ("compound mixed directions", [("group", 1), ("rank", -1)]),
    ("compound on a nested field", [("custom_fields.tier", -1), ("score", 1)]),
    ("explicit id direction", [("group", -1), ("id", 1)]),
    ("id only", []),
]


@pytest.mark.parametrize("sort", [s for _, s in SORTS], ids=[n for n, _ in SORTS])
def test_cursor_pagination_returns_every_document_once_in_order(
    many: tuple[Collection, list[dict]], sort: list
) -> None:
    collection, docs = many
    seen, pages = page_through(collection, sort)
    assert len(seen) == len(set(seen)) == 57
    assert seen == expected_order(docs, sort)
    assert pages == 6


def test_cursor_pagination_with_a_filter(many: tuple[Collection, list[dict]]) -> None:
    collection, docs = many
    sort = [("rank", 1), ("score", -1)]
    seen, _ = page_through(collection, sort, {"group": "a"}, limit=4)
    assert seen == expected_order([d for d in docs if d["group"] == "a"], sort)


def test_a_page_that_reaches_the_end_has_no_next_cursor(many: tuple[Collection, list[dict]]) -> None:
    collection, _ = many
    assert collection.find(limit=57).next_cursor is None
    assert collection.find(limit=56).next_cursor is not None


def test_iterate_walks_every_document(many: tuple[Collection, list[dict]]) -> None:
    collection, docs = many
    walked = [doc["id"] for doc in collection.iterate(sort=[("score", -1)], batch=7)]
    assert walked == expected_order(docs, [("score", -1)])


def _encoded(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        _encoded({"rank": 1}),
        _encoded([1]),
        _encoded([{"$gt": 0}, "p01"]),
        "%%%%",
    ],
    ids=["garbage", "object", "wrong length", "operator inside", "not base64"],
)
def test_invalid_cursor_is_a_bad_request(many: tuple[Collection, list[dict]], cursor: str) -> None:
    collection, _ = many
    with pytest.raises(BadRequest):
        collection.find(sort=[("rank", 1)], limit=10, cursor=cursor)


def test_cursor_from_another_sort_is_a_bad_request(many: tuple[Collection, list[dict]]) -> None:
    collection, _ = many
    cursor = collection.find(sort=[("rank", 1)], limit=10).next_cursor
    with pytest.raises(BadRequest):
        collection.find(sort=[("group", 1), ("rank", 1)], limit=10, cursor=cursor)


# --- transactions and the outbox ----------------------------------------------------------------


def test_transaction_commits_its_writes(store: DocumentStore) -> None:
    store["items"].insert({"id": "existing"})
    with store.transaction() as tx:
        tx["items"].insert({"id": "i1"})
        tx["items"].replace({"id": "existing", "n": 1}, expected_version=1)
        assert tx["items"].get("i1") is not None  # a transaction reads its own writes
    assert store["items"].get("i1") is not None
    assert store["items"].get("existing")["version"] == 2


def test_emit_writes_a_pending_event_into_the_outbox(store: DocumentStore) -> None:
    event = new_event("contact_created", "contacts", {"id": "c1"}, actor="u1")
    with store.transaction() as tx:
        tx["contacts"].insert({"id": "c1"})
        tx.emit(event)
    assert store[OUTBOX].get(event.event_id) == {
        "id": event.event_id,
        "status": "pending",
        "record": "contacts:c1",
        "event": event.as_dict(),
        "version": 1,
    }
    assert ids(store[OUTBOX], {"status": "pending"}) == [event.event_id]


def test_emit_many_writes_each_event_as_emit_does(store: DocumentStore) -> None:
    events = [new_event("contact_created", "contacts", {"id": f"c{i}"}, actor="u1") for i in range(3)]
    before = store.emitted
    with store.transaction() as tx:
        tx.emit_many(events)
        tx.emit_many([])
    assert store.emitted == before + 3
    for event in events:
        assert store[OUTBOX].get(event.event_id) == {
            "id": event.event_id,
            "status": "pending",
            "record": f"contacts:{event.payload['id']}",
            "event": event.as_dict(),
            "version": 1,
        }


def test_nested_transactions_join_the_outer_one(store: DocumentStore) -> None:
    with store.transaction() as outer:
        with store.transaction() as inner:
            inner["items"].insert({"id": "inner"})
        outer["items"].insert({"id": "outer"})
    assert {d["id"] for d in store["items"].find().items} == {"inner", "outer"}


def test_transaction_rollback_on_exception_leaves_nothing_written(rollback_store: DocumentStore) -> None:
    store = rollback_store
    store["items"].insert({"id": "existing", "n": 0})
    event = new_event("item.changed", "items", {"id": "existing"})
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx["items"].insert({"id": "new"})
        tx["items"].replace({"id": "existing", "n": 1}, expected_version=1)
        tx["items"].delete("existing", expected_version=2)
        tx.emit(event)
        raise RuntimeError("boom")
    assert store["items"].get("new") is None
    assert store["items"].get("existing") == {"id": "existing", "n": 0, "version": 1}
    assert store[OUTBOX].count() == 0


def test_an_exception_in_the_outer_transaction_undoes_the_nested_one(rollback_store: DocumentStore) -> None:
    store = rollback_store
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction() as inner:
            inner["items"].insert({"id": "inner"})
        raise RuntimeError("boom")
    assert store["items"].get("inner") is None


def test_store_collections_used_inside_a_transaction_roll_back_with_it(rollback_store: DocumentStore) -> None:
    store = rollback_store
    with pytest.raises(RuntimeError), store.transaction():
        store["items"].insert({"id": "via-store"})
        raise RuntimeError("boom")
    assert store["items"].get("via-store") is None


def test_a_refused_write_inside_a_transaction_propagates_and_rolls_back(rollback_store: DocumentStore) -> None:
    store = rollback_store
    store["contacts"].insert({"id": "c1", "email": "ada@example.com"})
    with pytest.raises(Conflict), store.transaction() as tx:
        tx["contacts"].insert({"id": "c2", "email": "grace@navy.mil"})
        tx["contacts"].insert({"id": "c3", "email": "ada@example.com"})
    assert store["contacts"].get("c2") is None


# --- health -------------------------------------------------------------------------------------


def test_ping_succeeds_on_a_healthy_store(store: DocumentStore) -> None:
    store.ping()
