"""Quotas and the forecast, funnel and leaderboard reports through the gateway: deals made through the
API, then the figures read as an admin, a manager, a rep and a support agent."""

import uuid
from datetime import UTC, datetime

import pytest

PASSWORD = "reports-password-123"


def _this_quarter() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return today.strftime("%Y-%m"), f"{today.year}-Q{(today.month - 1) // 3 + 1}"


@pytest.fixture(scope="module")
def sales_org(api):
    """A manager over two reps, a third rep elsewhere, a support agent; deals and quotas for the reps."""
    tag = uuid.uuid4().hex[:6]
    users = {
        name: api.new_user(f"{name}.{tag}@reports.test", roles, PASSWORD)
        for name, roles in [
            ("manager", ["manager"]),
            ("rep_a", ["sales_rep"]),
            ("rep_b", ["sales_rep"]),
            ("rep_c", ["sales_rep"]),
            ("agent", ["support_agent"]),
        ]
    }
    uid = {name: client.user["id"] for name, client in users.items()}
    team = api.create(
        "/teams",
        {"name": f"Reports {tag}", "member_ids": [uid["rep_a"], uid["rep_b"]], "manager_ids": [uid["manager"]]},
    )
    contact = api.create("/contacts", {"first_name": "Report", "last_name": f"Buyer {tag}"})
    month, quarter = _this_quarter()
    close = datetime.now(UTC).date().isoformat()

    def deal(owner: str, amount: str, **extra) -> dict:
        body = {"title": f"{tag} {owner} {amount}", "amount": amount, "currency": "CNY", "contact_id": contact["id"]}
        return api.create("/deals", {**body, "owner_id": uid[owner], "expected_close_date": close, **extra})

    def close_deal(created: dict, change: dict) -> None:
        response = api.patch(f"/deals/{created['id']}", change)
        assert response.status_code == 200, response.text

    deal("rep_a", "1000.00", stage_id="proposal")  # open at 50%
    close_deal(deal("rep_a", "2000.00"), {"status": "won"})
    deal("rep_b", "300.00", stage_id="negotiation")  # open at 75%
    close_deal(deal("rep_b", "500.00", stage_id="proposal"), {"status": "lost", "lost_reason": "price"})
    close_deal(deal("rep_c", "4000.00"), {"status": "won"})
    api.create("/quotas", {"owner_id": uid["rep_a"], "period": quarter, "amount": "10000.00", "currency": "CNY"})
    users["manager"].create(
        "/quotas", {"owner_id": uid["rep_b"], "period": quarter, "amount": "1000.00", "currency": "CNY"}
    )
    return {"users": users, "uid": uid, "team": team, "month": month, "quarter": quarter}


def _forecast(client, **query) -> dict:
    response = client.get("/reports/forecast", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def _rows_by_owner(report: dict, uid: dict) -> dict:
    names = {user_id: name for name, user_id in uid.items()}
    return {names[row["owner_id"]]: row for row in report["rows"] if row["owner_id"] in names}


def _money(row: dict) -> tuple:
    return tuple(row[k] for k in ("pipeline", "weighted", "commit", "best_case", "closed_won", "quota", "attainment"))


def test_quotas_are_set_by_admins_and_managers_for_their_members(api, sales_org):
    users, uid, quarter = sales_org["users"], sales_org["uid"], sales_org["quarter"]
    new = {"owner_id": uid["rep_c"], "period": quarter, "amount": "1.00", "currency": "CNY"}
    assert users["manager"].post("/quotas", new).status_code == 403  # not their member
    assert users["rep_a"].post("/quotas", {**new, "owner_id": uid["rep_a"]}).status_code == 403
    duplicate = api.post("/quotas", {**new, "owner_id": uid["rep_a"]})
    assert duplicate.status_code == 409, duplicate.text
    assert api.post("/quotas", {**new, "period": "2024-Q5"}).status_code == 422
    mine = users["rep_a"].get("/quotas").json()["data"]
    assert [(q["owner_id"], q["amount"]) for q in mine] == [(uid["rep_a"], "10000.00")]
    quota = users["manager"].get("/quotas", params={"owner_id": uid["rep_b"]}).json()["data"][0]
    changed = users["manager"].patch(
        f"/quotas/{quota['id']}", {"amount": "1500.00"}, headers={"If-Match": str(quota["version"])}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"', changed.text
    assert users["rep_a"].get(f"/quotas/{quota['id']}").status_code == 404
    assert users["agent"].get("/quotas").status_code == 403


def test_the_forecast_shows_each_role_the_owners_in_its_reach(api, sales_org):
    users, uid, month = sales_org["users"], sales_org["uid"], sales_org["month"]
    admin = _rows_by_owner(_forecast(api, group_by="owner", **{"from": month}), uid)
    # (pipeline, weighted, commit, best case, closed won, quota, attainment)
    rep_a = ("1000.00", "500.00", "2000.00", "3000.00", "2000.00", "10000.00", "0.2000")
    assert _money(admin["rep_a"]) == rep_a
    assert _money(admin["rep_b"])[:5] == ("300.00", "225.00", "300.00", "300.00", "0.00")
    assert admin["rep_c"]["closed_won"] == "4000.00"
    manager = _forecast(users["manager"], group_by="owner", **{"from": month})
    assert set(_rows_by_owner(manager, uid)) == {"rep_a", "rep_b"}
    assert {row["owner_id"] for row in manager["rows"]} == {uid["rep_a"], uid["rep_b"]}
    rep = _forecast(users["rep_a"], group_by="owner", **{"from": month})
    assert [row["owner_id"] for row in rep["rows"]] == [uid["rep_a"]]
    assert _money(rep["totals"][0]) == rep_a
    assert users["agent"].get("/reports/forecast").status_code == 403


def test_a_managers_team_forecast_adds_up_its_members(sales_org):
    users, team, month = sales_org["users"], sales_org["team"], sales_org["month"]
    report = _forecast(users["manager"], group_by="team", team_id=team["id"], **{"from": month})
    [row] = [row for row in report["rows"] if row["team_id"] == team["id"]]
    assert row["name"] == team["name"]
    assert (row["pipeline"], row["weighted"], row["closed_won"], row["open_count"], row["won_count"]) == (
        "1300.00",
        "725.00",
        "2000.00",
        2,
        1,
    )
    assert row["quota"] is not None


def test_the_funnel_and_leaderboard_follow_the_deals(api, sales_org):
    users, uid, month = sales_org["users"], sales_org["uid"], sales_org["month"]
    funnel = users["rep_a"].get("/reports/funnel", params={"from": month, "pipeline_id": "default"})
    assert funnel.status_code == 200, funnel.text
    [default] = funnel.json()["pipelines"]
    assert (default["deals"], default["open"], default["won"], default["lost"]) == (2, 1, 1, 0)
    assert [(s["stage_id"], s["reached"]) for s in default["stages"]] == [
        ("qualification", 2),
        ("needs_analysis", 2),
        ("proposal", 2),
        ("negotiation", 1),
        ("closed_won", 1),
    ]
    assert (default["win_rate"], default["average_deal_size"]) == ("1.0000", "2000.00")
    board = users["manager"].get("/reports/leaderboard", params={"from": month})
    assert board.status_code == 200, board.text
    rows = [(r["rank"], r["owner_id"], r["won_amount"], r["win_rate"]) for r in board.json()["data"]]
    assert rows == [(1, uid["rep_a"], "2000.00", "1.0000"), (2, uid["rep_b"], "0.00", "0.0000")]
    everyone = [r["owner_id"] for r in api.get("/reports/leaderboard", params={"from": month}).json()["data"]]
    assert everyone.index(uid["rep_c"]) < everyone.index(uid["rep_a"]) < everyone.index(uid["rep_b"])


def test_a_malformed_report_query_is_a_400(api):
    for query in ({"period": "week"}, {"from": "2024-13"}, {"group_by": "colour"}, {"colour": "red"}):
        assert api.get("/reports/forecast", params=query).status_code == 400, query
    assert api.get("/reports/funnel?period=month&period=quarter").status_code == 400
