"""The service-desk routes at the edge: the RPC calls they make, their statuses and headers, and the
checks the gateway makes itself against its identity directory before a roster reaches the service."""

import pytest

from crm_common.errors import Conflict, NotFound

from .conftest import sign_in

PASSWORD = "a-long-enough-password"
TEAM = {"id": "t1", "assignment": "least_loaded", "agents": [], "manager_ids": [], "version": 3}


def _user(client, email: str, roles: list[str], active: bool = True) -> str:
    response = client.post("/api/v1/users", json={"email": email, "name": email, "password": PASSWORD, "roles": roles})
    assert response.status_code == 201, response.get_data(as_text=True)
    user_id = response.get_json()["id"]
    if not active:
        assert client.patch(f"/api/v1/users/{user_id}", json={"active": False}).status_code == 200
    return user_id


@pytest.fixture
def care(client):
    """Team Care: agents A (active) and C (inactive), a sales rep, all members; manager M."""
    ids = {
        "agent": _user(client, "agent@care.test", ["support_agent"]),
        "idle": _user(client, "idle@care.test", ["support_agent"], active=False),
        "rep": _user(client, "rep@care.test", ["sales_rep"]),
        "outsider": _user(client, "outsider@care.test", ["support_agent"]),
        "manager": _user(client, "manager@care.test", ["manager"]),
        "other_manager": _user(client, "other@care.test", ["manager"]),
    }
    team = client.post(
        "/api/v1/teams",
        json={
            "name": "Care",
            "member_ids": [ids["agent"], ids["idle"], ids["rep"]],
            "manager_ids": [ids["manager"]],
        },
    ).get_json()
    client.post("/api/v1/teams", json={"name": "Elsewhere", "member_ids": [], "manager_ids": [ids["other_manager"]]})
    return {**ids, "team": team["id"]}


def _as(app, email: str):
    tokens = sign_in(app.test_client(), email, PASSWORD)
    other = app.test_client()
    other.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {tokens['access_token']}"
    return other


def test_comments_are_listed_and_added_on_the_ticket(client, rpc):
    rpc.answers[("service_desk", "list_ticket_comments")] = {"data": [], "next_cursor": None}
    rpc.answers[("service_desk", "add_ticket_comment")] = {"id": "m1", "ticket_id": "k1", "version": 1}
    listed = client.get("/api/v1/tickets/k1/comments?limit=5&public=true")
    assert listed.status_code == 200
    added = client.post("/api/v1/tickets/k1/comments", json={"body": "Hello", "public": True})
    assert added.status_code == 201 and added.headers["Location"].endswith("/api/v1/tickets/k1/comments")
    assert added.get_json()["id"] == "m1" and added.headers["ETag"] == '"1"'
    assert [(c[1], c[3]) for c in rpc.calls] == [
        ("list_ticket_comments", {"ticket_id": "k1", "query": {"limit": "5", "where": {"public": "true"}}}),
        ("add_ticket_comment", {"ticket_id": "k1", "data": {"body": "Hello", "public": True}}),
    ]


def test_satisfaction_is_read_and_recorded(client, rpc):
    view = {"ticket_id": "k1", "status": "answered", "score": 2}
    rpc.answers[("service_desk", "get_satisfaction")] = view
    rpc.answers[("service_desk", "record_satisfaction")] = view
    assert client.get("/api/v1/tickets/k1/satisfaction").get_json() == view
    recorded = client.post("/api/v1/tickets/k1/satisfaction", json={"score": 2})
    assert recorded.status_code == 201 and recorded.headers["Location"].endswith("/tickets/k1/satisfaction")
    assert "ETag" not in recorded.headers
    assert rpc.calls[1][3] == {"ticket_id": "k1", "data": {"score": 2}}
    rpc.answers[("service_desk", "record_satisfaction")] = Conflict("rated already")
    assert client.post("/api/v1/tickets/k1/satisfaction", json={"score": 5}).status_code == 409


def test_a_merge_takes_only_duplicate_ids_and_answers_the_survivor(client, rpc):
    rpc.answers[("service_desk", "merge_tickets")] = {"id": "k1", "version": 7}
    for body in ({}, {"duplicate_ids": ["k2"], "force": True}, ["k2"]):
        response = client.post("/api/v1/tickets/k1/merge", json=body)
        assert response.status_code == 422, body
        assert response.headers["Content-Type"] == "application/problem+json"
    merged = client.post("/api/v1/tickets/k1/merge", json={"duplicate_ids": ["k2", "k3"]})
    assert merged.status_code == 200 and merged.headers["ETag"] == '"7"'
    assert [c[3] for c in rpc.calls] == [{"ticket_id": "k1", "duplicate_ids": ["k2", "k3"]}]


def test_a_roster_for_an_unknown_team_is_404_without_asking_the_service(client, rpc):
    assert client.get("/api/v1/service-teams/nope").status_code == 404
    assert client.put("/api/v1/service-teams/nope", json={"assignment": "manual"}).status_code == 404
    put = client.put("/api/v1/service-teams/nope/agents/u1/availability", json={"available": True})
    assert put.status_code == 404
    assert rpc.calls == []


def test_roster_agents_and_managers_are_checked_against_the_directory(client, rpc, care):
    rpc.answers[("service_desk", "put_service_team")] = TEAM
    path = f"/api/v1/service-teams/{care['team']}"
    for agent in ("idle", "rep", "outsider", "manager"):
        body = {"assignment": "least_loaded", "agents": [{"user_id": care["agent"]}, {"user_id": care[agent]}]}
        refused = client.put(path, json=body)
        assert refused.status_code == 422, agent
        assert refused.get_json()["errors"] == [
            {"field": "agents", "message": f"item 2: user_id {care[agent]} is not an active support agent of the team"}
        ]
    refused = client.put(path, json={"assignment": "manual", "manager_ids": [care["manager"], care["other_manager"]]})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "manager_ids"
    assert rpc.calls == []
    body = {"assignment": "least_loaded", "agents": [{"user_id": care["agent"]}], "manager_ids": [care["manager"]]}
    accepted = client.put(path, json=body, headers={"If-Match": '"2"'})
    assert accepted.status_code == 200 and accepted.headers["ETag"] == '"3"'
    assert rpc.calls[0][1:2] == ("put_service_team",)
    assert rpc.calls[0][3] == {"team_id": care["team"], "data": body, "expected_version": 2}


def test_malformed_rosters_are_left_to_the_service(client, rpc, care):
    rpc.answers[("service_desk", "put_service_team")] = TEAM
    path = f"/api/v1/service-teams/{care['team']}"
    assert client.put(path, json=["not", "an", "object"]).status_code == 422
    for body in ({"agents": "all"}, {"agents": [{"user_id": 7}, "x"]}, {"manager_ids": [None]}):
        assert client.put(path, json=body).status_code == 200, body  # the scripted service accepts anything
    assert len(rpc.calls) == 3


def test_only_admins_and_the_teams_managers_set_its_roster(app, rpc, care):
    rpc.answers[("service_desk", "put_service_team")] = TEAM
    path = f"/api/v1/service-teams/{care['team']}"
    body = {"assignment": "round_robin", "agents": [{"user_id": care["agent"]}]}
    assert _as(app, "manager@care.test").put(path, json=body).status_code == 200
    for email in ("other@care.test", "agent@care.test", "rep@care.test"):
        assert _as(app, email).put(path, json=body).status_code == 403, email
    assert len(rpc.calls) == 1


def test_availability_takes_one_boolean(client, rpc, care):
    rpc.answers[("service_desk", "set_agent_availability")] = TEAM
    path = f"/api/v1/service-teams/{care['team']}/agents/{care['agent']}/availability"
    for body in ({}, {"available": "yes"}, {"available": True, "extra": 1}):
        assert client.put(path, json=body).status_code == 422, body
    assert client.put(path, json={"available": False}).status_code == 200
    assert rpc.calls[0][3] == {"team_id": care["team"], "user_id": care["agent"], "available": False}


def test_rosters_are_read_through_the_service(client, rpc, care):
    rpc.answers[("service_desk", "list_service_teams")] = {"data": [TEAM], "next_cursor": None}
    rpc.answers[("service_desk", "get_service_team")] = NotFound("no roster")
    assert client.get("/api/v1/service-teams?assignment=manual").get_json()["data"] == [TEAM]
    assert client.get(f"/api/v1/service-teams/{care['team']}").status_code == 404
    assert rpc.calls[0][3] == {"query": {"where": {"assignment": "manual"}}}
    assert rpc.calls[1][3] == {"team_id": care["team"]}


def test_the_service_report_passes_its_parameters_once_each(client, rpc):
    rpc.answers[("service_desk", "service_report")] = {"rows": []}
    assert client.get("/api/v1/reports/service?group_by=agent&from=2026-01-01").status_code == 200
    assert rpc.calls[0][3] == {"query": {"group_by": "agent", "from": "2026-01-01"}}
    assert client.get("/api/v1/reports/service?group_by=agent&group_by=team").status_code == 400


@pytest.mark.parametrize(
    "path,noun,key",
    [
        ("sla-policies", "sla_policy", "sla_policy_id"),
        ("business-calendars", "business_calendar", "business_calendar_id"),
    ],
)
def test_policies_and_calendars_are_generic_resources(client, rpc, path, noun, key):
    rpc.answers[("service_desk", f"create_{noun}")] = {"id": "x1", "version": 1}
    rpc.answers[("service_desk", f"get_{noun}")] = {"id": "x1", "version": 1}
    rpc.answers[("service_desk", f"update_{noun}")] = {"id": "x1", "version": 2}
    created = client.post(f"/api/v1/{path}", json={"name": "n"})
    assert created.status_code == 201 and created.headers["Location"].endswith(f"/api/v1/{path}/x1")
    assert client.get(f"/api/v1/{path}/x1").headers["ETag"] == '"1"'
    assert client.patch(f"/api/v1/{path}/x1", json={"name": "m"}, headers={"If-Match": '"1"'}).status_code == 200
    assert client.delete(f"/api/v1/{path}/x1", headers={"If-Match": '"2"'}).status_code == 204
    assert [c[3] for c in rpc.calls[1:]] == [
        {key: "x1"},
        {key: "x1", "data": {"name": "m"}, "expected_version": 1},
        {key: "x1", "expected_version": 2},
    ]
