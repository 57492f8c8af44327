"""The foundation's end-to-end flow: one customer through all five services over RabbitMQ."""

import json
import os
import sqlite3
import uuid

from crm_common.testing import eventually


def _search(api, q: str, **params) -> dict:
    response = api.get("/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _found(api, q: str, kind: str, record_id: str) -> bool:
    return any(h["type"] == kind and h["id"] == record_id for h in _search(api, q)["data"])


def test_a_customer_flows_through_every_service(api):
    tag = uuid.uuid4().hex[:8]
    company = api.create("/companies", {"name": f"远景科技 {tag}", "industry": "software"})
    contact = api.create(
        "/contacts",
        {
            "first_name": "伟明",
            "last_name": "张",
            "email": f"zhang.wm@{tag}.example.cn",
            "phone": "+86 138 0000 4321",
            "company_id": company["id"],
        },
    )
    deal = api.create(
        "/deals", {"title": f"ERP rollout {tag}", "amount": "120000.00", "currency": "CNY", "contact_id": contact["id"]}
    )
    ticket = api.create(
        "/tickets", {"subject": f"Invoice missing {tag}", "contact_id": contact["id"], "priority": "high"}
    )

    assert deal["pipeline_id"] == "default" and deal["stage_id"] == "qualification"
    assert deal["company_id"] == company["id"] and ticket["company_id"] == company["id"]

    # search finds the contact by a Chinese name, an email fragment and the phone's last digits
    eventually(lambda: _found(api, "张伟", "contact", contact["id"]))
    assert _found(api, f"{tag}.example", "contact", contact["id"])
    assert _found(api, f"4321 {tag}", "contact", contact["id"])
    eventually(lambda: _found(api, f"ERP {tag}", "deal", deal["id"]))
    eventually(lambda: _found(api, f"invoice {tag}", "ticket", ticket["id"]))
    assert _found(api, f"远景科技 {tag}", "company", company["id"])

    def timeline_kinds():
        entries = api.get(f"/contacts/{contact['id']}/timeline").json()["data"]
        kinds = [e["kind"] for e in entries]
        assert {"contact", "deal", "ticket"} <= set(kinds), kinds
        return entries

    entries = eventually(timeline_kinds)
    assert [e["occurred_at"] for e in entries] == sorted((e["occurred_at"] for e in entries), reverse=True)
    assert {e["ref"]["id"] for e in entries} >= {deal["id"], ticket["id"]}
    deals_only = api.get(f"/contacts/{contact['id']}/timeline", params={"kind": "deal"}).json()["data"]
    assert [e["kind"] for e in deals_only] == ["deal"]
    company_kinds = {
        e["kind"] for e in eventually(lambda: api.get(f"/companies/{company['id']}/timeline").json()["data"])
    }
    assert "company" in company_kinds

    # the contact's owner (the caller here) is told about the new ticket in-app
    def ticket_notice():
        inbox = api.get("/notifications").json()["data"]
        return [n for n in inbox if n["ref"] == {"type": "ticket", "id": ticket["id"]}]

    notices = eventually(ticket_notice)
    assert len(notices) == 1 and "张伟明" in notices[0]["body"]


def test_a_request_id_travels_from_the_gateway_into_the_events(api, stack):
    request_id = f"trace-{uuid.uuid4().hex[:12]}"
    response = api.post(
        "/contacts", {"first_name": "Ada", "last_name": "Lovelace"}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == request_id

    db = sqlite3.connect(os.path.join(stack.data_dir, "contacts.db"))
    events = [json.loads(doc)["event"] for (doc,) in db.execute("SELECT doc FROM c__outbox")]
    mine = [e for e in events if e["payload"].get("id") == response.json()["id"]]
    assert mine and mine[0]["correlation_id"] == request_id and mine[0]["event_type"] == "contact_created"


def test_a_new_request_id_is_issued_when_the_client_sends_none(api):
    response = api.get("/ping")
    assert response.status_code == 200 and len(response.headers["X-Request-ID"]) >= 16


def test_updates_use_etags_and_if_match(api):
    contact = api.create("/contacts", {"first_name": "Grace", "last_name": "Hopper"})
    stale = '"1"'
    first = api.patch(f"/contacts/{contact['id']}", {"lifecycle_stage": "customer"}, headers={"If-Match": stale})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    second = api.patch(f"/contacts/{contact['id']}", {"lifecycle_stage": "loyal"}, headers={"If-Match": stale})
    assert second.status_code == 412
    assert second.headers["Content-Type"] == "application/problem+json"


def test_a_deleted_contact_disappears_from_reads_and_search(api):
    tag = uuid.uuid4().hex[:8]
    contact = api.create("/contacts", {"first_name": "Temp", "last_name": f"Person{tag}"})
    eventually(lambda: _found(api, f"person{tag}", "contact", contact["id"]))
    assert api.request("DELETE", f"/contacts/{contact['id']}").status_code == 204
    assert api.get(f"/contacts/{contact['id']}").status_code == 404
    eventually(lambda: not _found(api, f"person{tag}", "contact", contact["id"]))


def test_lists_page_with_cursors_and_filters(api):
    tag = uuid.uuid4().hex[:8]
    made = {
        api.create("/contacts", {"first_name": f"P{i}", "last_name": "Pager", "tags": [tag]})["id"] for i in range(7)
    }
    seen, cursor = [], None
    flt = json.dumps({"tags": {"contains": tag}})
    while True:
        params = {"limit": 3, "filter": flt, **({"cursor": cursor} if cursor else {})}
        page = api.get("/contacts", params=params).json()
        seen += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and set(seen) == made


def test_boolean_equality_parameters_read_true_and_false(api):
    contact = api.create("/contacts", {"first_name": "Bool"})
    ticket = api.create("/tickets", {"subject": "Flag check", "contact_id": contact["id"]})
    open_tickets = api.get("/tickets", params={"breached": "false", "contact_id": contact["id"]}).json()["data"]
    assert [t["id"] for t in open_tickets] == [ticket["id"]]
    assert api.get("/tickets", params={"breached": "true", "contact_id": contact["id"]}).json()["data"] == []
    assert api.get("/tickets", params={"breached": "maybe"}).status_code == 400
