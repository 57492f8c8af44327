"""Pipelines and deals through the gateway on RabbitMQ: a deal moved through its stages to won with
line items, a deal lost with a reason, a custom pipeline that only admins write, a stage in use that
stays, and a deal flagged rotting by the timer."""

import uuid

import pytest

from crm_common.testing import eventually

STAGES = [
    {"name": "Discovery", "probability": 20},
    {"id": "stale", "name": "Waiting", "probability": 40, "rotting_days": 0},
    {"name": "Signed", "probability": 100},
    {"name": "Dropped", "probability": 0},
]


@pytest.fixture(scope="module")
def rep(api):
    return api.new_user(f"deals-rep-{uuid.uuid4().hex[:8]}@e2e.test", ["sales_rep"])


@pytest.fixture(scope="module")
def contact(rep):
    return rep.create("/contacts", {"first_name": "Mei", "last_name": f"Lin {uuid.uuid4().hex[:6]}"})


def _patch(client, path: str, body: dict, version: int | None = None):
    headers = {"If-Match": f'"{version}"'} if version is not None else {}
    return client.patch(path, body, headers=headers)


def test_a_deal_moves_through_its_stages_to_won_with_line_items(rep, contact):
    lines = [
        {"product": "Licence", "sku": "LIC-1", "quantity": "10", "unit_price": "1200.00"},
        {"product": "Onboarding", "quantity": "1", "unit_price": "3000.50"},
    ]
    deal = rep.create(
        "/deals", {"title": "Seats for Lin", "currency": "CNY", "contact_id": contact["id"], "line_items": lines}
    )
    assert (deal["amount"], deal["status"], deal["stage_id"]) == ("15000.50", "open", "qualification")
    for stage in ("needs_analysis", "proposal", "negotiation"):
        moved = _patch(rep, f"/deals/{deal['id']}", {"stage_id": stage}, deal["version"])
        assert moved.status_code == 200, moved.text
        deal = moved.json()
    won = _patch(rep, f"/deals/{deal['id']}", {"status": "won"}, deal["version"])
    assert won.status_code == 200, won.text
    won = won.json()
    assert (won["status"], won["stage_id"], won["rotting_at"]) == ("won", "closed_won", None)
    assert won["closed_at"] and won["furthest_stage_id"] == "closed_won"
    assert [h["stage_id"] for h in won["stage_history"]] == [
        "qualification",
        "needs_analysis",
        "proposal",
        "negotiation",
        "closed_won",
    ]

    def won_on_the_timeline():
        entries = rep.get(f"/contacts/{contact['id']}/timeline", params={"kind": "deal"}).json()["data"]
        return [e for e in entries if e["summary"] == "Deal Seats for Lin won (15000.50 CNY)"]

    eventually(won_on_the_timeline)
    order = rep.get(f"/orders/deal-{deal['id']}")
    assert order.status_code == 200, order.text
    assert (order.json()["status"], order.json()["amount"]) == ("confirmed", "15000.50")
    assert order.json()["line_items"][0]["sku"] == "LIC-1"
    fewer = _patch(rep, f"/deals/{deal['id']}", {"line_items": lines[1:]}, won["version"])
    assert fewer.status_code == 200, fewer.text
    # The won deal's order follows its line items and amount.
    assert rep.get(f"/orders/deal-{deal['id']}").json()["amount"] == "3000.50"
    mismatch = rep.post(
        "/deals", {**{k: deal[k] for k in ("title", "currency", "contact_id")}, "amount": "1.00", "line_items": lines}
    )
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "amount"


def test_a_lost_deal_needs_a_reason(rep, contact):
    deal = rep.create(
        "/deals", {"title": "Lost cause", "amount": "800.00", "currency": "USD", "contact_id": contact["id"]}
    )
    refused = _patch(rep, f"/deals/{deal['id']}", {"status": "lost"})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["lost_reason"]
    lost = _patch(rep, f"/deals/{deal['id']}", {"status": "lost", "lost_reason": "went with a competitor"})
    assert lost.status_code == 200, lost.text
    assert (lost.json()["status"], lost.json()["stage_id"]) == ("lost", "closed_lost")
    reopened = _patch(rep, f"/deals/{deal['id']}", {"status": "open"}).json()
    assert (reopened["status"], reopened["lost_reason"], reopened["closed_at"]) == ("open", None, None)
    listed = rep.get("/deals", params={"status": "open", "contact_id": contact["id"]}).json()["data"]
    assert deal["id"] in {d["id"] for d in listed}


def test_admins_own_custom_pipelines_whose_busy_stages_stay_and_whose_deals_rot(api, rep, contact):
    line = f"Renewals {uuid.uuid4().hex[:6]}"
    body = {"name": line, "business_line": line, "stages": STAGES}
    assert rep.post("/pipelines", body).status_code == 403
    pipeline = api.create("/pipelines", body)
    assert [s["id"] for s in pipeline["stages"]] == ["discovery", "stale", "signed", "dropped"]
    listed = rep.get("/pipelines", params={"business_line": line}).json()["data"]
    assert [p["id"] for p in listed] == [pipeline["id"]]

    deal = rep.create(
        "/deals",
        {
            "title": "Renewal 2025",
            "amount": "5000.00",
            "currency": "EUR",
            "contact_id": contact["id"],
            "pipeline_id": pipeline["id"],
            "stage_id": "stale",
        },
    )
    assert deal["rotting_at"] == deal["stage_entered_at"]  # 0 rotting days: due at once

    def flagged():
        current = rep.get(f"/deals/{deal['id']}").json()
        return current if current["rotting"] else None

    assert flagged_deal_is_listed(rep, eventually(flagged, timeout=20)["id"])

    without_busy_stage = [s for s in pipeline["stages"] if s["id"] != "stale"]
    refused = _patch(api, f"/pipelines/{pipeline['id']}", {"stages": without_busy_stage}, pipeline["version"])
    assert refused.status_code == 409 and "Waiting" in refused.text
    assert api.delete(f"/pipelines/{pipeline['id']}").status_code == 409
    assert rep.delete(f"/pipelines/{pipeline['id']}").status_code == 403

    moved = _patch(rep, f"/deals/{deal['id']}", {"stage_id": "discovery"}).json()
    assert (moved["rotting"], moved["rotting_at"]) == (False, None)
    renamed = _patch(api, f"/pipelines/{pipeline['id']}", {"stages": without_busy_stage}, pipeline["version"])
    assert renamed.status_code == 200, renamed.text
    assert [s["id"] for s in renamed.json()["stages"]] == ["discovery", "signed", "dropped"]


def flagged_deal_is_listed(client, deal_id: str) -> bool:
    return deal_id in {d["id"] for d in client.get("/deals", params={"rotting": "true"}).json()["data"]}
