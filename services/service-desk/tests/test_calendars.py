"""Business calendars: admins write them, every role reads them, and the calendar an SLA clock
counts in; on a real SQLite store, no broker."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore, open_store
from service_desk.business_time import BusinessCalendar
from service_desk.service import ServiceDeskService
from service_desk.store import BUSINESS_CALENDARS, SLA_POLICIES, SPECS

ADMIN = Caller("a1", ("admin",))
SYSTEM = Caller("system", ("system",))
MANAGER = Caller("m1", ("manager",), ("t-help",), managed_team_ids=("t-help",), managed_user_ids=("s1",))
AGENT = Caller("s1", ("support_agent",), ("t-help",))
REP = Caller("u1", ("sales_rep",), ("t-sales",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",))
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)

SHANGHAI_OFFICE = {
    "name": "Shanghai office",
    "time_zone": "Asia/Shanghai",
    "working_hours": {day: [["09:00", "12:00"], ["13:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holiday_preset": "CN",
    "holidays": ["2026-12-31", "2026-12-24", "2026-12-31"],
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    yield opened
    opened.close()


def desk(store: DocumentStore, caller: Caller = ADMIN, now: datetime = NOW):
    service = worker_factory(ServiceDeskService, store=store, caller=caller)
    service._now = lambda: now
    return service


def create(store: DocumentStore, **changes) -> dict:
    return desk(store).create_business_calendar({**SHANGHAI_OFFICE, **changes})


# creating and reading


def test_an_admin_creates_a_calendar_normalised_and_stamped(store: DocumentStore) -> None:
    calendar = create(store)
    assert calendar["version"] == 1 and calendar["id"]
    assert calendar["working_hours"]["sat"] == [] and calendar["working_hours"]["sun"] == []
    assert calendar["working_hours"]["mon"] == [["09:00", "12:00"], ["13:00", "18:00"]]
    assert calendar["holidays"] == ["2026-12-24", "2026-12-31"]  # sorted, distinct
    assert (calendar["workdays"], calendar["makeup_hours"]) == ([], None)
    assert calendar["created_by"] == "a1"
    assert calendar["created_at"] == calendar["updated_at"] == "2026-12-07T09:30:00.000000Z"
    assert store[BUSINESS_CALENDARS].get(calendar["id"]) == calendar


def test_the_platform_may_write_calendars_too(store: DocumentStore) -> None:
    assert desk(store, SYSTEM).create_business_calendar(SHANGHAI_OFFICE)["created_by"] == "system"


@pytest.mark.parametrize("caller", (ADMIN, MANAGER, AGENT, REP, VIEWER), ids=lambda c: c.roles[0])
def test_every_role_reads_and_lists_calendars(store: DocumentStore, caller: Caller) -> None:
    first = create(store, name="Beijing")
    create(store, name="Austin", time_zone="America/Chicago", holiday_preset=None)
    reader = desk(store, caller)
    assert reader.get_business_calendar(first["id"]) == first
    assert [c["name"] for c in reader.list_business_calendars({})["data"]] == ["Austin", "Beijing"]


@pytest.mark.parametrize("caller", (MANAGER, AGENT, REP, VIEWER), ids=lambda c: c.roles[0])
def test_only_admins_write_calendars(store: DocumentStore, caller: Caller) -> None:
    calendar = create(store)
    writer = desk(store, caller)
    with pytest.raises(Forbidden):
        writer.create_business_calendar({**SHANGHAI_OFFICE, "name": "Mine"})
    with pytest.raises(Forbidden):
        writer.update_business_calendar(calendar["id"], {"name": "Mine"})
    with pytest.raises(Forbidden):
        writer.delete_business_calendar(calendar["id"])
    assert store[BUSINESS_CALENDARS].get(calendar["id"]) == calendar


def test_a_missing_calendar_is_not_found(store: DocumentStore) -> None:
    for call in (
        lambda d: d.get_business_calendar("nope"),
        lambda d: d.update_business_calendar("nope", {"name": "X"}),
        lambda d: d.delete_business_calendar("nope"),
    ):
        with pytest.raises(NotFound):
            call(desk(store))


def test_the_list_pages_sorts_and_filters(store: DocumentStore) -> None:
    for name in ("C", "A", "B"):
        create(store, name=name, holiday_preset="CN" if name != "B" else None)
    reader = desk(store, VIEWER)
    page = reader.list_business_calendars({"limit": 2})
    assert [c["name"] for c in page["data"]] == ["A", "B"]
    rest = reader.list_business_calendars({"limit": 2, "cursor": page["next_cursor"]})
    assert [c["name"] for c in rest["data"]] == ["C"] and rest["next_cursor"] is None
    assert [c["name"] for c in reader.list_business_calendars({"sort": "-name"})["data"]] == ["C", "B", "A"]
    cn = reader.list_business_calendars({"where": {"holiday_preset": "CN"}})["data"]
    assert [c["name"] for c in cn] == ["A", "C"]
    with pytest.raises(BadRequest):
        reader.list_business_calendars({"sort": "time_zone"})
    with pytest.raises(BadRequest):
        reader.list_business_calendars({"where": {"working_hours": "x"}})


# names and versions


def test_names_are_unique(store: DocumentStore) -> None:
    first = create(store)
    with pytest.raises(Conflict) as caught:
        create(store)
    assert caught.value.matches == [{"id": first["id"], "name": "Shanghai office"}]
    other = create(store, name="Other")
    with pytest.raises(Conflict):
        desk(store).update_business_calendar(other["id"], {"name": "Shanghai office"})
    assert store[BUSINESS_CALENDARS].count() == 2


def test_an_update_replaces_the_given_fields_at_a_new_version(store: DocumentStore) -> None:
    calendar = create(store)
    later = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    updated = desk(store, now=later).update_business_calendar(
        calendar["id"],
        {
            "working_hours": {"sat": [["10:00", "24:00"]]},
            "workdays": ["2027-01-02"],
            "makeup_hours": [["10:00", "16:00"]],
        },
        expected_version=1,
    )
    assert updated["version"] == 2 and updated["updated_at"] == "2026-12-08T10:00:00.000000Z"
    assert updated["working_hours"]["mon"] == [] and updated["working_hours"]["sat"] == [["10:00", "24:00"]]
    assert (updated["name"], updated["created_at"], updated["holidays"]) == (
        "Shanghai office",
        calendar["created_at"],
        calendar["holidays"],
    )


def test_an_update_changing_nothing_keeps_the_version(store: DocumentStore) -> None:
    calendar = create(store)
    same = desk(store).update_business_calendar(
        calendar["id"], {"name": "Shanghai office", "holidays": ["2026-12-31", "2026-12-24"]}
    )
    assert same == calendar


def test_a_stale_version_is_refused(store: DocumentStore) -> None:
    calendar = create(store)
    desk(store).update_business_calendar(calendar["id"], {"name": "Renamed"})
    with pytest.raises(PreconditionFailed):
        desk(store).update_business_calendar(calendar["id"], {"name": "Again"}, expected_version=1)
    with pytest.raises(PreconditionFailed):
        desk(store).delete_business_calendar(calendar["id"], expected_version=1)
    assert store[BUSINESS_CALENDARS].get(calendar["id"])["name"] == "Renamed"


# deleting


def test_a_calendar_an_sla_policy_uses_cannot_be_deleted(store: DocumentStore) -> None:
    calendar = create(store)
    store[SLA_POLICIES].insert({"id": "p1", "name": "Gold", "position": 1, "calendar_id": calendar["id"]})
    with pytest.raises(Conflict) as caught:
        desk(store).delete_business_calendar(calendar["id"])
    assert "Gold" in caught.value.detail and caught.value.matches == [{"id": "p1", "name": "Gold"}]
    store[SLA_POLICIES].delete("p1")
    assert desk(store).delete_business_calendar(calendar["id"], expected_version=1) is None
    with pytest.raises(NotFound):
        desk(store).get_business_calendar(calendar["id"])


# validation


def fields_of(excinfo: pytest.ExceptionInfo) -> list[str]:
    return [e["field"] for e in excinfo.value.errors]


INVALID = {
    "unknown time zone": ({"time_zone": "Mars/Olympus"}, "time_zone"),
    "time zone as a path": ({"time_zone": "../../etc/passwd"}, "time_zone"),
    "time zone not text": ({"time_zone": 8}, "time_zone"),
    "no name": ({"name": " "}, "name"),
    "bad time": ({"working_hours": {"mon": [["9:00", "18:00"]]}}, "working_hours.mon"),
    "minute out of range": ({"working_hours": {"mon": [["09:60", "18:00"]]}}, "working_hours.mon"),
    "24:00 as a start": ({"working_hours": {"mon": [["24:00", "24:00"]]}}, "working_hours.mon"),
    "end before start": ({"working_hours": {"mon": [["18:00", "09:00"]]}}, "working_hours.mon"),
    "overlapping ranges": ({"working_hours": {"tue": [["09:00", "13:00"], ["12:00", "18:00"]]}}, "working_hours.tue"),
    "ranges out of order": ({"working_hours": {"tue": [["13:00", "18:00"], ["09:00", "12:00"]]}}, "working_hours.tue"),
    "too many ranges": ({"working_hours": {"wed": [[f"0{h}:00", f"0{h}:30"] for h in range(5)]}}, "working_hours.wed"),
    "a range of three": ({"working_hours": {"mon": [["09:00", "12:00", "18:00"]]}}, "working_hours.mon"),
    "unknown day": ({"working_hours": {"monday": [["09:00", "18:00"]]}}, "working_hours.monday"),
    "hours not an object": ({"working_hours": [["09:00", "18:00"]]}, "working_hours"),
    "never open": ({"working_hours": {"mon": [], "sat": []}}, "working_hours"),
    "no hours": ({"working_hours": None}, "working_hours"),
    "impossible date": ({"holidays": ["2026-02-30"]}, "holidays"),
    "date not ISO": ({"workdays": ["20260214"]}, "workdays"),
    "date out of range": ({"holidays": ["1999-12-31"]}, "holidays"),
    "dates not a list": ({"holidays": "2026-12-24"}, "holidays"),
    "holiday and workday": ({"holidays": ["2026-12-26"], "workdays": ["2026-12-26"]}, "workdays"),
    "empty makeup hours": ({"makeup_hours": []}, "makeup_hours"),
    "bad makeup hours": ({"makeup_hours": [["10:00", "25:00"]]}, "makeup_hours"),
    "unknown preset": ({"holiday_preset": "US"}, "holiday_preset"),
    "unknown field": ({"open_on_sundays": True}, "open_on_sundays"),
    "server-owned id": ({"id": "mine"}, "id"),
    "server-owned version": ({"version": 7}, "version"),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_calendars_are_refused_naming_the_field(store: DocumentStore, case: str) -> None:
    change, field = INVALID[case]
    with pytest.raises(ValidationFailed) as caught:
        create(store, **change)
    assert field in fields_of(caught), caught.value.errors
    assert all(e["message"] for e in caught.value.errors)
    calendar = create(store)
    with pytest.raises(ValidationFailed) as caught:
        desk(store).update_business_calendar(calendar["id"], change)
    assert field in fields_of(caught)
    assert store[BUSINESS_CALENDARS].get(calendar["id"]) == calendar


def test_every_problem_is_listed_at_once(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed) as caught:
        desk(store).create_business_calendar(
            {"name": "X", "time_zone": "Nowhere", "working_hours": {"mon": [["9", "18"]]}, "colour": "red"}
        )
    assert sorted(fields_of(caught)) == ["colour", "time_zone", "working_hours.mon"]
    with pytest.raises(ValidationFailed) as caught:
        desk(store).create_business_calendar({"working_hours": {"mon": [["09:00", "18:00"]]}})
    assert sorted(fields_of(caught)) == ["name", "time_zone"]
    with pytest.raises(ValidationFailed):
        desk(store).create_business_calendar(["not", "an", "object"])


# the calendar an SLA clock counts in


def test_a_stored_calendar_reads_as_the_business_calendar_it_describes(store: DocumentStore) -> None:
    stored = store[BUSINESS_CALENDARS].get(create(store)["id"])
    counted = BusinessCalendar.from_document(stored)
    friday_evening = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai
    assert counted.add_minutes(friday_evening, 60) == datetime(2026, 12, 7, 1, 30, tzinfo=UTC)  # Monday 09:30
    holiday = datetime(2026, 12, 24, 2, 0, tzinfo=UTC)  # a Thursday, a holiday of its own
    assert counted.minutes_between(holiday, holiday + timedelta(hours=8)) == 0
