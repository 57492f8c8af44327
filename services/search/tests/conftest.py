"""The search service's parts for tests: a real SQLite store and index in a temporary folder, and
small page-serving fakes of the source services' list RPCs (the only thing faked; the end-to-end
suite runs the real sources)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.search_index import SearchIndex, open_search_index
from crm_common.store import DocumentStore, open_store
from search import jobs
from search.service import SearchService
from search.sources import SOURCES

SYSTEM = Caller("system", ("system",))


class FakeSource:
    """One service's list RPCs over in-memory records: `created_at` order with the id tie-break,
    an opaque cursor, `limit` honoured; each page first runs `on_page` (to act mid-job)."""

    def __init__(self, records: dict[str, list[dict]], methods: dict[str, str]):
        self.records, self.methods = records, methods
        self.on_page: Callable[[str], None] = lambda doc_type: None
        self.system_calls = 0

    def as_system(self) -> "FakeSource":
        self.system_calls += 1
        return self

    def __getattr__(self, method: str):
        doc_type = self.methods[method]

        def list_page(query: dict) -> dict:
            assert query["sort"] == "created_at"
            self.on_page(doc_type)
            ordered = sorted(self.records[doc_type], key=lambda r: (r["created_at"], r["id"]))
            start = int(query.get("cursor") or 0)
            end = start + query["limit"]
            return {"data": ordered[start:end], "next_cursor": str(end) if end < len(ordered) else None}

        return list_page


class Sources:
    """The records each type's source holds, and the three fake services serving them."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict]] = {doc_type: [] for doc_type in SOURCES}
        self.services = {
            service: FakeSource(self.records, {m: t for t, (s, m) in SOURCES.items() if s == service})
            for service in {s for s, _ in SOURCES.values()}
        }

    def on_page(self, hook: Callable[[str], None]) -> None:
        for service in self.services.values():
            service.on_page = hook


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[DocumentStore, SearchIndex]]:
    store = open_store(f"sqlite:///{tmp_path}/search.db", jobs.STORE_SPECS)
    index = open_search_index(f"sqlite:///{tmp_path}/index.db")
    yield store, index
    index.close()
    store.close()


@pytest.fixture
def sources() -> Sources:
    return Sources()


def run_inline(job: Callable[[], None]) -> None:
    """The job thread, run to its end before the RPC answers (the tests then read its outcome)."""
    job()


@pytest.fixture
def search(parts, sources) -> Callable[[Caller], SearchService]:
    """A worker of the service as `caller`, on the real store and index and the fake sources."""
    store, index = parts

    def worker(caller: Caller = SYSTEM) -> SearchService:
        return worker_factory(
            SearchService, store=store, index=index, caller=caller, threads=run_inline, **sources.services
        )

    return worker


@pytest.fixture
def deliver(search) -> Callable[[str, str, dict], None]:
    """Hand an event to its handler, as the broker would."""

    def deliver_event(source: str, event_type: str, payload: dict) -> None:
        getattr(search(), f"on_{event_type}")(new_event(event_type, source, payload).as_dict())

    return deliver_event
