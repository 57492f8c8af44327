"""The service's SQLite index runs in OS threads (index.ThreadedIndex): every call answers as the
adapter's own does, and while a batch is written the hub goes on running other greenthreads (a
search RPC among them) instead of waiting for SQLite."""

from pathlib import Path

import eventlet

from crm_common.search_index import SearchDoc, SearchQuery
from search.index import ThreadedIndex, served_index

BATCH = 2000  # documents: a write long enough for the hub to tick many times meanwhile
TICK_SECONDS = 0.001


def _contact(n: int, version: int = 1) -> SearchDoc:
    return SearchDoc(
        "contact",
        f"c{n:05d}",
        f"Person{n} Lovelace",
        version,
        body=f"person{n}@example.com",
        fields={"owner_id": "u1"},
        updated_at="2025-03-01T09:00:00Z",
    )


def test_the_sqlite_index_answers_through_threads_as_it_does_itself(tmp_path: Path) -> None:
    index = served_index(f"sqlite:///{tmp_path}/index.db")
    try:
        assert isinstance(index, ThreadedIndex)
        index.ping()
        assert index.upsert(_contact(1)) is True
        assert index.upsert(_contact(1)) is False  # the version guard, as ever
        assert index.upsert_many([_contact(1, 2), _contact(2)]) == 2
        assert index.get("contact", "c00001").version == 2
        assert [hit.id for hit in index.search(SearchQuery("Person2", limit=5)).hits] == ["c00002"]
        assert index.delete("contact", "c00002", 2) is True
        assert index.versions("contact", None, 10) == [("c00001", 2, False), ("c00002", 2, True)]
        assert index.count("contact") == 1
    finally:
        index.close()


def test_the_hub_runs_other_greenthreads_while_a_batch_is_written(tmp_path: Path) -> None:
    index = served_index(f"sqlite:///{tmp_path}/index.db")
    ticks, writing = [0], [True]

    def tick() -> None:
        while writing[0]:
            ticks[0] += 1
            eventlet.sleep(TICK_SECONDS)

    try:
        ticker = eventlet.spawn(tick)
        eventlet.sleep(0)  # the ticker starts
        ticks_before = ticks[0]
        assert index.upsert_many([_contact(n) for n in range(BATCH)]) == BATCH
        writing[0] = False
        ticker.wait()
        assert ticks[0] - ticks_before >= 3, "the hub waited for the write"
        assert index.search(SearchQuery("Lovelace", limit=1)).total == BATCH
    finally:
        index.close()
