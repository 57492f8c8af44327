"""The full reindex: pages every source as the platform, keeps newer event state, answers
searches throughout, runs one job at a time and takes over a dead one.

The index and the store are real SQLite files; only the sources' list RPCs are fakes serving
pages (conftest.FakeSource). The end-to-end suite runs the reindex against the real sources."""

from datetime import UTC, datetime, timedelta

import pytest

from crm_common.caller import Caller
from crm_common.errors import BadRequest, Conflict, Forbidden
from search import jobs
from search.domain import TYPES
from search.sources import SOURCES

ADMIN = Caller("a1", ("admin",))
REP = Caller("u1", ("sales_rep",), ("t-sales",))
EARLY = "2026-01-01T00:00:00.000000Z"


def contact(n: int, version: int = 1, name: str = "Reindexed") -> dict:
    return {
        "id": f"c{n:04d}",
        "version": version,
        "first_name": name,
        "last_name": f"Person{n}",
        "display_name": f"{name} Person{n}",
        "owner_id": "u1",
        "created_at": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000000Z",
        "updated_at": EARLY,
    }


@pytest.fixture
def seeded(sources) -> None:
    sources.records["contact"] += [contact(n) for n in range(450)]  # three pages of 200
    sources.records["company"].append(
        {
            "id": "k1",
            "version": 1,
            "name": "Reindexed Trading",
            "owner_id": "u1",
            "created_at": EARLY,
            "updated_at": EARLY,
        }
    )
    sources.records["deal"].append(
        {
            "id": "d1",
            "version": 3,
            "title": "Reindexed deal",
            "amount": "5.00",
            "currency": "CNY",
            "owner_id": "u1",
            "created_at": EARLY,
            "updated_at": EARLY,
        }
    )
    sources.records["ticket"] += [
        {"id": "t1", "version": 1, "subject": "Reindexed ticket", "team_id": "t-help", "created_at": EARLY},
        {"id": "t2", "version": 4, "subject": "Reindexed dup", "merged_into": "t1", "created_at": EARLY},
    ]


def total(search, text: str = "reindexed", caller: Caller = ADMIN, **query) -> int:
    return search(caller).search({"q": text, "facets": "type", **query})["total"]


def test_a_reindex_indexes_every_source_record_as_the_platform(search, sources, seeded, parts) -> None:
    started = search(ADMIN).start_reindex(None)
    assert (started["kind"], started["status"]) == ("reindex", "running")
    assert "holder" not in started and "progress" not in started
    job = search(ADMIN).get_reindex(started["id"])
    assert job["status"] == "done" and job["finished_at"] and job["error"] is None
    assert job["counts"]["contact"] == {"read": 450, "written": 450}
    assert job["counts"]["ticket"] == {"read": 2, "written": 1}  # the merged duplicate is not indexed
    assert job["counts"]["order"] == {"read": 0, "written": 0}
    assert total(search) == 453 and total(search, "dup") == 0
    assert all(service.system_calls for service in sources.services.values())
    _, index = parts
    assert index.count("contact") == 450
    assert search(ADMIN).list_reindexes({})["data"][0]["id"] == started["id"]


def test_a_reindex_never_rolls_back_a_newer_events_state(search, sources, deliver, seeded, parts) -> None:
    deliver("contacts", "contact_updated", contact(7, version=2, name="Renamed"))
    job = search(ADMIN).get_reindex(search(ADMIN).start_reindex(["contact"])["id"])  # the source serves version 1
    assert job["counts"]["contact"] == {"read": 450, "written": 449}
    _, index = parts
    assert (index.get("contact", "c0007").title, index.get("contact", "c0007").version) == ("Renamed Person7", 2)
    assert total(search, "renamed") == 1


def test_search_answers_throughout_and_a_second_job_is_refused(search, sources, seeded) -> None:
    seen: list[int] = []

    def mid_job(doc_type: str) -> None:
        if doc_type == "contact":
            seen.append(total(search, caller=REP, types="contact"))
            with pytest.raises(Conflict):
                search(ADMIN).start_reindex(["deal"])
            with pytest.raises(Conflict):
                search(ADMIN).check_consistency(None, False)

    sources.on_page(mid_job)
    search(ADMIN).start_reindex(["contact"])
    assert seen == [0, 200, 400]  # each page searchable as soon as it is written


def test_a_dead_job_is_taken_over_and_resumes_at_its_last_page(search, sources, seeded, parts) -> None:
    store, _ = parts
    job, _holder = jobs.claim(store, "reindex", ["contact", "deal"], "a1", {})
    stale = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    progressed = {"progress": {"contact": "400"}, "counts": {**job["counts"], "contact": {"read": 400, "written": 0}}}
    store[jobs.JOBS].replace({**job, **progressed, "heartbeat_at": stale}, job["version"])

    resumed = search(ADMIN).start_reindex(["company"])
    assert resumed["id"] == job["id"] and resumed["types"] == ["contact", "deal"]
    done = search(ADMIN).get_reindex(job["id"])
    assert done["status"] == "done" and done["counts"]["contact"] == {"read": 450, "written": 50}
    assert total(search, types="contact") == 50 and total(search, types="deal") == 1


def test_a_dead_job_of_the_other_kind_is_marked_failed_and_a_new_one_starts(search, seeded, parts) -> None:
    store, _ = parts
    check, _holder = jobs.claim(store, "consistency", ["contact"], "a1", {"fix": False, "report": {}})
    stale = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    store[jobs.JOBS].replace({**check, "heartbeat_at": stale}, check["version"])
    started = search(ADMIN).start_reindex(["deal"])
    assert started["id"] != check["id"] and search(ADMIN).get_reindex(started["id"])["status"] == "done"
    abandoned = search(ADMIN).get_reindex(check["id"])
    assert (abandoned["status"], abandoned["error"]) == ("failed", "its process stopped")


def test_a_live_job_is_not_taken_over(parts) -> None:
    store, _ = parts
    jobs.claim(store, "reindex", ["contact"], "a1", {})
    with pytest.raises(Conflict):
        jobs.claim(store, "reindex", ["contact"], "a1", {})


def test_a_failing_source_fails_the_job_and_frees_the_next_start(search, sources, seeded) -> None:
    def broken(doc_type: str) -> None:
        raise RuntimeError("sales is down")

    sources.services["sales"].on_page = broken
    job = search(ADMIN).get_reindex(search(ADMIN).start_reindex(["deal"])["id"])
    assert job["status"] == "failed" and "sales is down" in job["error"]
    sources.services["sales"].on_page = lambda doc_type: None
    assert search(ADMIN).get_reindex(search(ADMIN).start_reindex(["deal"])["id"])["status"] == "done"


def test_only_admins_start_or_read_jobs_and_types_are_checked(search) -> None:
    for call in (
        lambda s: s.start_reindex(None),
        lambda s: s.check_consistency(None, False),
        lambda s: s.list_reindexes({}),
    ):
        with pytest.raises(Forbidden):
            call(search(REP))
    with pytest.raises(BadRequest, match="types"):
        search(ADMIN).start_reindex(["person"])
    with pytest.raises(BadRequest, match="fix"):
        search(ADMIN).check_consistency(None, "yes")


def test_every_type_has_a_source_list() -> None:
    assert set(SOURCES) == set(TYPES)
