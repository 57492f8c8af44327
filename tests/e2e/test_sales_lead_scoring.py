"""Lead scoring through the gateway: an admin's rule, interactions that raise a lead's score with
its breakdown, the lifecycle stage moved forward on the contact, and the score seen only by who
sees the contact."""

import json
import uuid

from crm_common.testing import eventually


def _contact(api, contact_id: str) -> dict:
    response = api.get(f"/contacts/{contact_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _log(client, contact_id: str, kind: str, direction: str, subject: str) -> None:
    client.create("/interactions", {"kind": kind, "direction": direction, "contact_id": contact_id, "subject": subject})


def test_rules_are_written_by_admins_and_read_by_the_sales_roles(api):
    tag = uuid.uuid4().hex[:8]
    rep = api.new_user(f"rules-rep-{tag}@e2e.test", ["sales_rep"])
    agent = api.new_user(f"rules-agent-{tag}@e2e.test", ["support_agent"])
    body = {
        "name": f"Trade fair badge {tag}",
        "category": "profile",
        "points": 5,
        "condition": {"field": "tags", "op": "eq", "value": f"fair-{tag}"},
    }
    assert rep.post("/lead-scoring-rules", body).status_code == 403
    assert agent.get("/lead-scoring-rules").status_code == 403
    invalid = api.post("/lead-scoring-rules", {**body, "category": "engagement"})
    assert invalid.status_code == 422
    assert {"condition.interaction_kind", "condition.within_days"} <= {e["field"] for e in invalid.json()["errors"]}
    rule = api.create("/lead-scoring-rules", body)
    listed = rep.get("/lead-scoring-rules", params={"category": "profile", "limit": 200}).json()["data"]
    assert rule["id"] in {r["id"] for r in listed} and "default-senior-title" in {r["id"] for r in listed}
    assert rep.patch(f"/lead-scoring-rules/{rule['id']}", {"points": 9}).status_code == 403
    stale = api.patch(f"/lead-scoring-rules/{rule['id']}", {"points": 9}, headers={"If-Match": '"9"'})
    assert stale.status_code == 412
    changed = api.patch(f"/lead-scoring-rules/{rule['id']}", {"points": 9}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"' and changed.json()["points"] == 9
    assert rep.delete(f"/lead-scoring-rules/{rule['id']}").status_code == 403
    assert api.delete(f"/lead-scoring-rules/{rule['id']}", headers={"If-Match": '"2"'}).status_code == 204
    assert rep.get(f"/lead-scoring-rules/{rule['id']}").status_code == 404


def test_a_lead_that_engages_is_scored_with_a_breakdown_and_moves_forward(api):
    tag = uuid.uuid4().hex[:8]
    rep = api.new_user(f"scored-rep-{tag}@e2e.test", ["sales_rep"])
    other = api.new_user(f"other-rep-{tag}@e2e.test", ["sales_rep"])
    # Chats no default rule counts: this test's rule alone decides them.
    rule = api.create(
        "/lead-scoring-rules",
        {
            "name": f"Chatted with us {tag}",
            "category": "engagement",
            "points": 25,
            "max_points": 50,
            "condition": {"interaction_kind": "chat", "direction": "inbound", "within_days": 30},
        },
    )
    try:
        lead = rep.create("/contacts", {"first_name": "Lan", "last_name": f"Chen{tag}", "email": f"lan.{tag}@e2e.cn"})
        assert lead["lifecycle_stage"] == "lead" and lead["lead_score"] is None
        for n in range(3):  # the third is over the rule's cap
            _log(rep, lead["id"], "chat", "inbound", f"question {n}")

        def qualified(stage: str, score: int):
            contact = _contact(rep, lead["id"])
            return contact["lifecycle_stage"] == stage and contact["lead_score"] == score and contact

        eventually(lambda: qualified("marketing_qualified", 50), timeout=30)

        def explained() -> dict:
            response = rep.get(f"/contacts/{lead['id']}/lead-score")
            assert response.status_code == 200, response.text
            return response.json()["breakdown"][0]["detail"].startswith("3 ") and response.json()

        score = eventually(explained, timeout=30)
        assert score["score"] == 50 and score["qualification"] == "marketing_qualified"
        (part,) = score["breakdown"]
        assert part["rule_id"] == rule["id"] and part["points"] == 50 and part["category"] == "engagement"
        assert part["detail"] == "3 chat inbound interactions in the last 30 days (capped)"

        for n in range(2):  # the default "Met us" rule: 15 each
            _log(rep, lead["id"], "meeting", "outbound", f"meeting {n}")
        contact = eventually(lambda: qualified("sales_qualified", 80), timeout=30)
        assert [s["stage"] for s in contact["lifecycle_history"]][-2:] == ["marketing_qualified", "sales_qualified"]
        assert contact["lifecycle_history"][-1]["by"] == "system"
        timeline = rep.get(f"/contacts/{lead['id']}/timeline", params={"limit": 200}).json()["data"]
        assert "Lead score 80: stage sales_qualified" in [e["summary"] for e in timeline]
        score = rep.get(f"/contacts/{lead['id']}/lead-score").json()
        assert score["score"] == sum(p["points"] for p in score["breakdown"]) == 80
        assert score["qualification"] == "sales_qualified"
        assert {p["rule_id"] for p in score["breakdown"]} == {rule["id"], "default-meetings"}
        found = rep.get("/contacts", params={"filter": json.dumps({"lead_score": {"gte": 80}})}).json()["data"]
        assert lead["id"] in [c["id"] for c in found]

        # another rep does not see the contact, so neither its score; an admin does
        assert other.get(f"/contacts/{lead['id']}/lead-score").status_code == 404
        assert other.get(f"/contacts/{uuid.uuid4().hex}/lead-score").status_code == 404
        assert api.get(f"/contacts/{lead['id']}/lead-score").json()["score"] == 80
    finally:
        assert api.delete(f"/lead-scoring-rules/{rule['id']}").status_code == 204
