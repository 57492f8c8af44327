"""The visibility table's shared rules: reach per role, and the three ways of asking it (a Python
predicate, a store filter, access tokens) agreeing on every record."""

from itertools import product
from pathlib import Path

import pytest

from crm_common.access import (
    may_assign_owner,
    may_change_owner,
    owner_filter,
    reach_of,
    record_tokens,
    require_role,
    tokens_filter,
)
from crm_common.caller import Caller
from crm_common.errors import Forbidden
from crm_common.runtime.rpc import SystemContext
from crm_common.store import CollectionSpec, open_store

ADMIN = Caller("a1", ("admin",))
MANAGER = Caller("m1", ("manager",), ("t-sales",), managed_team_ids=("t-sales",), managed_user_ids=("m1", "u1", "u2"))
REP = Caller("u1", ("sales_rep",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
AGENT = Caller("s1", ("support_agent",), ("t-help",), teammate_ids=("s1",))
VIEWER = Caller("v1", ("viewer",), ("t-sales",), teammate_ids=("m1", "u1", "u2", "v1"))
NOBODY = Caller("n1", ())
SYSTEM = Caller.from_context({})
CALLERS = {"admin": ADMIN, "manager": MANAGER, "rep": REP, "agent": AGENT, "viewer": VIEWER, "nobody": NOBODY}

OWNERS = ("u1", "u2", "u3", "m1", None)
SHARES = ((), ("u1",), ("s1",), ("v1",), ("u2",))
RECORDS = [{"id": f"r{i}", "owner_id": o, "shared_with": list(s)} for i, (o, s) in enumerate(product(OWNERS, SHARES))]


def test_reach_per_role() -> None:
    assert reach_of(ADMIN).everything and reach_of(SYSTEM).everything
    assert reach_of(REP).owner_ids == {"u1"} and reach_of(REP).pool
    assert reach_of(MANAGER).owner_ids == {"m1", "u1", "u2"} and reach_of(MANAGER).team_ids == {"t-sales"}
    assert reach_of(VIEWER).owner_ids == {"m1", "u1", "u2", "v1"} and reach_of(VIEWER).pool
    assert reach_of(AGENT).owner_ids == frozenset() and not reach_of(AGENT).pool
    assert reach_of(AGENT).team_ids == {"t-help"}


@pytest.mark.parametrize("poolable", [True, False])
@pytest.mark.parametrize("name", CALLERS)
def test_tokens_agree_with_sees_owner_on_every_record(name: str, poolable: bool) -> None:
    reach = reach_of(CALLERS[name])
    for record in RECORDS:
        sees = reach.sees_owner(record["owner_id"], record["shared_with"], poolable=poolable)
        tokens = record_tokens(record["owner_id"], record["shared_with"], poolable=poolable)
        meets = reach.tokens() is None or bool(set(reach.tokens()) & set(tokens))
        assert sees == meets, record


@pytest.mark.parametrize("name", CALLERS)
def test_tokens_agree_with_teams_and_assignees(name: str) -> None:
    reach = reach_of(CALLERS[name])
    for team, assignee in product(("t-help", "t-sales", None), ("s1", "u2", None)):
        sees = reach.sees_team(team) or (assignee is not None and assignee == reach.user_id)
        tokens = record_tokens(None, team_ids=[team], user_ids=[assignee], poolable=False)
        meets = reach.tokens() is None or bool(set(reach.tokens()) & set(tokens))
        assert sees == meets, (team, assignee)


def test_a_manager_does_not_see_what_is_merely_shared_with_or_assigned_to_a_member() -> None:
    tokens = set(reach_of(MANAGER).tokens())
    assert not tokens & set(record_tokens("u3", ["u2"]))
    assert not tokens & set(record_tokens(None, user_ids=["u2"], poolable=False))
    assert tokens & set(record_tokens("u2"))


@pytest.mark.parametrize("poolable", [True, False])
@pytest.mark.parametrize("name", CALLERS)
def test_the_store_filter_selects_exactly_what_sees_owner_sees(tmp_path: Path, name: str, poolable: bool) -> None:
    store = open_store(f"sqlite:///{tmp_path}/access.db", (CollectionSpec("records"),))
    try:
        for record in RECORDS:
            store["records"].insert(record)
        reach = reach_of(CALLERS[name])
        expected = {r["id"] for r in RECORDS if reach.sees_owner(r["owner_id"], r["shared_with"], poolable=poolable)}
        found = store["records"].find(owner_filter(reach, pool=poolable), limit=1000).items
        assert {r["id"] for r in found} == expected
        tokened = store["records"]
        for record in RECORDS:
            tokened.put(
                {**record, "access": record_tokens(record["owner_id"], record["shared_with"], poolable=poolable)}
            )
        assert {r["id"] for r in tokened.find(tokens_filter(reach), limit=1000).items} == expected
    finally:
        store.close()


def test_a_reach_without_alternatives_is_a_valid_filter_matching_nothing(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/access.db", (CollectionSpec("records"),))
    try:
        store["records"].insert({"id": "r", "owner_id": None})
        assert store["records"].find(owner_filter(reach_of(AGENT), shared_field=None)).items == []
    finally:
        store.close()


def test_role_rules() -> None:
    require_role(REP, ("sales_rep",), "x")
    require_role(SYSTEM, ("sales_rep",), "x")
    with pytest.raises(Forbidden):
        require_role(VIEWER, ("sales_rep", "manager"), "x")


def test_who_gives_a_new_record_to_whom() -> None:
    assert may_assign_owner(REP, "u1") and may_assign_owner(REP, None)
    assert not may_assign_owner(REP, "u2")
    assert may_assign_owner(MANAGER, "u2") and not may_assign_owner(MANAGER, "u3")
    assert may_assign_owner(ADMIN, "anyone")
    assert not may_assign_owner(REP, None, creating=False)
    assert may_assign_owner(MANAGER, None, creating=False)


def test_who_moves_an_existing_record() -> None:
    assert may_change_owner(REP, "u1", "u1")
    assert not may_change_owner(REP, "u3", "u1")  # shared with them is not theirs to take
    assert not may_change_owner(REP, "u1", None)
    assert may_change_owner(MANAGER, "u1", "u2") and may_change_owner(MANAGER, None, "u1")
    assert not may_change_owner(MANAGER, "u1", "u3")
    assert not may_change_owner(MANAGER, "u3", "u1")  # from outside their teams
    assert may_change_owner(ADMIN, "u3", "u9")


class _Worker:
    def __init__(self, data: dict):
        self.data, self.call_id_stack = data, ["caller.method.1"]

    @property
    def context_data(self) -> dict:
        return {**self.data, "call_id_stack": self.call_id_stack}


def test_a_call_as_the_system_drops_the_caller_and_keeps_the_request() -> None:
    worker = _Worker({"caller": REP.to_header(), "request_id": "req-1"})
    system = SystemContext(worker)
    assert system.context_data == {"request_id": "req-1", "call_id_stack": ["caller.method.1"]}
    assert Caller.from_context(system.context_data).roles == ("system",)
    assert system.call_id_stack == ["caller.method.1"]
    assert "caller" in worker.context_data  # the worker's own context is untouched
