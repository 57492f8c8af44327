"""Service teams: each team's roster (agents, their availability and caps, the managers escalations
reach) and how new tickets are handed out (a mixin of ServiceDeskService)."""

from nameko.rpc import rpc

from crm_common.access import ADMIN, MANAGER, SYSTEM
from crm_common.caller import Caller
from crm_common.errors import Forbidden, NotFound, PreconditionFailed
from crm_common.listing import parse_list_query
from crm_common.schema import Field, field_problem, validate

from . import assignment
from .domain import WORKING_STATUSES, invalid, stamp
from .store import SERVICE_TEAMS, TICKETS

MAX_AGENTS = 200
MAX_MANAGERS = 50
MAX_OPEN_LIMIT = 1000

AGENT_FIELDS = {
    "user_id": Field("id", required=True, max_length=64),
    "available": Field("bool", nullable=False),
    "max_open": Field("int"),
}
TEAM_FIELDS = {
    "assignment": Field("choice", choices=assignment.ASSIGNMENTS, required=True),
    "agents": Field("records", max_items=MAX_AGENTS, nullable=False, fields=AGENT_FIELDS),
    "manager_ids": Field("ids", nullable=False),
}
TEAM_SERVER_OWNED = ("id", "version", "updated_at", "last_assigned_user_id")
TEAM_FILTERABLE = ("assignment",)
TEAM_SORTABLE = ("id", "updated_at")


def roster_fields(data: dict) -> dict:
    """The accepted team settings, agents with their defaults (available, no cap), or ValidationFailed."""
    fields = validate(data, TEAM_FIELDS, server_owned=TEAM_SERVER_OWNED)
    agents = []
    for position, agent in enumerate(fields.get("agents", [])):  # each checked against AGENT_FIELDS
        where = f"agents[{position}]"
        cap = agent.get("max_open")
        if cap is not None and not 1 <= cap <= MAX_OPEN_LIMIT:
            raise invalid(f"{where}.max_open", f"must be null or between 1 and {MAX_OPEN_LIMIT}")
        if any(a["user_id"] == agent["user_id"] for a in agents):
            raise invalid(f"{where}.user_id", "is on the roster twice")
        agents.append({"user_id": agent["user_id"], "available": agent.get("available", True), "max_open": cap})
    managers = fields.get("manager_ids", [])
    if len(managers) > MAX_MANAGERS:
        raise invalid("manager_ids", f"must hold at most {MAX_MANAGERS} ids")
    if len(set(managers)) != len(managers):
        raise invalid("manager_ids", "must not repeat an id")
    return {"assignment": fields["assignment"], "agents": agents, "manager_ids": list(managers)}


def may_manage_team(caller: Caller, team_id: str) -> bool:
    roles = set(caller.roles)
    return bool(roles & {ADMIN, SYSTEM}) or (MANAGER in roles and team_id in caller.managed_team_ids)


class RosterRpc:
    """RPC entrypoints of service teams, and the assignment helpers tickets and escalations use."""

    def _service_team(self, source, team_id: str) -> dict:
        team = source[SERVICE_TEAMS].get(team_id) if isinstance(team_id, str) else None
        if team is None:
            raise NotFound(f"service team {team_id} not found")
        return team

    @rpc
    def get_service_team(self, team_id: str) -> dict:
        return self._service_team(self.store, team_id)

    @rpc
    def list_service_teams(self, query: dict) -> dict:
        q = parse_list_query(query, filterable=TEAM_FILTERABLE, sortable=TEAM_SORTABLE, default_sort="id")
        page = self.store[SERVICE_TEAMS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def put_service_team(self, team_id: str, data: dict, expected_version: int | None = None) -> dict:
        """Create or replace a team's roster; the round-robin pointer is kept."""
        problem = field_problem(team_id, Field("id", required=True, max_length=64))
        if problem:
            raise invalid("team_id", problem)
        if not may_manage_team(self.caller, team_id):
            raise Forbidden("only an admin or a manager of this team may change its roster")
        fields = roster_fields(data)
        with self.store.transaction() as tx:
            current = tx[SERVICE_TEAMS].get(team_id)
            if expected_version is not None and (current or {}).get("version") != expected_version:
                at = current["version"] if current else "absent"
                raise PreconditionFailed(f"service team {team_id} is at version {at}")
            team = {
                "id": team_id,
                **fields,
                "last_assigned_user_id": (current or {}).get("last_assigned_user_id"),
                "updated_at": stamp(self._now()),
            }
            if current is None:
                return tx[SERVICE_TEAMS].insert(team)
            if {k: v for k, v in current.items() if k not in ("version", "updated_at")} == {
                k: v for k, v in team.items() if k != "updated_at"
            }:
                return current
            return tx[SERVICE_TEAMS].replace(team, current["version"])

    @rpc
    def set_agent_availability(self, team_id: str, user_id: str, available: bool) -> dict:
        """Mark an agent on the roster available or away: the agent themself, a manager of the team, an admin."""
        if not isinstance(available, bool):
            raise invalid("available", "must be true or false")
        if not isinstance(user_id, str):
            raise NotFound(f"agent {user_id} is not on the roster of {team_id}")
        if user_id != self.caller.user_id and not may_manage_team(self.caller, team_id):
            raise Forbidden("only the agent, a manager of this team or an admin may change their availability")
        with self.store.transaction() as tx:
            team = self._service_team(tx, team_id)
            agents = [dict(a) for a in team["agents"]]
            agent = next((a for a in agents if a["user_id"] == user_id), None)
            if agent is None:
                raise NotFound(f"agent {user_id} is not on the roster of {team_id}")
            if agent["available"] == available:
                return team
            agent["available"] = available
            updated = {**team, "agents": agents, "updated_at": stamp(self._now())}
            return tx[SERVICE_TEAMS].replace(updated, team["version"])

    # used by tickets and escalations, inside their transaction

    def _team_managers(self, tx, team_id: str | None) -> list[str]:
        team = tx[SERVICE_TEAMS].get(team_id) if team_id else None
        return list(team["manager_ids"]) if team else []

    def _open_loads(self, tx, agents: list[dict]) -> dict[str, int]:
        """Open tickets per agent, in every team (an agent's cap is on their whole plate)."""
        statuses = list(WORKING_STATUSES)
        return {
            a["user_id"]: tx[TICKETS].count({"assignee_id": a["user_id"], "status": {"$in": statuses}})
            for a in agents
            if a.get("available")
        }

    def _pick_agent(self, tx, team_id: str | None, method: str, exclude: tuple = ()) -> str | None:
        """The agent of `team_id`'s roster that `method` picks, or None; a round-robin pick moves the
        team's pointer (`least_loaded` keeps no state: the roster is not rewritten)."""
        team = tx[SERVICE_TEAMS].get(team_id) if team_id else None
        if team is None or method not in assignment.METHODS:
            return None
        loads = self._open_loads(tx, team["agents"])
        chosen = assignment.pick(method, team["agents"], loads, team.get("last_assigned_user_id"), exclude)
        if method == "round_robin" and chosen is not None and chosen != team.get("last_assigned_user_id"):
            tx[SERVICE_TEAMS].replace({**team, "last_assigned_user_id": chosen}, team["version"])
        return chosen

    def _auto_assign(self, tx, ticket: dict) -> str | None:
        """The agent a new unassigned ticket of its team goes to per the team's roster (None:
        manual assignment, no roster, nobody available)."""
        if ticket.get("assignee_id"):
            return None
        team = tx[SERVICE_TEAMS].get(ticket["team_id"]) if ticket.get("team_id") else None
        if team is None:
            return None
        return self._pick_agent(tx, ticket["team_id"], team["assignment"])
