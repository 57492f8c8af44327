"""Users, teams and API keys: the records behind every caller, and the caller context they yield."""

import time

from crm_common.access import ADMIN, ROLES
from crm_common.caller import Caller
from crm_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id, utc_now
from crm_common.listing import parse_list_query
from crm_common.schema import Field, validate
from crm_common.store import DocumentStore

from .passwords import hash_password
from .settings import MIN_PASSWORD_LENGTH
from .store import API_KEYS, SESSIONS, TEAMS, USERS
from .tokens import new_secret, secret_hash

API_KEY_PREFIX = "crm_"
USER_FIELDS = {
    "email": Field("email", required=True, max_length=254),
    "name": Field("text", required=True, max_length=200),
    "password": Field("text", required=True, max_length=1024),
    "roles": Field("choices", required=True, choices=ROLES),
    "active": Field("bool", nullable=False),
}
USER_SERVER_OWNED = ("id", "created_at", "updated_at", "version", "team_ids", "password_hash")
USER_FILTERABLE = ("email", "name", "active", "roles", "created_at")
TEAM_FIELDS = {
    "name": Field("text", required=True, max_length=200),
    "member_ids": Field("ids", nullable=False),
    "manager_ids": Field("ids", nullable=False),
}
TEAM_SERVER_OWNED = ("id", "created_at", "updated_at", "version")
RATE_LIMIT_FIELDS = {"per_second": Field("decimal", required=True), "burst": Field("int", required=True)}
API_KEY_FIELDS = {
    "name": Field("text", required=True, max_length=200),
    "role": Field("choice", required=True, choices=ROLES),
    "user_id": Field("id", max_length=64),
    "rate_limit": Field("object"),
}
API_KEY_SERVER_OWNED = ("id", "created_at", "version", "prefix", "secret_hash", "revoked_at", "last_used_at", "key")
# How often an API key's last-used time is written: every request would make each read a write.
LAST_USED_RESOLUTION_SECONDS = 60


def public_user(user: dict, team_ids: list[str]) -> dict:
    shown = {k: v for k, v in user.items() if k != "password_hash"}
    return {**shown, "team_ids": team_ids}


def public_api_key(key: dict) -> dict:
    return {k: v for k, v in key.items() if k not in ("secret_hash", "last_used_epoch")}


def key_role_allowed(role: str, user: dict) -> bool:
    """A key acts with one of its user's roles; an admin's key may hold any role (a narrower one)."""
    return role in user["roles"] or ADMIN in user["roles"]


def _problem(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, [{"field": field, "message": message}])


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise _problem("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise _problem("password", "must be valid Unicode text") from None


class Directory:
    def __init__(self, store: DocumentStore):
        self.store = store

    # users

    def user(self, user_id: str) -> dict:
        user = self.store[USERS].get(user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    def user_by_email(self, email: str) -> dict | None:
        found = self.store[USERS].find({"email": email.strip().lower()}, limit=1).items
        return found[0] if found else None

    def memberships(self, user_id: str) -> tuple[list[dict], list[dict]]:
        """(teams the user belongs to, teams the user manages)."""
        teams = (
            self.store[TEAMS]
            .find(
                {"$or": [{"member_ids": {"$contains": user_id}}, {"manager_ids": {"$contains": user_id}}]},
                [("name", 1)],
                200,
            )
            .items
        )
        return (
            [t for t in teams if user_id in t["member_ids"]],
            [t for t in teams if user_id in t["manager_ids"]],
        )

    def show_user(self, user: dict) -> dict:
        member_of, _ = self.memberships(user["id"])
        return public_user(user, [t["id"] for t in member_of])

    def create_user(self, data: dict) -> dict:
        fields = validate(data, USER_FIELDS, server_owned=USER_SERVER_OWNED)
        _check_password(fields["password"])
        if not fields["roles"]:
            raise _problem("roles", "give at least one role")
        now = utc_now()
        user = {
            "id": new_id(),
            "email": fields["email"].strip().lower(),
            "name": fields["name"],
            "roles": sorted(set(fields["roles"])),
            "active": fields.get("active", True),
            "password_hash": hash_password(fields["password"]),
            "created_at": now,
            "updated_at": now,
        }
        try:
            stored = self.store[USERS].insert(user)
        except Conflict:
            raise Conflict(f"a user with email {user['email']} exists") from None
        return public_user(stored, [])

    def list_users(self, query: dict) -> dict:
        q = parse_list_query(
            query, filterable=USER_FILTERABLE, sortable=("created_at", "email", "name"), booleans=("active",)
        )
        page = self.store[USERS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": [self.show_user(u) for u in page.items], "next_cursor": page.next_cursor}

    def update_user(self, user_id: str, data: dict, expected_version: int | None) -> tuple[dict, bool]:
        """The updated user, and whether their sessions must end (deactivated or new password)."""
        changes = validate(data, USER_FIELDS, partial=True, server_owned=USER_SERVER_OWNED)
        current = self.user(user_id)
        if expected_version is not None and current["version"] != expected_version:
            raise PreconditionFailed(f"user {user_id} is at version {current['version']}")
        updated = {**current, "updated_at": utc_now()}
        if "email" in changes:
            updated["email"] = changes["email"].strip().lower()
        if "name" in changes:
            updated["name"] = changes["name"]
        if "roles" in changes:
            if not changes["roles"]:
                raise _problem("roles", "give at least one role")
            updated["roles"] = sorted(set(changes["roles"]))
        if "active" in changes:
            updated["active"] = changes["active"]
        if "password" in changes:
            _check_password(changes["password"])
            updated["password_hash"] = hash_password(changes["password"])
        loses_admin = ADMIN in current["roles"] and (ADMIN not in updated["roles"] or not updated["active"])
        if loses_admin and current["id"] == self._sole_admin_id():
            raise Conflict(f"user {user_id} is the last active admin; make another admin first")
        try:  # against the version read, so a concurrent change (a deactivation) is never undone
            stored = self.store[USERS].replace(updated, current["version"])
        except Conflict:
            raise Conflict(f"a user with email {updated['email']} exists") from None
        ends_sessions = ("password" in changes) or (current["active"] and not updated["active"])
        return self.show_user(stored), ends_sessions

    def _sole_admin_id(self) -> str | None:
        admins = self.store[USERS].find({"roles": {"$contains": ADMIN}, "active": True}, [("created_at", 1)], 2).items
        return admins[0]["id"] if len(admins) == 1 else None

    def end_sessions(self, user_id: str) -> int:
        ended = 0
        with self.store.transaction() as tx:
            for session in tx[SESSIONS].iterate({"user_id": user_id, "revoked": False}):
                tx[SESSIONS].replace({**session, "revoked": True, "revoked_at": utc_now()})
                ended += 1
        return ended

    def ensure_admin(self, email: str, password: str) -> None:
        """Create the first admin unless a user with that email exists (the password is never reset)."""
        if self.user_by_email(email) is not None:
            return
        try:
            self.create_user({"email": email, "name": "Administrator", "password": password, "roles": [ADMIN]})
        except Conflict:
            pass  # another gateway worker created it at the same moment

    def caller_for(self, user: dict, roles: tuple[str, ...], request_id: str | None) -> Caller:
        member_of, manages = self.memberships(user["id"])
        return Caller(
            user["id"],
            roles,
            tuple(t["id"] for t in member_of),
            request_id,
            tuple(t["id"] for t in manages),
            tuple(sorted({m for t in manages for m in t["member_ids"]})),
            tuple(sorted({m for t in member_of for m in t["member_ids"]})),
        )

    # teams

    def team(self, team_id: str) -> dict:
        team = self.store[TEAMS].get(team_id)
        if team is None:
            raise NotFound(f"team {team_id} not found")
        return team

    def _check_users(self, fields: dict) -> None:
        for name in ("member_ids", "manager_ids"):
            unknown = [u for u in fields.get(name, []) if self.store[USERS].get(u) is None]
            if unknown:
                raise _problem(name, f"unknown user(s): {', '.join(unknown[:5])}")

    def create_team(self, data: dict) -> dict:
        fields = validate(data, TEAM_FIELDS, server_owned=TEAM_SERVER_OWNED)
        self._check_users(fields)
        now = utc_now()
        team = {
            "id": new_id(),
            "name": fields["name"],
            "member_ids": sorted(set(fields.get("member_ids", []))),
            "manager_ids": sorted(set(fields.get("manager_ids", []))),
            "created_at": now,
            "updated_at": now,
        }
        try:
            return self.store[TEAMS].insert(team)
        except Conflict:
            raise Conflict(f"a team named {team['name']} exists") from None

    def list_teams(self, query: dict) -> dict:
        q = parse_list_query(
            query,
            filterable=("name", "member_ids", "manager_ids"),
            sortable=("created_at", "name"),
            default_sort="name",
        )
        page = self.store[TEAMS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    def update_team(self, team_id: str, data: dict, expected_version: int | None) -> dict:
        changes = validate(data, TEAM_FIELDS, partial=True, server_owned=TEAM_SERVER_OWNED)
        self._check_users(changes)
        current = self.team(team_id)
        if expected_version is not None and current["version"] != expected_version:
            raise PreconditionFailed(f"team {team_id} is at version {current['version']}")
        updated = {**current, **changes, "updated_at": utc_now()}
        for name in ("member_ids", "manager_ids"):
            updated[name] = sorted(set(updated[name]))
        try:
            return self.store[TEAMS].replace(updated, current["version"])
        except Conflict:
            raise Conflict(f"a team named {updated['name']} exists") from None

    def delete_team(self, team_id: str, expected_version: int | None) -> None:
        if not self.store[TEAMS].delete(team_id, expected_version):
            raise NotFound(f"team {team_id} not found")

    # API keys

    def create_api_key(self, data: dict, creator_id: str) -> dict:
        """The new key's record with its secret under `key`: the only time the secret is shown."""
        fields = validate(data, API_KEY_FIELDS, server_owned=API_KEY_SERVER_OWNED)
        try:
            user = self.user(fields.get("user_id") or creator_id)
        except NotFound:
            raise _problem("user_id", "no such user") from None
        if not user["active"]:
            raise _problem("user_id", "the user is not active")
        if not key_role_allowed(fields["role"], user):
            raise _problem("role", "must be one of the user's own roles: a key never outranks its user")
        rate_limit = fields.get("rate_limit")
        if rate_limit is not None:
            rate_limit = validate(rate_limit, RATE_LIMIT_FIELDS)
            if float(rate_limit["per_second"]) <= 0 or rate_limit["burst"] < 1:
                raise _problem("rate_limit", "per_second must be above 0 and burst at least 1")
        secret = new_secret()
        key = {
            "id": new_id(),
            "name": fields["name"],
            "role": fields["role"],
            "user_id": user["id"],
            "rate_limit": rate_limit,
            "secret_hash": secret_hash(secret),
            "created_by": creator_id,
            "created_at": utc_now(),
            "revoked_at": None,
            "last_used_at": None,
        }
        stored = self.store[API_KEYS].insert(key)
        return {**public_api_key(stored), "key": f"{API_KEY_PREFIX}{stored['id']}.{secret}"}

    def api_key(self, key_id: str) -> dict:
        key = self.store[API_KEYS].get(key_id)
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        return key

    def list_api_keys(self, query: dict) -> dict:
        q = parse_list_query(query, filterable=("user_id", "role", "revoked_at"), sortable=("created_at", "name"))
        page = self.store[API_KEYS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": [public_api_key(k) for k in page.items], "next_cursor": page.next_cursor}

    def revoke_api_key(self, key_id: str) -> None:
        key = self.api_key(key_id)
        if key["revoked_at"] is None:
            self.store[API_KEYS].replace({**key, "revoked_at": utc_now()})

    def touch_api_key(self, key: dict) -> None:
        last = key.get("last_used_epoch") or 0
        now = time.time()
        if now - last >= LAST_USED_RESOLUTION_SECONDS:
            try:  # against the version read, so a revocation in between is never overwritten
                self.store[API_KEYS].replace({**key, "last_used_at": utc_now(), "last_used_epoch": now}, key["version"])
            except (PreconditionFailed, NotFound):
                pass
