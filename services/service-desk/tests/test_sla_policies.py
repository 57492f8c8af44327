"""SLA policies on a real SQLite store, no broker: who writes and reads them, what a policy may say,
versions and names, and how `_apply_sla` matches a ticket to one inside a write."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore, open_store
from service_desk import domain
from service_desk.service import ServiceDeskService
from service_desk.store import BUSINESS_CALENDARS, SLA_POLICIES, SPECS

ADMIN = Caller("a1", ("admin",))
READERS = {
    "manager": Caller("m1", ("manager",), ("t-help",), managed_team_ids=("t-help",)),
    "sales_rep": Caller("u1", ("sales_rep",), ("t-sales",)),
    "support_agent": Caller("s1", ("support_agent",), ("t-help",)),
    "viewer": Caller("v1", ("viewer",), ("t-sales",)),
}
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
OFFICE = {
    "id": "cal-office",
    "name": "Shanghai office",
    "time_zone": "Asia/Shanghai",
    "working_hours": {
        **{day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "sat": [],
        "sun": [],
    },
    "holidays": [],
    "workdays": [],
    "holiday_preset": None,
}
TARGETS = {
    "urgent": {"first_response_minutes": 30, "resolution_minutes": 240},
    "high": {"first_response_minutes": 60, "resolution_minutes": 540},
    "normal": {"first_response_minutes": 120, "resolution_minutes": 1080},
    "low": {"first_response_minutes": 540, "resolution_minutes": 2700},
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    opened[BUSINESS_CALENDARS].insert(dict(OFFICE))
    yield opened
    opened.close()


def service(store: DocumentStore, caller: Caller = ADMIN, now: datetime = NOW):
    desk = worker_factory(ServiceDeskService, store=store, caller=caller)
    desk._now = lambda: now
    return desk


def policy_data(**overrides) -> dict:
    return {"name": "VIP office hours", "targets": TARGETS, **overrides}


# who


def test_an_admin_creates_a_policy_with_its_defaults(store: DocumentStore) -> None:
    created = service(store).create_sla_policy(policy_data())
    assert created["version"] == 1 and created["created_by"] == "a1"
    assert created["created_at"] == created["updated_at"] == "2026-12-07T01:00:00.000000Z"
    assert (created["position"], created["active"], created["calendar_id"]) == (1, True, None)
    assert (created["conditions"], created["pause_statuses"], created["escalations"]) == ({}, ["pending"], [])
    assert service(store).create_sla_policy(policy_data(name="Second"))["position"] == 2  # after the last one


@pytest.mark.parametrize("role", READERS)
def test_every_role_reads_policies_and_only_admins_write_them(store: DocumentStore, role: str) -> None:
    created = service(store).create_sla_policy(policy_data())
    reader = service(store, READERS[role])
    assert reader.get_sla_policy(created["id"]) == created
    assert [p["id"] for p in reader.list_sla_policies({})["data"]] == [created["id"]]
    with pytest.raises(Forbidden):
        reader.create_sla_policy(policy_data(name="Mine"))
    with pytest.raises(Forbidden):
        reader.update_sla_policy(created["id"], {"active": False})
    with pytest.raises(Forbidden):
        reader.delete_sla_policy(created["id"])


def test_a_missing_policy_is_not_found(store: DocumentStore) -> None:
    desk = service(store)
    for call in (
        lambda: desk.get_sla_policy("nope"),
        lambda: desk.update_sla_policy("nope", {"active": False}),
        lambda: desk.delete_sla_policy("nope"),
    ):
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize("policy_id", [["x"], {"a": 1}, 5, None])
def test_an_id_that_is_not_a_string_is_not_found(store: DocumentStore, policy_id) -> None:
    desk = service(store)
    for call in (
        lambda: desk.get_sla_policy(policy_id),
        lambda: desk.update_sla_policy(policy_id, {"active": False}),
        lambda: desk.delete_sla_policy(policy_id),
    ):
        with pytest.raises(NotFound):
            call()


# what a policy may say


def errors_of(call) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        call()
    return {e["field"]: e["message"] for e in caught.value.errors}


def test_every_bad_part_of_a_policy_is_reported_at_once(store: DocumentStore) -> None:
    bad = {
        "name": " ",
        "position": -1,
        "active": "yes",
        "conditions": {"priority": ["critical"], "colour": ["red"], "category": []},
        "targets": {**TARGETS, "high": {"first_response_minutes": 0}, "someday": {}},
        "pause_statuses": ["pending", "resolved"],
        "escalations": [
            {"metric": "first_response", "when": "during", "minutes": 50000, "actions": []},
            {
                "id": "bad id!",
                "metric": "resolution",
                "when": "after",
                "minutes": 0,
                "actions": [{"type": "notify", "recipients": []}, {"type": "reassign"}, {"type": "page"}],
            },
        ],
        "version": 3,
        "colour": "red",
    }
    errors = errors_of(lambda: service(store).create_sla_policy(bad))
    assert set(errors) == {
        "version",
        "colour",
        "name",
        "position",
        "active",
        "conditions.priority",
        "conditions.colour",
        "conditions.category",
        "targets.someday",
        "targets.high.first_response_minutes",
        "targets.high.resolution_minutes",
        "pause_statuses",
        "escalations[0].when",
        "escalations[0].minutes",
        "escalations[0].actions",
        "escalations[1].id",
        "escalations[1].actions[0].recipients",
        "escalations[1].actions[1].to",
        "escalations[1].actions[2].type",
    }
    assert errors["version"] == "is set by the server and cannot be written"
    assert store[SLA_POLICIES].count() == 0


def test_a_policy_needs_its_name_and_all_four_targets(store: DocumentStore) -> None:
    errors = errors_of(lambda: service(store).create_sla_policy({"targets": {"urgent": TARGETS["urgent"]}}))
    assert set(errors) == {"name", "targets.high", "targets.normal", "targets.low"}
    assert errors_of(lambda: service(store).create_sla_policy([])) == {"": "must be an object"}


def test_the_calendar_must_exist(store: DocumentStore) -> None:
    errors = errors_of(lambda: service(store).create_sla_policy(policy_data(calendar_id="cal-gone")))
    assert errors == {"calendar_id": "no such business calendar"}
    assert service(store).create_sla_policy(policy_data(calendar_id="cal-office"))["calendar_id"] == "cal-office"


def test_steps_without_an_id_get_the_first_free_of_s1_s2(store: DocumentStore) -> None:
    notify = [{"type": "notify", "recipients": ["assignee", "u7"]}]
    steps = [
        {"metric": "first_response", "when": "before", "minutes": 10, "actions": notify},
        {"id": "s1", "metric": "resolution", "when": "after", "minutes": 0, "actions": [{"type": "raise_priority"}]},
        {
            "metric": "resolution",
            "when": "after",
            "minutes": 60,
            "actions": [{"type": "reassign", "to": "least_loaded"}],
        },
    ]
    created = service(store).create_sla_policy(policy_data(escalations=steps))
    assert [s["id"] for s in created["escalations"]] == ["s2", "s1", "s3"]
    repeated = [{**steps[1]}, {**steps[1]}]
    errors = errors_of(lambda: service(store).create_sla_policy(policy_data(name="Other", escalations=repeated)))
    assert errors == {"escalations[1].id": "repeats step id 's1'"}


def test_a_second_policy_of_the_same_name_is_a_conflict(store: DocumentStore) -> None:
    desk = service(store)
    first = desk.create_sla_policy(policy_data())
    with pytest.raises(Conflict):
        desk.create_sla_policy(policy_data())
    second = desk.create_sla_policy(policy_data(name="Standard"))
    with pytest.raises(Conflict):
        desk.update_sla_policy(second["id"], {"name": first["name"]})
    assert desk.update_sla_policy(second["id"], {"name": "Standard desk"})["name"] == "Standard desk"


# versions


def test_policy_changes_and_deletes_check_the_version(store: DocumentStore) -> None:
    desk = service(store)
    created = desk.create_sla_policy(policy_data())
    with pytest.raises(PreconditionFailed):
        desk.update_sla_policy(created["id"], {"active": False}, expected_version=2)
    later = service(store, now=NOW + timedelta(hours=1))
    updated = later.update_sla_policy(created["id"], {"active": False, "conditions": {"priority": ["urgent"]}}, 1)
    assert (updated["version"], updated["active"], updated["updated_at"]) == (2, False, "2026-12-07T02:00:00.000000Z")
    assert desk.update_sla_policy(created["id"], {"active": False}) == updated  # nothing changed: no new version
    errors = errors_of(lambda: desk.update_sla_policy(created["id"], {"targets": {"urgent": TARGETS["urgent"]}}))
    assert "targets.low" in errors
    with pytest.raises(PreconditionFailed):
        desk.delete_sla_policy(created["id"], expected_version=1)
    assert desk.delete_sla_policy(created["id"], expected_version=2) is None
    with pytest.raises(NotFound):
        desk.get_sla_policy(created["id"])


def test_policies_list_in_the_order_they_are_tried(store: DocumentStore) -> None:
    desk = service(store)
    for name, position, active in (("C", 30, True), ("A", 10, False), ("B", 20, True)):
        desk.create_sla_policy(policy_data(name=name, position=position, active=active))
    assert [p["name"] for p in desk.list_sla_policies({})["data"]] == ["A", "B", "C"]
    assert [p["name"] for p in desk.list_sla_policies({"where": {"active": "true"}})["data"]] == ["B", "C"]
    assert [p["name"] for p in desk.list_sla_policies({"sort": "-name", "limit": 2})["data"]] == ["C", "B"]


# matching tickets inside a write


def ticket(**fields) -> dict:
    return {
        "id": "t1",
        "status": "new",
        "priority": "normal",
        "kind": "incident",
        "category": None,
        "customer_grade": None,
        "company_id": None,
        "first_responded_at": None,
        "received_at": domain.stamp(NOW),
        "created_at": domain.stamp(NOW),
        **fields,
    }


def test_apply_sla_matches_the_first_active_policy_by_position_and_counts_in_its_calendar(
    store: DocumentStore,
) -> None:
    desk = service(store)
    desk.create_sla_policy(policy_data(name="Off", position=1, active=False))
    vip = desk.create_sla_policy(
        policy_data(name="VIP", position=2, calendar_id="cal-office", conditions={"customer_grade": ["A"]})
    )
    desk.create_sla_policy(policy_data(name="Everyone else", position=3, calendar_id="cal-office"))
    with store.transaction() as tx:
        graded = desk._apply_sla(tx, None, ticket(customer_grade="A", priority="high"), NOW)
        plain = desk._apply_sla(tx, None, ticket(customer_grade="B"), NOW)
    assert (graded["sla"]["policy_id"], graded["sla"]["policy_name"]) == (vip["id"], "VIP")
    assert graded["first_response_due_at"] == "2026-12-07T02:00:00.000000Z"  # 10:00 in Shanghai
    assert graded["resolution_due_at"] == "2026-12-07T10:00:00.000000Z"  # 540 minutes: 18:00 in Shanghai
    assert plain["sla"]["policy_name"] == "Everyone else"
    assert plain["sla_next_check_at"] == plain["first_response_due_at"]


def test_apply_sla_falls_back_to_the_default_and_re_matches_when_the_priority_changes(store: DocumentStore) -> None:
    desk = service(store)
    desk.create_sla_policy(policy_data(name="Urgent only", conditions={"priority": ["urgent"]}))
    with store.transaction() as tx:
        created = desk._apply_sla(tx, None, ticket(), NOW)
        assert created["sla"]["policy_id"] is None  # the built-in default
        assert created["resolution_due_at"] == "2026-12-10T01:00:00.000000Z"  # 72 hours round the clock
        later = NOW + timedelta(minutes=20)
        raised = desk._apply_sla(tx, created, {**created, "priority": "urgent"}, later)
        assert raised["sla"]["policy_name"] == "Urgent only"
        assert raised["first_response_due_at"] == "2026-12-07T01:30:00.000000Z"  # 24x7: 30 minutes from 09:00
        # A write that changes nothing matched keeps the snapshot, even after the policy changes.
        kept = desk._apply_sla(tx, raised, {**raised, "status": "open"}, later)
        assert kept["sla"]["policy_name"] == "Urgent only"


def test_apply_sla_counts_round_the_clock_when_the_calendar_is_gone(store: DocumentStore) -> None:
    desk = service(store)
    desk.create_sla_policy(policy_data(calendar_id="cal-office"))
    with store.transaction() as tx:
        created = desk._apply_sla(tx, None, ticket(), NOW)
        tx[BUSINESS_CALENDARS].delete("cal-office")
        paused = desk._apply_sla(tx, created, {**created, "status": "pending"}, NOW + timedelta(hours=12))
    assert paused["sla"]["resolution"]["used_minutes"] == 720


@pytest.mark.parametrize(
    "data,field",
    [
        ({"pause_statuses": [["pending"]]}, "pause_statuses"),
        ({"pause_statuses": [{"a": 1}, "pending"]}, "pause_statuses"),
        (
            {
                "escalations": [
                    {
                        "id": ["a"],
                        "metric": "resolution",
                        "when": "before",
                        "minutes": 5,
                        "actions": [{"type": "raise_priority"}],
                    }
                ]
            },
            "escalations[0].id",
        ),
        (
            {
                "escalations": [
                    {
                        "id": {},
                        "metric": "resolution",
                        "when": "before",
                        "minutes": 5,
                        "actions": [{"type": "raise_priority"}],
                    }
                ]
            },
            "escalations[0].id",
        ),
        ({"conditions": {"priority": [["high"]]}}, "conditions.priority"),
    ],
)
def test_unhashable_values_are_refused_not_crashed_on(store: DocumentStore, data: dict, field: str) -> None:
    desk = service(store)
    assert field in errors_of(lambda: desk.create_sla_policy(policy_data(**data)))
    stored = desk.create_sla_policy(policy_data(name="Plain"))
    assert field in errors_of(lambda: desk.update_sla_policy(stored["id"], data))
