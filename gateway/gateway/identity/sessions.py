"""Sign-in, token refresh and rotation, sign-out, lock-out, and turning a credential into a caller."""

import time
from dataclasses import dataclass

from crm_common.caller import Caller
from crm_common.errors import TooManyRequests, Unauthorized
from crm_common.ids import new_id, utc_now
from crm_common.store import DocumentStore

from .directory import API_KEY_PREFIX, Directory, key_role_allowed
from .passwords import DECOY_HASH, verify_password
from .settings import SecuritySettings
from .store import API_KEYS, LOGIN_FAILURES, SESSIONS, USERS
from .tokens import issue_access_token, new_secret, secret_hash, secret_matches, split_credential, verify_access_token

INVALID_SIGN_IN = "the email or password is wrong, or the account is not active"
REFRESH_PREFIX = "rt_"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a signed-in user (one session) or an API key acting for its user."""

    kind: str  # "user" or "api_key"
    credential_id: str  # the session id or the API key id
    user: dict
    caller: Caller
    rate_limit: dict | None = None  # an API key's own limit, overriding its role's

    @property
    def rate_key(self) -> str:
        return f"key:{self.credential_id}" if self.kind == "api_key" else f"user:{self.user['id']}"


class Authenticator:
    def __init__(self, store: DocumentStore, directory: Directory, settings: SecuritySettings):
        self.store, self.directory, self.settings = store, directory, settings

    # signing in

    def sign_in(self, email: str, password: str) -> dict:
        email = email.strip().lower()
        self._check_not_locked(email)
        user = self.directory.user_by_email(email)
        valid = verify_password(password, user["password_hash"] if user else DECOY_HASH)
        if not (user and valid and user["active"]):
            self._record_failure(email)
            raise Unauthorized(INVALID_SIGN_IN)
        self.store[LOGIN_FAILURES].delete(email)
        session_id, secret = new_id(), new_secret()
        now = time.time()
        self.store[SESSIONS].insert(
            {
                "id": session_id,
                "user_id": user["id"],
                "refresh_hash": secret_hash(secret),
                "previous_refresh_hash": None,
                "created_at": utc_now(),
                "expires_epoch": now + self.settings.refresh_ttl_seconds,
                "revoked": False,
            }
        )
        return self._token_response(user["id"], session_id, secret)

    def _check_not_locked(self, email: str) -> None:
        record = self.store[LOGIN_FAILURES].get(email)
        if record and record.get("locked_until", 0) > time.time():
            raise TooManyRequests(
                "too many failed sign-ins for this account; try again later",
                int(record["locked_until"] - time.time()) + 1,
            )

    def _record_failure(self, email: str) -> None:
        now = time.time()
        window = self.settings.login_lockout_seconds
        with self.store.transaction() as tx:
            record = tx[LOGIN_FAILURES].get(email)
            if record is None or now - record["first_failure_epoch"] > window:
                record = {"id": email, "failures": 0, "first_failure_epoch": now, "locked_until": 0}
            record = {**record, "failures": record["failures"] + 1}
            if record["failures"] >= self.settings.login_max_failures:
                record["locked_until"] = now + window
            tx[LOGIN_FAILURES].put(record)

    def _token_response(self, user_id: str, session_id: str, secret: str) -> dict:
        return {
            "access_token": issue_access_token(self.settings, user_id, session_id),
            "token_type": "Bearer",
            "expires_in": self.settings.access_ttl_seconds,
            "refresh_token": f"{REFRESH_PREFIX}{session_id}.{secret}",
        }

    def refresh(self, refresh_token: str) -> dict:
        """Rotate: the old refresh token stops working. Presenting an already-rotated one means it
        was copied, so the whole session is revoked."""
        session_id, secret = split_credential(refresh_token, REFRESH_PREFIX)
        with self.store.transaction() as tx:
            session = tx[SESSIONS].get(session_id)
            if session is None or session["revoked"] or session["expires_epoch"] < time.time():
                raise Unauthorized("the refresh token is not valid; sign in again")
            if session.get("previous_refresh_hash") and secret_matches(secret, session["previous_refresh_hash"]):
                tx[SESSIONS].replace({**session, "revoked": True, "revoked_at": utc_now()})
                reused = True
            elif not secret_matches(secret, session["refresh_hash"]):
                raise Unauthorized("the refresh token is not valid; sign in again")
            else:
                reused = False
                self._active_user(session["user_id"])
                new = new_secret()
                tx[SESSIONS].replace(
                    {**session, "refresh_hash": secret_hash(new), "previous_refresh_hash": session["refresh_hash"]}
                )
        if reused:
            raise Unauthorized("the refresh token was already used; the session is revoked, sign in again")
        return self._token_response(session["user_id"], session_id, new)

    def sign_out(self, session_id: str) -> None:
        # In one transaction with a fresh read: a refresh rotating the session at the same moment
        # must not let the session survive its sign-out.
        with self.store.transaction() as tx:
            session = tx[SESSIONS].get(session_id)
            if session and not session["revoked"]:
                tx[SESSIONS].replace({**session, "revoked": True, "revoked_at": utc_now()})

    # every request

    def authenticate(self, authorization: str | None, api_key: str | None, request_id: str | None) -> Principal:
        if api_key:
            return self._by_api_key(api_key, request_id)
        if not authorization:
            raise Unauthorized("sign in: send Authorization: Bearer <token> or X-API-Key")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        claims = verify_access_token(self.settings, token.strip())
        session = self.store[SESSIONS].get(claims["sid"])
        if session is None or session["revoked"] or session["user_id"] != claims["sub"]:
            raise Unauthorized("the session has ended; sign in again")
        user = self._active_user(claims["sub"])
        caller = self.directory.caller_for(user, tuple(user["roles"]), request_id)
        return Principal("user", session["id"], user, caller)

    def _by_api_key(self, credential: str, request_id: str | None) -> Principal:
        key_id, secret = split_credential(credential, API_KEY_PREFIX)
        key = self.store[API_KEYS].get(key_id)
        if key is None or key["revoked_at"] or not secret_matches(secret, key["secret_hash"]):
            raise Unauthorized("the API key is not valid")
        user = self._active_user(key["user_id"])
        if not key_role_allowed(key["role"], user):
            # The user lost that role since the key was made: a key never outranks its user.
            raise Unauthorized("the API key's role is no longer held by its user")
        self.directory.touch_api_key(key)
        caller = self.directory.caller_for(user, (key["role"],), request_id)
        return Principal("api_key", key["id"], user, caller, key.get("rate_limit"))

    def _active_user(self, user_id: str) -> dict:
        user = self.store[USERS].get(user_id)
        if user is None or not user["active"]:
            raise Unauthorized("the account is not active")
        return user
