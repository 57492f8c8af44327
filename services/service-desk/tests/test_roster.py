"""Service team rosters: who may change them, their validation, and the auto-assignment of new
tickets (round robin, least loaded) on a real SQLite store, no broker."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import BadRequest, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore, open_store
from service_desk.service import ServiceDeskService
from service_desk.store import SERVICE_TEAMS, SPECS, TICKETS

ADMIN = Caller("a1", ("admin",))
HELP_MANAGER = Caller("m2", ("manager",), ("t-help",), managed_team_ids=("t-help",), managed_user_ids=("s1", "s2"))
OTHER_MANAGER = Caller("m9", ("manager",), ("t-vip",), managed_team_ids=("t-vip",))
AGENT = Caller("s1", ("support_agent",), ("t-help",))
OTHER_AGENT = Caller("s2", ("support_agent",), ("t-help",))
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/service_desk.db", SPECS)
    yield opened
    opened.close()


def desk(store: DocumentStore, caller: Caller = ADMIN):
    worker = worker_factory(ServiceDeskService, store=store, caller=caller)
    worker._now = lambda: NOW
    return worker


def roster(assignment: str = "round_robin", *agents: dict, managers: tuple = ("m2",)) -> dict:
    return {"assignment": assignment, "agents": list(agents), "manager_ids": list(managers)}


def agent(user_id: str, available: bool = True, max_open: int | None = None) -> dict:
    return {"user_id": user_id, "available": available, "max_open": max_open}


def assign_new(store: DocumentStore, team_id: str = "t-help", status: str = "new") -> str | None:
    """What `_auto_assign` picks for a new ticket, which is then stored with that assignee."""
    worker = desk(store)
    with store.transaction() as tx:
        ticket = {"id": f"t{store[TICKETS].count() + 1}", "team_id": team_id, "assignee_id": None, "status": status}
        ticket["assignee_id"] = worker._auto_assign(tx, ticket)
        tx[TICKETS].insert(ticket)
    return ticket["assignee_id"]


# writing a roster


def test_admins_and_the_teams_managers_put_rosters_others_may_not(store: DocumentStore) -> None:
    created = desk(store, HELP_MANAGER).put_service_team("t-help", roster("round_robin", agent("s1")))
    assert created == {
        "id": "t-help",
        "assignment": "round_robin",
        "agents": [{"user_id": "s1", "available": True, "max_open": None}],
        "manager_ids": ["m2"],
        "last_assigned_user_id": None,
        "version": 1,
        "updated_at": "2026-11-23T09:00:00.000000Z",
    }
    for caller in (OTHER_MANAGER, AGENT, Caller("u1", ("sales_rep",)), Caller("v1", ("viewer",))):
        with pytest.raises(Forbidden):
            desk(store, caller).put_service_team("t-help", roster("manual"))
    with pytest.raises(PreconditionFailed):
        desk(store, ADMIN).put_service_team("t-help", roster("manual"), expected_version=7)
    with pytest.raises(PreconditionFailed):
        desk(store, ADMIN).put_service_team("t-new", roster("manual"), expected_version=1)
    updated = desk(store, ADMIN).put_service_team("t-help", roster("least_loaded", agent("s2")), expected_version=1)
    assert (updated["version"], updated["assignment"], updated["agents"][0]["user_id"]) == (2, "least_loaded", "s2")
    assert desk(store, ADMIN).put_service_team("t-help", roster("least_loaded", agent("s2"))) == updated  # unchanged


def test_agents_default_to_available_and_uncapped_and_the_pointer_survives_a_put(store: DocumentStore) -> None:
    desk(store).put_service_team("t-help", roster("round_robin", {"user_id": "s1"}, {"user_id": "s2"}))
    assert assign_new(store) == "s1"
    kept = desk(store).put_service_team("t-help", roster("round_robin", {"user_id": "s1", "max_open": 5}, agent("s2")))
    assert kept["agents"][0] == {"user_id": "s1", "available": True, "max_open": 5}
    assert kept["last_assigned_user_id"] == "s1"
    assert assign_new(store) == "s2"


BAD_ROSTERS = {
    "unknown method": ({"assignment": "random"}, "assignment"),
    "no method": ({"agents": []}, "assignment"),
    "unknown field": ({"assignment": "manual", "version": 3}, "version"),
    "agents not a list": ({"assignment": "manual", "agents": "s1"}, "agents"),
    "agent without id": ({"assignment": "manual", "agents": [{"available": True}]}, "agents"),
    "availability not a bool": ({"assignment": "manual", "agents": [{"user_id": "s1", "available": "yes"}]}, "agents"),
    "cap of zero": ({"assignment": "manual", "agents": [agent("s1", max_open=0)]}, "agents[0].max_open"),
    "cap too high": ({"assignment": "manual", "agents": [agent("s1", max_open=1001)]}, "agents[0].max_open"),
    "cap a float": ({"assignment": "manual", "agents": [{"user_id": "s1", "max_open": 1.5}]}, "agents"),
    "agent twice": ({"assignment": "manual", "agents": [agent("s1"), agent("s1")]}, "agents[1].user_id"),
    "too many agents": ({"assignment": "manual", "agents": [agent(f"s{i}") for i in range(201)]}, "agents"),
    "too many managers": ({"assignment": "manual", "manager_ids": [f"m{i}" for i in range(51)]}, "manager_ids"),
    "manager twice": ({"assignment": "manual", "manager_ids": ["m2", "m2"]}, "manager_ids"),
    "managers not ids": ({"assignment": "manual", "manager_ids": [3]}, "manager_ids"),
    "not an object": ([], ""),
}


@pytest.mark.parametrize("case", BAD_ROSTERS)
def test_an_invalid_roster_is_refused_naming_the_field(store: DocumentStore, case: str) -> None:
    data, field = BAD_ROSTERS[case]
    with pytest.raises(ValidationFailed) as caught:
        desk(store).put_service_team("t-help", data)
    assert caught.value.errors[0]["field"].startswith(field)
    assert store[SERVICE_TEAMS].get("t-help") is None


def test_a_roster_of_200_agents_and_50_managers_is_accepted(store: DocumentStore) -> None:
    data = roster("least_loaded", *(agent(f"s{i}", max_open=1000) for i in range(200)))
    data["manager_ids"] = [f"m{i}" for i in range(50)]
    assert len(desk(store).put_service_team("t-big", data)["agents"]) == 200


def test_an_invalid_team_id_is_refused(store: DocumentStore) -> None:
    with pytest.raises(ValidationFailed):
        desk(store).put_service_team("x" * 65, roster("manual"))
    with pytest.raises(ValidationFailed):
        desk(store).put_service_team(None, roster("manual"))


# reading


def test_rosters_are_read_and_listed(store: DocumentStore) -> None:
    desk(store).put_service_team("t-help", roster("round_robin", agent("s1")))
    desk(store).put_service_team("t-vip", roster("manual"))
    reader = desk(store, Caller("v1", ("viewer",)))
    assert reader.get_service_team("t-help")["assignment"] == "round_robin"
    with pytest.raises(NotFound):
        reader.get_service_team("t-none")
    assert [t["id"] for t in reader.list_service_teams({})["data"]] == ["t-help", "t-vip"]
    assert [t["id"] for t in reader.list_service_teams({"where": {"assignment": "manual"}})["data"]] == ["t-vip"]
    page = reader.list_service_teams({"limit": 1})
    assert [t["id"] for t in page["data"]] == ["t-help"]
    assert [t["id"] for t in reader.list_service_teams({"cursor": page["next_cursor"]})["data"]] == ["t-vip"]
    with pytest.raises(BadRequest):
        reader.list_service_teams({"where": {"agents": "s1"}})


# availability


def test_agents_themselves_their_managers_and_admins_set_availability(store: DocumentStore) -> None:
    desk(store).put_service_team("t-help", roster("round_robin", agent("s1"), agent("s2")))
    away = desk(store, AGENT).set_agent_availability("t-help", "s1", False)
    assert away["agents"][0]["available"] is False and away["version"] == 2
    assert desk(store, AGENT).set_agent_availability("t-help", "s1", False) == away  # unchanged
    assert desk(store, HELP_MANAGER).set_agent_availability("t-help", "s1", True)["agents"][0]["available"] is True
    assert desk(store, ADMIN).set_agent_availability("t-help", "s2", False)["agents"][1]["available"] is False
    with pytest.raises(Forbidden):
        desk(store, AGENT).set_agent_availability("t-help", "s2", True)
    with pytest.raises(Forbidden):
        desk(store, OTHER_MANAGER).set_agent_availability("t-help", "s2", True)


def test_availability_of_someone_not_on_the_roster_is_not_found(store: DocumentStore) -> None:
    desk(store).put_service_team("t-help", roster("round_robin", agent("s1")))
    with pytest.raises(NotFound):
        desk(store, HELP_MANAGER).set_agent_availability("t-help", "s2", False)
    with pytest.raises(NotFound):
        desk(store, OTHER_AGENT).set_agent_availability("t-help", "s2", False)
    with pytest.raises(NotFound):
        desk(store, ADMIN).set_agent_availability("t-none", "s1", False)
    with pytest.raises(ValidationFailed):
        desk(store, AGENT).set_agent_availability("t-help", "s1", "no")


# auto-assignment


def test_round_robin_rotates_skipping_unavailable_and_full_agents(store: DocumentStore) -> None:
    team = roster("round_robin", agent("s1"), agent("s2", available=False), agent("s3", max_open=1), agent("s4"))
    desk(store).put_service_team("t-help", team)
    assert [assign_new(store) for _ in range(5)] == ["s1", "s3", "s4", "s1", "s4"]  # s3 is full after one
    assert store[SERVICE_TEAMS].get("t-help")["last_assigned_user_id"] == "s4"
    desk(store, OTHER_AGENT).set_agent_availability("t-help", "s2", True)
    assert assign_new(store) == "s1"
    assert assign_new(store) == "s2"


def test_a_closed_ticket_frees_a_place_under_the_cap(store: DocumentStore) -> None:
    desk(store).put_service_team("t-help", roster("round_robin", agent("s1", max_open=1)))
    assert assign_new(store) == "s1"
    assert assign_new(store) is None
    first = store[TICKETS].get("t1")
    store[TICKETS].replace({**first, "status": "closed"})
    assert assign_new(store) == "s1"


def test_least_loaded_counts_open_tickets_and_breaks_ties_by_roster_order(store: DocumentStore) -> None:
    desk(store).put_service_team("t-help", roster("least_loaded", agent("s1"), agent("s2"), agent("s3")))
    with store.transaction() as tx:
        seeds = [("s1", "open"), ("s1", "pending"), ("s2", "on_hold"), ("s3", "closed")]
        for i, (assignee, status) in enumerate(seeds):
            tx[TICKETS].insert({"id": f"seed{i}", "team_id": "t-vip", "assignee_id": assignee, "status": status})
    assert [assign_new(store) for _ in range(4)] == ["s3", "s2", "s3", "s1"]


def test_manual_teams_teams_without_roster_and_assigned_tickets_get_nobody(store: DocumentStore) -> None:
    desk(store).put_service_team("t-help", roster("manual", agent("s1")))
    assert assign_new(store) is None
    assert assign_new(store, team_id="t-none") is None
    assert assign_new(store, team_id=None) is None
    desk(store).put_service_team("t-help", roster("round_robin", agent("s1", available=False)))
    assert assign_new(store) is None
    with store.transaction() as tx:
        assert desk(store)._auto_assign(tx, {"team_id": "t-help", "assignee_id": "s9"}) is None


def test_team_managers_come_from_the_roster(store: DocumentStore) -> None:
    desk(store).put_service_team("t-help", roster("manual", managers=("m2", "m3")))
    with store.transaction() as tx:
        assert desk(store)._team_managers(tx, "t-help") == ["m2", "m3"]
        assert desk(store)._team_managers(tx, "t-none") == []
        assert desk(store)._team_managers(tx, None) == []


def test_least_loaded_assignment_leaves_the_roster_untouched(store: DocumentStore) -> None:
    # Only round robin keeps a pointer: a least-loaded pick must not rewrite the team's document.
    put = desk(store).put_service_team("t-help", roster("least_loaded", agent("s1"), agent("s2")))
    assert [assign_new(store) for _ in range(3)] == ["s1", "s2", "s1"]
    team = store[SERVICE_TEAMS].get("t-help")
    assert (team["version"], team["last_assigned_user_id"]) == (put["version"], None)
