"""The identity routes the gateway answers itself: tokens, /me, users, teams, API keys, the audit log."""

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from crm_common.errors import BadRequest
from crm_common.listing import parse_limit

from .api import collection, expected_version, json_body, list_query, single
from .audit import list_query_filter
from .auth import require_admin
from .identity.directory import Directory, public_api_key, public_user
from .identity.sessions import Authenticator
from .identity.store import AUDIT

blueprint = Blueprint("identity", __name__)


def directory() -> Directory:
    return current_app.extensions["directory"]


def authenticator() -> Authenticator:
    return current_app.extensions["authenticator"]


def _text_field(body: dict, name: str) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} is required")
    return value


# tokens


@blueprint.post("/auth/token")
def issue_token():
    body = json_body()
    return jsonify(authenticator().sign_in(_text_field(body, "email"), _text_field(body, "password")))


@blueprint.post("/auth/refresh")
def refresh_token():
    return jsonify(authenticator().refresh(_text_field(json_body(), "refresh_token")))


@blueprint.post("/auth/logout")
def logout():
    if g.principal.kind != "user":
        raise BadRequest("an API key is not a session: revoke it with DELETE /api-keys/{id}")
    authenticator().sign_out(g.principal.credential_id)
    return Response(status=204)


@blueprint.get("/me")
def me():
    caller = g.principal.caller
    user = public_user(g.principal.user, list(caller.team_ids))  # the teams were read to build the caller
    return jsonify(
        {
            **user,
            "roles": list(caller.roles),  # an API key acts with its own role
            "managed_team_ids": list(caller.managed_team_ids),
            "credential": g.principal.kind,
        }
    )


# users (everyone signed in may read the directory; only admins change it)


@blueprint.get("/users")
def list_users():
    return collection(directory().list_users(list_query()))


@blueprint.post("/users")
def create_user():
    require_admin()
    user = directory().create_user(json_body())
    return single(user, 201, url_for("identity.get_user", user_id=user["id"]))


@blueprint.get("/users/<user_id>")
def get_user(user_id: str):
    return single(directory().show_user(directory().user(user_id)))


@blueprint.patch("/users/<user_id>")
def update_user(user_id: str):
    require_admin()
    user, ends_sessions = directory().update_user(user_id, json_body(), expected_version())
    if ends_sessions:
        directory().end_sessions(user_id)
    return single(user)


# teams


@blueprint.get("/teams")
def list_teams():
    return collection(directory().list_teams(list_query()))


@blueprint.post("/teams")
def create_team():
    require_admin()
    team = directory().create_team(json_body())
    return single(team, 201, url_for("identity.get_team", team_id=team["id"]))


@blueprint.get("/teams/<team_id>")
def get_team(team_id: str):
    return single(directory().team(team_id))


@blueprint.patch("/teams/<team_id>")
def update_team(team_id: str):
    require_admin()
    return single(directory().update_team(team_id, json_body(), expected_version()))


@blueprint.delete("/teams/<team_id>")
def delete_team(team_id: str):
    require_admin()
    directory().delete_team(team_id, expected_version())
    return Response(status=204)


# API keys (admins only)


@blueprint.get("/api-keys")
def list_api_keys():
    require_admin()
    return collection(directory().list_api_keys(list_query()))


@blueprint.post("/api-keys")
def create_api_key():
    require_admin()
    key = directory().create_api_key(json_body(), g.principal.user["id"])
    response = single(key, 201, url_for("identity.get_api_key", key_id=key["id"]))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/api-keys/<key_id>")
def get_api_key(key_id: str):
    require_admin()
    return single(public_api_key(directory().api_key(key_id)))


@blueprint.delete("/api-keys/<key_id>")
def revoke_api_key(key_id: str):
    require_admin()
    directory().revoke_api_key(key_id)
    return Response(status=204)


# the audit log (admins only)


def _instant(name: str) -> str | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@blueprint.get("/audit-log")
def list_audit_log():
    require_admin()
    args = {
        "user_id": request.args.get("user_id"),
        "record_id": request.args.get("record_id"),
        "since": _instant("since"),
        "until": _instant("until"),
    }
    page = current_app.extensions["audit_store"][AUDIT].find(
        list_query_filter(args) or None,
        [("at", -1)],
        parse_limit(request.args.get("limit")),
        request.args.get("cursor") or None,
    )
    return collection({"data": page.items, "next_cursor": page.next_cursor})
