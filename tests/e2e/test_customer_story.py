"""One customer from lead to loyal, through the gateway: interactions, a deal won and a ticket
resolved, read back from the 360-degree timeline, also as it was at a past moment."""

import time
import uuid
from datetime import UTC, datetime

from crm_common.testing import eventually


def _timeline(api, contact_id: str, **params) -> dict:
    response = api.get(f"/contacts/{contact_id}/timeline", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _stage(api, contact_id: str, stage: str) -> dict:
    """Move the stage as a careful client does: with If-Match, re-reading when the version moved on
    (the service's own fields, such as open_deal_count, change with other services' events)."""
    for _ in range(5):
        current = api.get(f"/contacts/{contact_id}")
        response = api.patch(
            f"/contacts/{contact_id}", {"lifecycle_stage": stage}, headers={"If-Match": current.headers["ETag"]}
        )
        if response.status_code != 412:
            break
    assert response.status_code == 200, response.text
    return response.json()


def test_a_customer_grows_from_lead_to_loyal_and_the_timeline_tells_it(api):
    tag = uuid.uuid4().hex[:8]
    field = api.create(
        "/custom-fields",
        {"entity": "contact", "key": f"region_{tag}", "label": "Region", "type": "choice", "choices": ["华东", "华南"]},
    )
    company = api.create("/companies", {"name": f"远景科技 {tag}", "tax_id": f"91310000{tag}", "industry": "software"})
    contact = api.create(
        "/contacts",
        {
            "first_name": "伟明",
            "last_name": "张",
            "email": f"wm.zhang@{tag}.example.cn",
            "company_id": company["id"],
            "source_channel": "event",
            "custom_fields": {field["key"]: "华东"},
        },
    )
    assert contact["lifecycle_stage"] == "lead"
    found = api.get("/contacts", params={"filter": f'{{"custom_fields.{field["key"]}": "华东"}}'}).json()["data"]
    assert [c["id"] for c in found] == [contact["id"]]

    call = api.create(
        "/interactions",
        {
            "kind": "call",
            "direction": "outbound",
            "contact_id": contact["id"],
            "subject": "First call",
            "outcome": "interested",
        },
    )
    assert call["company_id"] == company["id"]
    _stage(api, contact["id"], "sales_qualified")
    deal = api.create(
        "/deals", {"title": f"ERP {tag}", "amount": "88000.00", "currency": "CNY", "contact_id": contact["id"]}
    )
    api.create(
        "/interactions",
        {
            "kind": "meeting",
            "contact_id": contact["id"],
            "subject": "Proposal walkthrough",
            "participants": [{"name": "张伟明"}, {"user_id": api.user["id"]}],
        },
    )
    won = api.patch(f"/deals/{deal['id']}", {"stage_id": "closed_won"})
    assert won.status_code == 200 and won.json()["status"] == "won", won.text
    became_customer = _stage(api, contact["id"], "customer")
    time.sleep(0.05)
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    ticket = api.create("/tickets", {"subject": f"Login fails {tag}", "contact_id": contact["id"]})
    resolved = api.patch(f"/tickets/{ticket['id']}", {"status": "resolved"})
    assert resolved.status_code == 200, resolved.text
    loyal = _stage(api, contact["id"], "loyal")

    assert [s["stage"] for s in loyal["lifecycle_history"]] == ["lead", "sales_qualified", "customer", "loyal"]
    assert loyal["last_activity_at"] is not None

    def whole_story():
        summaries = [e["summary"] for e in _timeline(api, contact["id"])["data"]]
        for line in (
            f"Deal ERP {tag} opened (88000.00 CNY)",
            f"Deal ERP {tag} won (88000.00 CNY)",
            f"Ticket Login fails {tag} is now resolved",
            "Call (outbound): First call - interested",
            "Meeting (outbound): Proposal walkthrough",
            "Changed lifecycle_stage customer -> loyal",
        ):
            assert line in summaries, (line, summaries)
        return summaries

    story = eventually(whole_story)
    assert story[0] == "Changed lifecycle_stage customer -> loyal"
    assert _timeline(api, contact["id"], kind="deal")["data"][0]["summary"] == f"Deal ERP {tag} won (88000.00 CNY)"

    # As it was before the ticket: a customer, the deal won, no ticket yet.
    then = _timeline(api, contact["id"], as_of=moment)
    assert then["profile"]["lifecycle_stage"] == "customer"
    assert then["profile"]["version"] >= became_customer["version"]
    assert not [e for e in then["data"] if e["kind"] == "ticket"]
    assert f"Deal ERP {tag} won (88000.00 CNY)" in [e["summary"] for e in then["data"]]
    past = api.get(f"/contacts/{contact['id']}", params={"as_of": moment})
    assert past.status_code == 200 and past.json()["lifecycle_stage"] == "customer"
    assert api.get(f"/contacts/{contact['id']}", params={"as_of": "yesterday"}).status_code == 422

    # The company's timeline holds the same story from its side.
    company_story = api.get(f"/companies/{company['id']}/timeline", params={"limit": 200}).json()["data"]
    assert {"interaction", "deal", "ticket", "company"} <= {e["kind"] for e in company_story}


def test_a_deleted_customer_keeps_its_timeline_with_who_deleted_it(api):
    contact = api.create("/contacts", {"first_name": "Temp", "last_name": uuid.uuid4().hex[:6]})
    api.create("/interactions", {"kind": "note", "contact_id": contact["id"], "summary": "met at the fair"})
    assert api.delete(f"/contacts/{contact['id']}").status_code == 204
    assert api.get(f"/contacts/{contact['id']}").status_code == 404
    entries = _timeline(api, contact["id"])["data"]
    assert entries[0]["summary"] == f"Contact deleted by {api.user['id']}"
    assert any(e["kind"] == "interaction" for e in entries)
