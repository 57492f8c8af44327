"""Personal data in search: the export of the contact's document, and an erasure nothing brings back."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Forbidden
from crm_common.search_index import SearchIndex, open_search_index
from crm_common.store import OUTBOX, DocumentStore, open_store
from search.service import SearchService

ADMIN = Caller("a1", ("admin",))
SYSTEM = Caller("system", ("system",))
REP = Caller("u1", ("sales_rep",), ("t-sales",))
CONTACT = {
    "id": "c1",
    "version": 2,
    "first_name": "伟明",
    "last_name": "张",
    "display_name": "张伟明",
    "email": "zhang.wm@example.cn",
    "owner_id": "u1",
    "updated_at": "2026-01-05T09:00:00Z",
}


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[DocumentStore, SearchIndex]]:
    store = open_store(f"sqlite:///{tmp_path}/search.db", ())
    index = open_search_index(f"sqlite:///{tmp_path}/index.db")
    yield store, index
    index.close()
    store.close()


def search(parts, caller: Caller = SYSTEM) -> SearchService:
    store, index = parts
    return worker_factory(SearchService, store=store, index=index, caller=caller)


def deliver(parts, event_type: str, payload: dict) -> None:
    getattr(search(parts), f"on_{event_type}")(new_event(event_type, "contacts", payload).as_dict())


def hits(parts, text: str) -> list[str]:
    return [h["id"] for h in search(parts, ADMIN).search({"q": text})["data"]]


def test_the_export_holds_the_contacts_own_document(parts) -> None:
    deliver(parts, "contact_created", CONTACT)
    (doc,) = search(parts, ADMIN).export_personal_data("c1")["documents"]
    assert (doc["type"], doc["id"], doc["title"]) == ("contact", "c1", "张伟明")
    assert "zhang.wm@example.cn" in doc["body"]
    assert search(parts, ADMIN).export_personal_data("nobody") == {"documents": []}
    with pytest.raises(Forbidden):
        search(parts, REP).export_personal_data("c1")


def test_an_erased_contact_is_gone_and_late_events_do_not_bring_it_back(parts) -> None:
    deliver(parts, "contact_created", CONTACT)
    assert hits(parts, "张伟明") == ["c1"]
    deliver(parts, "contact_erased", {"id": "c1", "version": 3, "erasure_id": "e1"})
    assert hits(parts, "张伟明") == [] and hits(parts, "zhang.wm") == []

    deliver(parts, "contact_updated", {**CONTACT, "changes": ["email"]})  # version 2: older than the erasure
    deliver(parts, "contact_created", {**CONTACT, "version": 1})
    assert hits(parts, "张伟明") == []
    store, _ = parts
    (report,) = [r["event"]["payload"] for r in store[OUTBOX].find(None, [("id", 1)], 50).items]
    assert report == {"contact_id": "c1", "erasure_id": "e1", "service": "search", "detail": {"documents_removed": 1}}


def test_an_erasure_after_the_delete_reports_nothing_left_to_remove(parts) -> None:
    deliver(parts, "contact_created", CONTACT)
    deliver(parts, "contact_deleted", {"id": "c1", "version": 3, "deleted_by": "a1", "erased": True})
    deliver(parts, "contact_erased", {"id": "c1", "version": 3, "erasure_id": "e1"})
    store, _ = parts
    (report,) = [r["event"]["payload"] for r in store[OUTBOX].find(None, [("id", 1)], 50).items]
    assert report["detail"] == {"documents_removed": 0}
