"""Identity at the gateway: sign-in, tokens, revocation, API keys, roles, rate limits, idempotency, audit."""

import base64
import json
import time

import jwt
import pytest

from crm_common.config import ConfigError
from crm_common.errors import ServiceUnavailable
from gateway.identity.settings import DEVELOPMENT_ADMIN_PASSWORD, DEVELOPMENT_SIGNING_KEY, load_security_settings
from gateway.identity.store import API_KEYS, AUDIT, IDEMPOTENCY, USERS

from .conftest import ADMIN_EMAIL, ADMIN_PASSWORD, SECURITY, sign_in

CONTACT = {"id": "c1", "version": 1, "owner_id": "u1"}


def bearer(tokens: dict) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def make_user(client, email: str, roles: list[str], password: str = "a-long-enough-password") -> dict:
    response = client.post("/api/v1/users", json={"email": email, "name": email, "password": password, "roles": roles})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def forge(claims: dict, key: bytes = SECURITY.signing_key, algorithm: str = "HS256") -> str:
    base = {"iss": "crm-gateway", "aud": "crm-api", "sub": "u", "sid": "s", "iat": int(time.time())}
    return jwt.encode({**base, "exp": int(time.time()) + 60, **claims}, key, algorithm=algorithm)


def test_signing_in_gives_a_bearer_token_that_opens_the_api(app, rpc):
    tokens = sign_in(app.test_client(), ADMIN_EMAIL, ADMIN_PASSWORD)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900 and tokens["refresh_token"]
    rpc.answers[("contacts", "get_contact")] = CONTACT
    response = app.test_client().get("/api/v1/contacts/c1", headers=bearer(tokens))
    assert response.status_code == 200
    caller = rpc.calls[0][2]
    assert caller.roles == ("admin",) and caller.user_id == app.extensions["directory"].user_by_email(ADMIN_EMAIL)["id"]


def test_a_wrong_password_and_an_unknown_email_get_the_same_401(app):
    client = app.test_client()
    wrong = client.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": "not-the-password"})
    unknown = client.post("/api/v1/auth/token", json={"email": "nobody@test.local", "password": "whatever-it-is"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["detail"] == unknown.get_json()["detail"]
    assert wrong.headers["Content-Type"] == "application/problem+json"


def test_repeated_failed_sign_ins_lock_the_account_for_a_while(app):
    client = app.test_client()
    for _ in range(SECURITY.login_max_failures):
        assert (
            client.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": "guess-guess"}).status_code == 401
        )
    locked = client.post("/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: forge({"sub": "u"}, algorithm="none", key=None), id="alg-none"),
        pytest.param(lambda: forge({}, key=b"another-key-that-is-long-enough-000000000"), id="wrong-signature"),
        pytest.param(lambda: forge({"exp": int(time.time()) - 10}), id="expired"),
        pytest.param(lambda: forge({"aud": "another-api"}), id="wrong-audience"),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
def test_bad_tokens_get_401_and_reach_no_service(app, rpc, token):
    response = app.test_client().get("/api/v1/contacts/c1", headers={"Authorization": f"Bearer {token()}"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert rpc.calls == []


def test_a_tampered_payload_is_rejected(app, admin_tokens, rpc):
    header, payload, signature = admin_tokens["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {header}.{forged}.{signature}"})
    assert response.status_code == 401


def test_every_api_route_but_sign_in_and_docs_needs_a_credential(app, rpc):
    client = app.test_client()
    for path in ("/api/v1/contacts", "/api/v1/me", "/api/v1/users", "/api/v1/ping", "/api/v1/search?q=x"):
        assert client.get(path).status_code == 401, path
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert rpc.calls == []


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_session(app):
    client = app.test_client()
    first = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 401  # the session is gone
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401


def test_logout_revokes_the_access_token(app, rpc):
    client = app.test_client()
    tokens = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert client.post("/api/v1/auth/logout", headers=bearer(tokens)).status_code == 204
    assert client.get("/api/v1/contacts/c1", headers=bearer(tokens)).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert rpc.calls == []


def test_deactivating_a_user_revokes_their_tokens_at_once(client, app):
    user = make_user(client, "rep@test.local", ["sales_rep"])
    tokens = sign_in(app.test_client(), "rep@test.local", "a-long-enough-password")
    assert app.test_client().get("/api/v1/me", headers=bearer(tokens)).status_code == 200
    assert client.patch(f"/api/v1/users/{user['id']}", json={"active": False}).status_code == 200
    assert app.test_client().get("/api/v1/me", headers=bearer(tokens)).status_code == 401
    refused = app.test_client().post(
        "/api/v1/auth/token", json={"email": "rep@test.local", "password": "a-long-enough-password"}
    )
    assert refused.status_code == 401


def test_users_are_stored_without_their_password_and_shown_without_its_hash(client, gateway_store):
    user = make_user(client, "Mixed.Case@Test.local", ["viewer"], password="plain-text-secret-123")
    assert user["email"] == "mixed.case@test.local" and "password" not in user and "password_hash" not in user
    stored = gateway_store[USERS].get(user["id"])
    assert "plain-text-secret-123" not in json.dumps(stored) and stored["password_hash"].startswith("scrypt$")
    assert (
        client.post("/api/v1/users", json={**user, "password": "x" * 20}).status_code == 422
    )  # id, team_ids are server-owned


def test_only_admins_manage_users_teams_and_keys(client, app):
    make_user(client, "viewer@test.local", ["viewer"])
    viewer = bearer(sign_in(app.test_client(), "viewer@test.local", "a-long-enough-password"))
    plain = app.test_client()
    assert plain.get("/api/v1/users", headers=viewer).status_code == 200  # the directory is readable
    body = {"email": "x@test.local", "name": "x", "password": "a-long-enough-password", "roles": ["admin"]}
    assert plain.post("/api/v1/users", json=body, headers=viewer).status_code == 403
    assert plain.post("/api/v1/teams", json={"name": "t"}, headers=viewer).status_code == 403
    assert plain.get("/api/v1/api-keys", headers=viewer).status_code == 403
    assert plain.get("/api/v1/audit-log", headers=viewer).status_code == 403


def test_teams_give_managers_their_members_in_the_caller_context(client, app, rpc):
    manager = make_user(client, "mgr@test.local", ["manager"])
    rep = make_user(client, "rep2@test.local", ["sales_rep"])
    team = client.post(
        "/api/v1/teams", json={"name": "East", "member_ids": [rep["id"]], "manager_ids": [manager["id"]]}
    )
    assert team.status_code == 201
    rpc.answers[("contacts", "list_contacts")] = {"data": [], "next_cursor": None}
    app.test_client().get(
        "/api/v1/contacts", headers=bearer(sign_in(app.test_client(), "mgr@test.local", "a-long-enough-password"))
    )
    caller = rpc.calls[-1][2]
    assert caller.managed_team_ids == (team.get_json()["id"],) and caller.managed_user_ids == (rep["id"],)
    assert client.get(f"/api/v1/users/{rep['id']}").get_json()["team_ids"] == [team.get_json()["id"]]
    unknown = client.post("/api/v1/teams", json={"name": "West", "member_ids": ["no-such-user"]})
    assert unknown.status_code == 422


def test_an_api_key_is_shown_once_stored_hashed_and_acts_with_its_role(client, app, rpc, gateway_store):
    created = client.post("/api/v1/api-keys", json={"name": "ERP sync", "role": "viewer"})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    key = created.get_json()
    secret = key["key"]
    assert secret.startswith("crm_") and secret.split(".", 1)[1] not in json.dumps(
        gateway_store[API_KEYS].get(key["id"])
    )
    assert "key" not in client.get(f"/api/v1/api-keys/{key['id']}").get_json()
    rpc.answers[("contacts", "get_contact")] = CONTACT
    assert app.test_client().get("/api/v1/contacts/c1", headers={"X-API-Key": secret}).status_code == 200
    assert rpc.calls[-1][2].roles == ("viewer",)
    assert client.get(f"/api/v1/api-keys/{key['id']}").get_json()["last_used_at"]
    assert client.delete(f"/api/v1/api-keys/{key['id']}").status_code == 204
    assert app.test_client().get("/api/v1/contacts/c1", headers={"X-API-Key": secret}).status_code == 401
    assert app.test_client().get("/api/v1/me", headers={"X-API-Key": secret[:-2] + "xx"}).status_code == 401


def test_a_rate_limit_gives_exactly_n_successes_then_429(client, app, rpc):
    key = client.post(
        "/api/v1/api-keys", json={"name": "slow", "role": "viewer", "rate_limit": {"per_second": "0.001", "burst": 5}}
    ).get_json()["key"]
    rpc.answers[("contacts", "get_contact")] = CONTACT
    statuses = [app.test_client().get("/api/v1/contacts/c1", headers={"X-API-Key": key}) for _ in range(8)]
    assert [r.status_code for r in statuses] == [200] * 5 + [429] * 3
    assert statuses[0].headers["RateLimit-Limit"] == "5" and statuses[4].headers["RateLimit-Remaining"] == "0"
    assert (
        int(statuses[5].headers["Retry-After"]) > 0
        and statuses[5].headers["Content-Type"] == "application/problem+json"
    )
    assert len(rpc.calls) == 5


def test_rate_limits_fall_back_to_a_per_process_bucket_when_the_counter_store_fails(client, app, rpc, monkeypatch):
    limiter = app.extensions["rate_limiter"]

    def broken():
        raise ServiceUnavailable("disk full")

    monkeypatch.setattr(limiter.store, "transaction", broken)
    rpc.answers[("contacts", "get_contact")] = CONTACT
    response = client.get("/api/v1/contacts/c1")
    assert response.status_code == 200 and int(response.headers["RateLimit-Remaining"]) >= 0


def test_the_same_idempotency_key_replays_the_first_response(client, rpc):
    rpc.answers[("contacts", "create_contact")] = {"id": "c9", "version": 1}
    headers = {"Idempotency-Key": "create-c9"}
    first = client.post("/api/v1/contacts", json={"last_name": "Li"}, headers=headers)
    again = client.post("/api/v1/contacts", json={"last_name": "Li"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(rpc.calls) == 1
    changed = client.post("/api/v1/contacts", json={"last_name": "Wang"}, headers=headers)
    assert changed.status_code == 422 and len(rpc.calls) == 1


def test_a_failed_request_does_not_keep_its_idempotency_key(client, rpc):
    rpc.answers[("contacts", "create_contact")] = ServiceUnavailable("contacts is down")
    headers = {"Idempotency-Key": "retry-me"}
    assert client.post("/api/v1/contacts", json={"last_name": "Li"}, headers=headers).status_code == 503
    rpc.answers[("contacts", "create_contact")] = {"id": "c10", "version": 1}
    assert client.post("/api/v1/contacts", json={"last_name": "Li"}, headers=headers).status_code == 201
    assert len(rpc.calls) == 2


def test_every_write_is_in_the_audit_log_with_who_what_and_the_request_id(client, app, gateway_store):
    user = make_user(client, "audited@test.local", ["viewer"], password="secret-never-logged")
    client.patch(f"/api/v1/users/{user['id']}", json={"name": "Renamed"}, headers={"X-Request-ID": "req-audit-1"})
    entries = client.get(f"/api/v1/audit-log?record_id={user['id']}").get_json()["data"]
    assert [e["method"] for e in entries] == ["PATCH", "POST"]
    patch = entries[0]
    assert patch["request_id"] == "req-audit-1" and patch["changes"] == {"name": "Renamed"} and patch["status"] == 200
    assert patch["actor_id"] == app.extensions["directory"].user_by_email(ADMIN_EMAIL)["id"]
    assert "secret-never-logged" not in json.dumps(list(gateway_store[AUDIT].iterate()))
    by_user = client.get(f"/api/v1/audit-log?user_id={patch['actor_id']}&since=2000-01-01T00:00:00Z").get_json()["data"]
    assert len(by_user) >= 2
    assert client.get("/api/v1/audit-log?since=yesterday").status_code == 400


def test_outside_development_the_gateway_refuses_default_secrets(monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.delenv("GATEWAY_SIGNING_KEY", raising=False)
    with pytest.raises(ConfigError, match="GATEWAY_SIGNING_KEY"):
        load_security_settings()
    monkeypatch.setenv("GATEWAY_SIGNING_KEY", DEVELOPMENT_SIGNING_KEY)
    with pytest.raises(ConfigError, match="development default"):
        load_security_settings()
    monkeypatch.setenv("GATEWAY_SIGNING_KEY", "x" * 40)
    monkeypatch.setenv("CRM_ADMIN_EMAIL", "ops@corp.example")
    monkeypatch.setenv("CRM_ADMIN_PASSWORD", DEVELOPMENT_ADMIN_PASSWORD)
    with pytest.raises(ConfigError, match="development defaults"):
        load_security_settings()
    monkeypatch.setenv("CRM_ADMIN_PASSWORD", "a-real-secret-password")
    assert load_security_settings().development is False
    monkeypatch.setenv("CRM_ENV", "development")
    monkeypatch.delenv("GATEWAY_SIGNING_KEY")
    assert load_security_settings().signing_key == DEVELOPMENT_SIGNING_KEY.encode()


def test_expired_idempotency_keys_are_pruned(client, rpc, app, gateway_store):
    rpc.answers[("contacts", "create_contact")] = {"id": "c11", "version": 1}
    client.post("/api/v1/contacts", json={"last_name": "Old"}, headers={"Idempotency-Key": "old-key"})
    idempotency = app.extensions["idempotency"]
    (record,) = gateway_store[IDEMPOTENCY].iterate()
    gateway_store[IDEMPOTENCY].replace({**record, "created_epoch": time.time() - idempotency.ttl - 1})
    idempotency.prune()
    assert list(gateway_store[IDEMPOTENCY].iterate()) == []


def test_an_api_key_never_outranks_its_user(client, app):
    rep = make_user(client, "keyed.rep@test.local", ["sales_rep"])
    refused = client.post("/api/v1/api-keys", json={"name": "too much", "role": "admin", "user_id": rep["id"]})
    assert refused.status_code == 422
    nobody = client.post("/api/v1/api-keys", json={"name": "ghost", "role": "viewer", "user_id": "no-such-user"})
    assert nobody.status_code == 422
    key = client.post("/api/v1/api-keys", json={"name": "rep key", "role": "sales_rep", "user_id": rep["id"]})
    secret = key.get_json()["key"]
    assert app.test_client().get("/api/v1/me", headers={"X-API-Key": secret}).status_code == 200
    client.patch(f"/api/v1/users/{rep['id']}", json={"roles": ["viewer"]})  # demoted: the key stops working
    assert app.test_client().get("/api/v1/me", headers={"X-API-Key": secret}).status_code == 401


def test_a_password_that_is_not_valid_unicode_is_a_422(client):
    body = {"email": "odd@test.local", "name": "Odd", "password": "long-enough-\ud800-password", "roles": ["viewer"]}
    assert client.post("/api/v1/users", json=body).status_code == 422
