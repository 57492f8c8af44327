"""Duplicates through the gateway: a likely duplicate is refused with its match, created on purpose,
then merged; sales, the service desk, search and notifications all re-point to the survivor."""

import os
import sqlite3
import uuid

from crm_common.testing import eventually


def _hits(api, q: str) -> set[str]:
    response = api.get("/search", params={"q": q, "types": "contact"})
    assert response.status_code == 200, response.text
    return {hit["id"] for hit in response.json()["data"]}


def _timeline_refs(api, contact_id: str) -> set[str]:
    response = api.get(f"/contacts/{contact_id}/timeline", params={"limit": 200})
    assert response.status_code == 200, response.text
    return {entry["ref"]["id"] for entry in response.json()["data"]}


def test_a_refused_duplicate_is_merged_and_every_service_re_points(api, stack):
    tag = uuid.uuid4().hex[:8]
    phone = f"139{uuid.uuid4().int % 10**8:08d}"  # other tests' contacts must not share it
    owner = api.new_user(f"owner-{tag}@e2e.test", ["sales_rep"])
    other = api.new_user(f"other-{tag}@e2e.test", ["sales_rep"])
    survivor = owner.create(
        "/contacts",
        {"first_name": "伟", "last_name": "张", "email": f"zhang.wei.{tag}@example.cn", "phone": phone},
    )

    # The check before entry and the create both find it through another spelling of the same email.
    body = {"first_name": "伟", "last_name": "张", "email": f"ZHANG.WEI.{tag}@Example.CN", "tags": [tag]}
    found = owner.post("/contacts/duplicates", body).json()["data"]
    assert found[0]["id"] == survivor["id"] and found[0]["strong"] and "email" in found[0]["reasons"]
    full_width = "＋８６ " + phone.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    by_phone = owner.post("/contacts/duplicates", {"phone": f"0086 {phone[:3]}-{phone[3:7]}-{phone[7:]}"})
    assert [(m["id"], m["reasons"]) for m in by_phone.json()["data"]] == [(survivor["id"], ["phone"])]
    assert owner.post("/contacts/duplicates", {"phone": full_width}).json()["data"][0]["id"] == survivor["id"]
    refused = owner.post("/contacts", body)
    assert refused.status_code == 409, refused.text
    assert refused.json()["matches"][0]["id"] == survivor["id"]
    # Another rep may not see it: still refused, without learning which record it is.
    hidden = other.post("/contacts", body)
    assert hidden.status_code == 409 and hidden.json()["matches"][0]["id"] is None
    assert hidden.json()["matches"][0]["record"] is None
    duplicate = other.post("/contacts?allow_duplicate=true", body)
    assert duplicate.status_code == 201, duplicate.text
    duplicate = duplicate.json()

    deal = other.create(
        "/deals", {"title": f"Merge deal {tag}", "amount": "500.00", "currency": "CNY", "contact_id": duplicate["id"]}
    )
    ticket = api.create("/tickets", {"subject": f"Merge ticket {tag}", "contact_id": duplicate["id"]})
    assert eventually(lambda: {deal["id"], ticket["id"]} <= _timeline_refs(api, duplicate["id"]))
    assert eventually(lambda: duplicate["id"] in _hits(api, tag))

    # The owner of the survivor cannot merge a record they cannot change; an admin can.
    assert owner.post(f"/contacts/{survivor['id']}/merge", {"duplicate_ids": [duplicate["id"]]}).status_code == 404
    stale = api.post(
        f"/contacts/{survivor['id']}/merge", {"duplicate_ids": [duplicate["id"]]}, headers={"If-Match": '"999"'}
    )
    assert stale.status_code == 412
    merged = api.post(
        f"/contacts/{survivor['id']}/merge",
        {"duplicate_ids": [duplicate["id"]]},
        headers={"If-Match": f'"{survivor["version"]}"'},
    )
    assert merged.status_code == 200, merged.text
    assert merged.headers["ETag"] == f'"{merged.json()["version"]}"'
    assert merged.json()["tags"] == [tag] and other.user["id"] in merged.json()["shared_with"]
    assert api.get(f"/contacts/{duplicate['id']}").status_code == 404

    # sales and the service desk re-point their records
    eventually(lambda: api.get(f"/deals/{deal['id']}").json()["contact_id"] == survivor["id"])
    moved = eventually(lambda: (t := api.get(f"/tickets/{ticket['id']}").json())["contact_id"] == survivor["id"] and t)
    assert moved["contact_owner_id"] == owner.user["id"]
    assert owner.get(f"/tickets/{ticket['id']}").status_code == 200  # the survivor's owner now sees it
    # search forgets the duplicate and keeps the survivor
    eventually(lambda: _hits(api, tag) == {survivor["id"]})
    # the survivor's timeline holds the duplicate's history, and its open deal
    assert {deal["id"], ticket["id"], duplicate["id"]} <= _timeline_refs(api, survivor["id"])
    assert eventually(lambda: api.get(f"/contacts/{survivor['id']}").json()["open_deal_count"] == 1)

    # notifications: the merged contact now resolves to the survivor's owner
    def redirected() -> bool:
        with sqlite3.connect(os.path.join(stack.data_dir, "notifications.db")) as db:
            row = db.execute(
                "SELECT json_extract(doc, '$.merged_into') FROM c_contact_owners WHERE id = ?", (duplicate["id"],)
            ).fetchone()
        return row is not None and row[0] == survivor["id"]

    eventually(redirected)


def test_companies_merge_with_their_contacts(api):
    tag = uuid.uuid4().hex[:8]
    survivor = api.create("/companies", {"name": f"远景科技 {tag} 有限公司", "tax_id": f"9111{tag}"})
    refused = api.post("/companies", {"name": f"远景科技{tag}", "tax_id": f"9111-{tag.upper()}"})
    assert refused.status_code == 409 and refused.json()["matches"][0]["id"] == survivor["id"]
    duplicate = api.post("/companies?allow_duplicate=true", {"name": f"远景科技{tag}", "industry": "software"}).json()
    worker = api.create("/contacts", {"first_name": "Ann", "last_name": f"Lee{tag}", "company_id": duplicate["id"]})
    ticket = api.create("/tickets", {"subject": f"Company ticket {tag}", "contact_id": worker["id"]})
    assert ticket["company_id"] == duplicate["id"]

    merged = api.post(f"/companies/{survivor['id']}/merge", {"duplicate_ids": [duplicate["id"]]})
    assert merged.status_code == 200 and merged.json()["industry"] == "software"
    assert api.get(f"/contacts/{worker['id']}").json()["company_id"] == survivor["id"]
    eventually(lambda: api.get(f"/tickets/{ticket['id']}").json()["company_id"] == survivor["id"])
    bad = api.post(f"/companies/{survivor['id']}/merge", {"duplicate_ids": [survivor["id"]]})
    assert bad.status_code == 422
