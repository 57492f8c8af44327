"""The SQLite adapter's reads beside its writes: a search, a get or a count during a write
transaction answers at once from the last commit (WAL, a read connection of its own), and sees the
write once it commits. The write is held open in a thread: the reads must not wait for it."""

import threading
from pathlib import Path

from crm_common.search_index import SearchDoc, SearchQuery
from crm_common.search_index.sqlite_fts import SqliteFtsIndex

HELD_SECONDS = 10.0  # the write's longest hold: a read waiting for it would take this long


def _contact(doc_id: str, title: str, version: int = 1) -> SearchDoc:
    return SearchDoc("contact", doc_id, title, version, fields={"owner_id": "u1"}, updated_at="2025-03-01T09:00:00Z")


def _titles(index: SqliteFtsIndex, text: str) -> list[str]:
    return [hit.title for hit in index.search(SearchQuery(text, limit=10)).hits]


def test_reads_answer_from_the_last_commit_while_a_write_is_under_way(tmp_path: Path) -> None:
    index = SqliteFtsIndex(str(tmp_path / "index.db"))
    try:
        index.upsert(_contact("c1", "Ada Lovelace"))
        written, release = threading.Event(), threading.Event()

        def slow_batch() -> int:
            def batch() -> int:
                count = index._write(_contact("c1", "Ada King Lovelace", 2)) + index._write(_contact("c2", "Ada Byron"))
                written.set()
                release.wait(HELD_SECONDS)  # the transaction stays open meanwhile
                return count + index._write(_contact("c3", "Grace Lovelace"))

            return index._transaction(batch)

        writer = threading.Thread(target=slow_batch)
        writer.start()
        try:
            assert written.wait(HELD_SECONDS)
            assert _titles(index, "Lovelace") == ["Ada Lovelace"]
            assert _titles(index, "Byron") == []
            assert index.get("contact", "c1").version == 1
            assert index.count("contact") == 1
            assert [v for v in index.versions("contact", None, 10)] == [("c1", 1, False)]
            assert writer.is_alive(), "the reads answered only once the write had ended"
        finally:
            release.set()
            writer.join(HELD_SECONDS)
        assert sorted(_titles(index, "Lovelace")) == ["Ada King Lovelace", "Grace Lovelace"]
        assert index.count("contact") == 3
    finally:
        index.close()


def test_concurrent_searches_each_read_on_a_connection_of_their_own(tmp_path: Path) -> None:
    index = SqliteFtsIndex(str(tmp_path / "index.db"))
    try:
        index.upsert_many([_contact(f"c{n}", f"Person{n} Lovelace") for n in range(50)])
        failures: list[BaseException] = []

        def search_often() -> None:
            try:
                for _ in range(20):
                    assert index.search(SearchQuery("Lovelace", limit=5)).total == 50
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
                failures.append(exc)

        threads = [threading.Thread(target=search_often) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HELD_SECONDS)
        assert failures == []
    finally:
        index.close()
