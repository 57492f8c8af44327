"""The consistency check against the sources: documents missing, stale and orphaned are
reported, and fixed with `fix`, without undoing newer events or records newer than the check.

The index and the store are real SQLite files; only the sources' list RPCs are fakes serving
pages (conftest.FakeSource). The end-to-end suite runs the check against the real sources."""

from datetime import UTC, datetime, timedelta

import pytest

from crm_common.caller import Caller

ADMIN = Caller("a1", ("admin",))
OLD = "2026-01-01T00:00:00.000000Z"
FUTURE = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def contact(contact_id: str, version: int = 1, created_at: str = OLD) -> dict:
    return {
        "id": contact_id,
        "version": version,
        "first_name": "Checked",
        "last_name": contact_id,
        "display_name": f"Checked {contact_id} v{version}",
        "owner_id": "u1",
        "created_at": created_at,
        "updated_at": created_at,
    }


def ticket(ticket_id: str, version: int = 1, merged_into: str | None = None) -> dict:
    return {
        "id": ticket_id,
        "version": version,
        "subject": f"Ticket {ticket_id}",
        "merged_into": merged_into,
        "team_id": "t-help",
        "created_at": OLD,
        "updated_at": OLD,
    }


@pytest.fixture
def drifted(sources, deliver) -> None:
    """ok: in step; missing: never indexed; stale: indexed at v1, the source at v3; orphan: gone
    upstream; fresh: indexed by an event for a record created after the check began (the source
    pass cannot have seen it); a merged duplicate ticket still indexed."""
    for record in (contact("ok"), contact("stale"), contact("orphan")):
        deliver("contacts", "contact_created", record)
    deliver("contacts", "contact_created", contact("fresh", created_at=FUTURE))
    sources.records["contact"] += [contact("ok"), contact("missing"), contact("stale", 3)]
    deliver("service_desk", "ticket_created", ticket("t1"))
    deliver("service_desk", "ticket_created", ticket("t2"))
    sources.records["ticket"] += [ticket("t1"), ticket("t2", 2, merged_into="t1")]


def finding(report: dict, kind: str) -> tuple[int, list[str]]:
    return report[kind]["count"], report[kind]["examples"]


def test_the_check_reports_missing_stale_and_orphaned_documents(search, drifted, parts) -> None:
    started = search(ADMIN).check_consistency(["contact", "ticket"], False)
    assert (started["kind"], started["fix"]) == ("consistency", False)
    job = search(ADMIN).get_reindex(started["id"])
    assert job["status"] == "done"
    contacts = job["report"]["contact"]
    assert finding(contacts, "missing") == (1, ["missing"])
    assert finding(contacts, "stale") == (1, ["stale"])
    assert finding(contacts, "orphaned") == (1, ["orphan"])
    assert contacts["fixed"] == 0 and job["counts"]["contact"] == {"read": 3, "written": 0}
    assert finding(job["report"]["ticket"], "orphaned") == (1, ["t2"])
    _, index = parts
    assert index.get("contact", "orphan") is not None and index.get("contact", "missing") is None


def test_the_fix_brings_the_index_in_step_and_a_second_check_finds_nothing(search, drifted, parts) -> None:
    job = search(ADMIN).get_reindex(search(ADMIN).check_consistency(None, True)["id"])
    assert job["report"]["contact"]["fixed"] == 3 and job["report"]["ticket"]["fixed"] == 1
    _, index = parts
    assert index.get("contact", "missing").version == 1 and index.get("contact", "stale").version == 3
    assert index.get("contact", "orphan") is None and index.get("ticket", "t2") is None
    assert index.get("contact", "fresh") is not None  # newer than the check: not an orphan

    again = search(ADMIN).get_reindex(search(ADMIN).check_consistency(None, True)["id"])
    for doc_type, report in again["report"].items():
        assert [report[k]["count"] for k in ("missing", "stale", "orphaned")] == [0, 0, 0], doc_type
    assert search(ADMIN).list_reindexes({"where": {"kind": "consistency"}})["data"][0]["id"] == again["id"]


def test_a_fix_never_undoes_an_event_newer_than_the_source_page(search, sources, drifted, deliver, parts) -> None:
    def newer_event_meanwhile(doc_type: str) -> None:
        if doc_type == "contact":
            deliver("contacts", "contact_updated", contact("stale", 4))

    sources.on_page(newer_event_meanwhile)
    search(ADMIN).check_consistency(["contact"], True)
    _, index = parts
    assert index.get("contact", "stale").version == 4
