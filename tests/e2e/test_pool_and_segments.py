"""The customer pool and segments through the gateway, with a user of every role: claims within
their limits, release and assignment, the bulk hand-over, a reclaim run with its advance notice,
and segments over custom fields cut down to each caller's reach."""

import json
import uuid

import pytest

from crm_common.testing import eventually

PASSWORD = "pool-segments-password-1"
TAG = "poolseg"
DEFAULT_SETTINGS = {"max_owned_per_rep": None, "max_claims_per_day": 20, "reclaim_cooldown_days": 0}


@pytest.fixture(scope="module")
def org(api):
    """Pool East: manager, reps A and B, a viewer. Pool West: rep C. A support agent."""
    users = {}
    for name, roles in [
        ("manager", ["manager"]),
        ("rep_a", ["sales_rep"]),
        ("rep_b", ["sales_rep"]),
        ("rep_c", ["sales_rep"]),
        ("viewer", ["viewer"]),
        ("support", ["support_agent"]),
    ]:
        users[name] = api.new_user(f"{name}@{TAG}.test", roles, PASSWORD)
    uid = {name: client.user["id"] for name, client in users.items()}
    api.create(
        "/teams",
        {
            "name": "Pool East",
            "member_ids": [uid["rep_a"], uid["rep_b"], uid["viewer"]],
            "manager_ids": [uid["manager"]],
        },
    )
    api.create("/teams", {"name": "Pool West", "member_ids": [uid["rep_c"]]})
    # Sign in again: team facts are read when the caller context is built.
    users = {name: client.sign_in_as(f"{name}@{TAG}.test", PASSWORD) for name, client in users.items()}
    return {"users": users, "uid": uid, "admin": api}


def contact(api, label: str, owner: str | None, **fields) -> dict:
    unique = uuid.uuid4().hex[:6]
    return api.create("/contacts", {"first_name": f"{label}{unique}", "last_name": TAG, "owner_id": owner, **fields})


def in_pool(client, marker: str) -> set[str]:
    response = client.get("/pool", params={"filter": json.dumps({"tags": {"contains": marker}}), "limit": 200})
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["data"]}


def timeline(client, contact_id: str) -> list[str]:
    response = client.get(f"/contacts/{contact_id}/timeline", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [entry["summary"] for entry in response.json()["data"]]


def inbox_titles(client) -> list[str]:
    return [n["title"] for n in client.get("/notifications", params={"limit": 200}).json()["data"]]


@pytest.fixture
def settings(api):
    """The claim limits, from their defaults (an earlier test, the API fuzz, may have changed them) and back."""
    assert api.patch("/pool/settings", DEFAULT_SETTINGS).status_code == 200
    yield lambda **changes: api.patch("/pool/settings", changes)
    api.patch("/pool/settings", DEFAULT_SETTINGS)


@pytest.fixture
def only_our_rules(api):
    """Reclaim rules left by earlier tests (the API fuzz creates some) would act on this test's
    customers too: this test runs with its own rules only."""
    for rule in api.get("/pool/rules", params={"limit": 200}).json()["data"]:
        assert api.delete(f"/pool/rules/{rule['id']}").status_code == 204


def test_each_role_sees_the_pool_and_reps_claim_within_their_limits(org, settings):
    api, users = org["admin"], org["users"]
    marker = f"{TAG}-claims"
    pooled = [contact(api, f"Pooled{i}", None, tags=[marker]) for i in range(4)]
    ids = {c["id"] for c in pooled}
    for role in ("rep_a", "rep_c", "manager", "viewer"):
        assert in_pool(users[role], marker) == ids, role
    assert in_pool(users["support"], marker) == set()

    response = users["rep_a"].post(f"/contacts/{pooled[0]['id']}/claim")
    assert response.status_code == 200, response.text
    claimed = response.json()
    assert claimed["owner_id"] == org["uid"]["rep_a"] and claimed["pool"] is None
    assert response.headers["ETag"] == f'"{claimed["version"]}"'
    assert claimed["owner_history"][-1]["reason"] == "claimed from the pool"
    assert any(s.startswith("Claimed from the pool") for s in timeline(users["rep_a"], claimed["id"]))
    assert in_pool(users["rep_b"], marker) == ids - {claimed["id"]}

    assert users["viewer"].post(f"/contacts/{pooled[1]['id']}/claim").status_code == 403
    assert users["support"].post(f"/contacts/{pooled[1]['id']}/claim").status_code == 403
    assert users["rep_b"].post(f"/contacts/{claimed['id']}/claim").status_code == 404  # gone, and not theirs
    again = users["manager"].post(f"/contacts/{claimed['id']}/claim")
    assert again.status_code == 409 and "not in the pool" in again.json()["detail"]
    assert users["rep_a"].post(f"/contacts/{pooled[1]['id']}/claim", {"extra": 1}).status_code == 422

    assert users["rep_a"].get("/pool/settings").status_code == 200
    assert users["support"].get("/pool/settings").status_code == 403
    assert users["manager"].patch("/pool/settings", {"max_claims_per_day": 2}).status_code == 403
    assert settings(max_claims_per_day=-1).status_code == 422
    changed = settings(max_claims_per_day=2)
    assert changed.status_code == 200 and changed.json()["max_claims_per_day"] == 2
    stale = api.patch("/pool/settings", {"max_claims_per_day": 3}, headers={"If-Match": '"0"'})
    assert stale.status_code == 412
    assert users["rep_a"].post(f"/contacts/{pooled[1]['id']}/claim").status_code == 200
    capped = users["rep_a"].post(f"/contacts/{pooled[2]['id']}/claim")
    assert capped.status_code == 409 and "max_claims_per_day is 2" in capped.json()["detail"]
    assert capped.headers["Content-Type"].startswith("application/problem+json")
    assert users["rep_b"].post(f"/contacts/{pooled[2]['id']}/claim").status_code == 200  # per person


def test_owners_release_and_managers_assign_within_their_teams(org):
    api, users, uid = org["admin"], org["users"], org["uid"]
    own = contact(api, "Own", uid["rep_a"])
    response = users["rep_a"].post(f"/contacts/{own['id']}/release", {"reason": "moved abroad"})
    assert response.status_code == 200, response.text
    released = response.json()
    assert released["owner_id"] is None and released["pool"]["reason"] == "moved abroad"
    assert any("moved abroad" in s for s in timeline(api, own["id"]))
    assert users["rep_a"].post(f"/contacts/{own['id']}/release").status_code == 409

    other = contact(api, "Other", uid["rep_a"])
    assert users["rep_b"].post(f"/contacts/{other['id']}/release").status_code == 404
    assert users["viewer"].post(f"/contacts/{other['id']}/release").status_code == 403
    assert users["manager"].post(f"/contacts/{other['id']}/release", {"reason": 5}).status_code == 422
    assert users["manager"].post(f"/contacts/{other['id']}/release").status_code == 200  # no body needed

    manager = users["manager"]
    assigned = manager.post(f"/contacts/{own['id']}/assign", {"owner_id": uid["rep_b"], "reason": "speaks German"})
    assert assigned.status_code == 200, assigned.text
    step = assigned.json()["owner_history"][-1]
    assert step["owner_id"] == uid["rep_b"] and step["by"] == uid["manager"] and step["reason"] == "speaks German"
    assert manager.post(f"/contacts/{own['id']}/assign", {"owner_id": uid["rep_c"]}).status_code == 403
    assert manager.post(f"/contacts/{own['id']}/assign", {"owner_id": "no-such-user"}).status_code == 422
    assert manager.post(f"/contacts/{own['id']}/assign", {"owner_id": uid["viewer"]}).status_code == 422
    assert manager.post(f"/contacts/{own['id']}/assign", {}).status_code == 422
    assert users["rep_a"].post(f"/contacts/{other['id']}/assign", {"owner_id": uid["rep_a"]}).status_code == 403
    west = contact(api, "West", uid["rep_c"])
    assert manager.post(f"/contacts/{west['id']}/assign", {"owner_id": uid["rep_a"]}).status_code == 404
    assert api.post(f"/contacts/{west['id']}/assign", {"owner_id": uid["rep_a"]}).json()["owner_id"] == uid["rep_a"]
    eventually(lambda: "New customer assigned to you" in inbox_titles(users["rep_b"]))


def test_a_leaving_reps_customers_are_handed_over_with_their_history(org):
    api, users, uid = org["admin"], org["users"], org["uid"]
    leaver = api.new_user(f"leaver@{TAG}.test", ["sales_rep"], PASSWORD)
    leaver_id = leaver.user["id"]
    team = api.get("/teams", params={"name": "Pool East"}).json()["data"][0]
    api.patch(f"/teams/{team['id']}", {"member_ids": [*team["member_ids"], leaver_id]})
    manager = users["manager"].sign_in_as(f"manager@{TAG}.test", PASSWORD)  # now also managing the leaver
    customers = [contact(api, f"Leaver{i}", leaver_id) for i in range(3)]
    company = api.create("/companies", {"name": f"Leaver Co {uuid.uuid4().hex[:6]}", "owner_id": leaver_id})
    api.create("/interactions", {"kind": "call", "contact_id": customers[0]["id"], "summary": "first call"})
    api.patch(f"/users/{leaver_id}", {"active": False})

    body = {"from_owner_id": leaver_id, "to_owner_ids": [uid["rep_c"]]}
    assert manager.post("/contacts/assign", body).status_code == 403  # rep C is not in their teams
    assert users["rep_a"].post("/contacts/assign", {**body, "to_owner_ids": [uid["rep_a"]]}).status_code == 403
    assert manager.post("/contacts/assign", {**body, "to_owner_ids": [leaver_id]}).status_code == 422  # inactive
    assert manager.post("/contacts/assign", {**body, "to_owner_ids": []}).status_code == 422
    response = manager.post(
        "/contacts/assign", {**body, "to_owner_ids": [uid["rep_a"], uid["rep_b"]], "reason": "left the company"}
    )
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    assert location.endswith(f"/hand-overs/{response.json()['id']}")

    def finished():
        job = manager.get(location.split("/api/v1", 1)[1]).json()
        return job if job["status"] == "done" else None

    job = eventually(finished)
    assert job["moved_contacts"] == 3 and job["moved_companies"] == 1
    assert job["moved_by_owner"] == {uid["rep_a"]: 2, uid["rep_b"]: 2}
    owners = [api.get(f"/contacts/{c['id']}").json()["owner_id"] for c in customers]
    assert owners == [uid["rep_a"], uid["rep_b"], uid["rep_a"]]
    assert api.get(f"/companies/{company['id']}").json()["owner_id"] == uid["rep_b"]
    first = api.get(f"/contacts/{customers[0]['id']}").json()
    assert first["owner_history"][-1]["from_owner_id"] == leaver_id
    assert first["owner_history"][-1]["reason"] == "left the company"
    summaries = timeline(users["rep_a"], customers[0]["id"])
    assert any(s.startswith("Handed over from") for s in summaries) and any(s.startswith("Call") for s in summaries)
    assert any(s.startswith("Contact Leaver0") for s in summaries)
    assert users["rep_c"].get(location.split("/api/v1", 1)[1]).status_code == 403
    eventually(lambda: "Customers handed over to you" in inbox_titles(users["rep_b"]))


def test_a_reclaim_run_warns_in_advance_then_returns_the_customer_to_the_pool(org, only_our_rules):
    api, users, uid = org["admin"], org["users"], org["uid"]
    # Churned customers of this test only: the rule is deleted at the end.
    idle = contact(api, "Idle", uid["rep_a"], lifecycle_stage="churned")
    revived = contact(api, "Revived", uid["rep_a"], lifecycle_stage="churned")
    rule_body = {
        "name": f"{TAG} churned",
        "conditions": {"no_activity_days": 0, "lifecycle_stages": ["churned"]},
        "notice_days": 0,
    }
    assert users["manager"].post("/pool/rules", rule_body).status_code == 403
    assert api.post("/pool/rules", {**rule_body, "conditions": {}}).status_code == 422
    rule = api.create("/pool/rules", rule_body)
    try:
        assert users["rep_a"].get(f"/pool/rules/{rule['id']}").status_code == 200
        assert users["support"].get("/pool/rules").status_code == 403
        assert users["manager"].post("/pool/reclaim-runs").status_code == 403

        first = api.post("/pool/reclaim-runs")
        assert first.status_code == 200, first.text
        assert first.json()["warned"] >= 2
        assert any(s.startswith("Reclaim notice to") for s in timeline(users["rep_a"], idle["id"]))
        assert api.get(f"/contacts/{idle['id']}").json()["owner_id"] == uid["rep_a"]  # warned, not yet taken
        eventually(lambda: "Customer returns to the pool soon" in inbox_titles(users["rep_a"]))

        api.patch(f"/contacts/{revived['id']}", {"lifecycle_stage": "customer"})
        second = api.post("/pool/reclaim-runs").json()
        assert second["reclaimed"] >= 1 and second["cleared"] >= 1
        reclaimed = api.get(f"/contacts/{idle['id']}").json()
        assert reclaimed["owner_id"] is None and reclaimed["pool"]["previous_owner_id"] == uid["rep_a"]
        assert f"{TAG} churned" in reclaimed["owner_history"][-1]["reason"]
        assert any(s.startswith("Returned to the pool") for s in timeline(api, idle["id"]))
        assert api.get(f"/contacts/{revived['id']}").json()["owner_id"] == uid["rep_a"]
        assert "Reclaim notice withdrawn: it no longer matches" in timeline(api, revived["id"])
        eventually(lambda: "Customer returned to the pool" in inbox_titles(users["rep_a"]))
        churned = json.dumps({"last_name": TAG, "lifecycle_stage": "churned"})
        pool = users["rep_b"].get("/pool", params={"filter": churned, "limit": 200}).json()["data"]
        assert idle["id"] in {c["id"] for c in pool}  # now anyone's to claim
    finally:
        current = api.get(f"/pool/rules/{rule['id']}")
        deleted = api.delete(f"/pool/rules/{rule['id']}", headers={"If-Match": current.headers["ETag"]})
        assert deleted.status_code == 204


def test_segments_filter_on_custom_fields_and_show_each_caller_only_their_reach(org):
    api, users, uid = org["admin"], org["users"], org["uid"]
    key = f"{TAG}_region"
    api.create("/custom-fields", {"entity": "contact", "key": key, "label": "Region", "type": "text"})
    east_a = contact(api, "EastA", uid["rep_a"], custom_fields={key: "east"})
    east_c = contact(api, "EastC", uid["rep_c"], custom_fields={key: "east"})
    contact(api, "WestA", uid["rep_a"], custom_fields={key: "west"})

    segment_body = {"name": "East region", "entity": "contact", "filter": {f"custom_fields.{key}": "east"}}
    assert users["viewer"].post("/segments", segment_body).status_code == 403
    bad = users["rep_a"].post("/segments", {**segment_body, "filter": {"password": "x"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "filter"
    shared = users["rep_a"].create("/segments", {**segment_body, "shared": True})
    private = users["rep_a"].create("/segments", {**segment_body, "name": "Mine only"})
    assert shared["member_count"] == 1

    def members(client, segment_id: str) -> set[str]:
        response = client.get(f"/segments/{segment_id}/members", params={"limit": 200})
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["data"]}

    assert members(users["rep_a"], shared["id"]) == {east_a["id"]}
    assert members(users["rep_c"], shared["id"]) == {east_c["id"]}
    assert members(api, shared["id"]) == {east_a["id"], east_c["id"]}
    assert members(users["manager"], shared["id"]) == {east_a["id"]}
    assert users["support"].get(f"/segments/{shared['id']}/members").json()["data"] == []
    assert api.get(f"/segments/{shared['id']}").json()["member_count"] == 2
    assert users["rep_c"].get(f"/segments/{private['id']}").status_code == 404
    listed = {s["id"] for s in users["rep_c"].get("/segments").json()["data"]}
    assert shared["id"] in listed and private["id"] not in listed

    assert users["rep_c"].patch(f"/segments/{shared['id']}", {"name": "Mine now"}).status_code == 403
    assert (
        users["rep_a"].patch(f"/segments/{shared['id']}", {"name": "X"}, headers={"If-Match": '"9"'}).status_code == 412
    )
    renamed = users["rep_a"].patch(f"/segments/{shared['id']}", {"name": "East"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200 and renamed.headers["ETag"] == '"2"'
    assert users["rep_a"].delete(f"/segments/{private['id']}").status_code == 204
    assert users["rep_a"].get(f"/segments/{private['id']}").status_code == 404
