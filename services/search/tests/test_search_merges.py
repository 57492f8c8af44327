"""Merged customers leave the index for good; their survivor stays (no broker)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.search_index import SearchQuery, open_search_index
from crm_common.store import open_store
from search.service import SearchService

SYSTEM = Caller("system", ("system",))


@pytest.fixture
def search(tmp_path: Path) -> Iterator[SearchService]:
    store = open_store(f"sqlite:///{tmp_path}/search.db", ())
    index = open_search_index(f"sqlite:///{tmp_path}/index.db")
    yield worker_factory(SearchService, store=store, index=index, caller=SYSTEM)
    index.close()
    store.close()


def event(event_type: str, payload: dict) -> dict:
    return new_event(event_type, "contacts", payload, actor="u1").as_dict()


def contact(contact_id: str, version: int = 1) -> dict:
    return {
        "id": contact_id,
        "version": version,
        "first_name": "Wei",
        "last_name": "Zhang",
        "display_name": "Wei Zhang",
        "owner_id": "u1",
        "updated_at": "2026-01-05T09:00:00Z",
    }


def found(search: SearchService) -> set[str]:
    return {hit.id for hit in search.index.search(SearchQuery("Zhang")).hits}


def test_a_contact_merge_removes_the_duplicates_and_keeps_the_survivor(search) -> None:
    for contact_id in ("survivor", "dup"):
        search.on_contact_created(event("contact_created", contact(contact_id)))
    merge = {**contact("survivor", 2), "merged_ids": ["dup"], "merged": [{"id": "dup", "version": 2}]}
    search.on_contact_merged(event("contact_merged", merge))
    assert found(search) == {"survivor"}
    # A late update of the duplicate, older than its end, cannot bring it back.
    search.on_contact_updated(event("contact_updated", contact("dup", 1)))
    assert found(search) == {"survivor"}


def test_a_company_merge_removes_the_duplicate_company(search) -> None:
    company = {"id": "co-dup", "version": 1, "name": "Acme Zhang", "owner_id": "u1", "updated_at": "2026-01-05"}
    search.on_company_created(event("company_created", company))
    search.on_company_merged(event("company_merged", {"id": "co-1", "merged": [{"id": "co-dup", "version": 2}]}))
    assert found(search) == set()
