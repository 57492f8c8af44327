"""The service-desk routes beyond the generic resources of api.py (tickets, SLA policies and business
calendars): ticket comments, satisfaction, merges, service-team rosters and the service report.
They share api.py's blueprint and helpers."""

from flask import current_app, jsonify, url_for

from crm_common.access import ADMIN, SUPPORT_AGENT
from crm_common.errors import Forbidden, ValidationFailed

from .api import _body_object, blueprint, call, collection, expected_version, json_body, list_query, single
from .auth import current_caller
from .identity.store import USERS
from .sales_api import _report_query

SERVICE = "service_desk"


# Comments, satisfaction and merges of a ticket


@blueprint.get("/tickets/<resource_id>/comments")
def list_ticket_comments(resource_id: str):
    return collection(call(SERVICE, "list_ticket_comments", ticket_id=resource_id, query=list_query()))


@blueprint.post("/tickets/<resource_id>/comments")
def add_ticket_comment(resource_id: str):
    comment = call(SERVICE, "add_ticket_comment", ticket_id=resource_id, data=json_body())
    return single(comment, 201, url_for("api.list_ticket_comments", resource_id=resource_id))


@blueprint.get("/tickets/<resource_id>/satisfaction")
def get_satisfaction(resource_id: str):
    return jsonify(call(SERVICE, "get_satisfaction", ticket_id=resource_id))


@blueprint.post("/tickets/<resource_id>/satisfaction")
def record_satisfaction(resource_id: str):
    answer = call(SERVICE, "record_satisfaction", ticket_id=resource_id, data=json_body())
    return single(answer, 201, url_for("api.get_satisfaction", resource_id=resource_id))


@blueprint.post("/tickets/<resource_id>/merge")
def merge_tickets(resource_id: str):
    body = _body_object(True, ("duplicate_ids",))
    if "duplicate_ids" not in body:
        raise ValidationFailed("1 invalid field(s)", [{"field": "duplicate_ids", "message": "is required"}])
    return single(call(SERVICE, "merge_tickets", ticket_id=resource_id, duplicate_ids=body["duplicate_ids"]))


# Service teams: the roster the service desk assigns tickets from, for a team of the gateway


def _team(team_id: str) -> dict:
    """The gateway's team, or NotFound: the gateway owns the teams."""
    return current_app.extensions["directory"].team(team_id)


def _check_roster(team: dict, body: dict) -> None:
    """Agents must be active members of the team with the support_agent role, managers its managers.
    Malformed values are left to the service, which reports them."""
    users = current_app.extensions["directory"].store[USERS]
    errors = []
    agents = body.get("agents")
    if isinstance(agents, list):
        for number, agent in enumerate(agents[:200], 1):
            user_id = agent.get("user_id") if isinstance(agent, dict) else None
            if not isinstance(user_id, str) or not user_id:
                continue
            user = users.get(user_id)
            if (
                user is None
                or not user.get("active", True)
                or SUPPORT_AGENT not in user.get("roles", ())
                or user_id not in team.get("member_ids", ())
            ):
                message = f"item {number}: user_id {user_id} is not an active support agent of the team"
                errors.append({"field": "agents", "message": message})
    managers = body.get("manager_ids")
    if isinstance(managers, list):
        for number, user_id in enumerate(managers[:200], 1):
            if isinstance(user_id, str) and user_id not in team.get("manager_ids", ()):
                errors.append(
                    {"field": "manager_ids", "message": f"item {number}: {user_id} is not a manager of the team"}
                )
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)


@blueprint.get("/service-teams")
def list_service_teams():
    return collection(call(SERVICE, "list_service_teams", query=list_query()))


@blueprint.get("/service-teams/<team_id>")
def get_service_team(team_id: str):
    _team(team_id)
    return single(call(SERVICE, "get_service_team", team_id=team_id))


@blueprint.put("/service-teams/<team_id>")
def put_service_team(team_id: str):
    team = _team(team_id)
    caller = current_caller()
    if ADMIN not in caller.roles and team_id not in caller.managed_team_ids:
        raise Forbidden("only an admin or a manager of the team may set its roster")
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
    _check_roster(team, body)
    return single(call(SERVICE, "put_service_team", team_id=team_id, data=body, expected_version=expected_version()))


@blueprint.put("/service-teams/<team_id>/agents/<user_id>/availability")
def set_agent_availability(team_id: str, user_id: str):
    _team(team_id)
    body = _body_object(True, ("available",))
    if not isinstance(body.get("available"), bool):
        message = "is required" if "available" not in body else "must be true or false"
        raise ValidationFailed("1 invalid field(s)", [{"field": "available", "message": message}])
    return single(
        call(SERVICE, "set_agent_availability", team_id=team_id, user_id=user_id, available=body["available"])
    )


# Reports


@blueprint.get("/reports/service")
def service_report():
    return jsonify(call(SERVICE, "service_report", query=_report_query()))
