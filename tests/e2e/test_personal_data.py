"""Personal data end to end: one person's export gathered from every service over RabbitMQ, then
their erasure in every service, followed to its completion record."""

import uuid

from crm_common.devstack import SERVICES
from crm_common.testing import eventually

ERASED = "Personal data erased"


def _search_hits(api, q: str) -> list[tuple[str, str]]:
    response = api.get("/search", params={"q": q})
    assert response.status_code == 200, response.text
    return [(h["type"], h["id"]) for h in response.json()["data"]]


def test_a_person_is_exported_from_every_service_then_erased_everywhere(api):
    tag = uuid.uuid4().hex[:8]
    rep = api.new_user(f"pd-rep-{tag}@e2e.test", ["sales_rep"])
    manager = api.new_user(f"pd-manager-{tag}@e2e.test", ["manager"])
    company = api.create("/companies", {"name": f"远景科技 {tag}", "owner_id": rep.user["id"]})
    contact = api.create(
        "/contacts",
        {
            "first_name": "伟明",
            "last_name": f"张{tag}",
            "email": f"zhang.wm@{tag}.example.cn",
            "phone": f"+86 139 {int(tag, 16) % 10**8:08d}",  # unique: another test's phone is a duplicate
            "company_id": company["id"],
            "owner_id": rep.user["id"],
        },
    )
    contact_id = contact["id"]
    interaction = api.create(
        "/interactions",
        {"kind": "call", "contact_id": contact_id, "subject": f"Renewal {tag}", "summary": "Allergic to peanuts"},
    )
    deal = api.create(
        "/deals", {"title": f"ERP rollout {tag}", "amount": "120000.00", "currency": "CNY", "contact_id": contact_id}
    )
    ticket = api.create(
        "/tickets",
        {"subject": f"Cannot log in {tag}", "description": f"Call me on 4321, Zhang {tag}", "contact_id": contact_id},
    )
    # Every service has heard of the person before the export is asked for.
    eventually(lambda: ("contact", contact_id) in _search_hits(api, f"zhang.wm@{tag}"))
    eventually(lambda: ("ticket", ticket["id"]) in _search_hits(api, f"Zhang {tag}"))
    told = eventually(lambda: [n for n in rep.get("/notifications").json()["data"] if tag in n["body"]])
    assert {n["ref"]["type"] for n in told} >= {"contact", "ticket"}

    # Only admins export or erase: not the contact's owner, nor a manager.
    for other in (rep, manager):
        assert other.get(f"/contacts/{contact_id}/personal-data").status_code == 403
        assert other.post(f"/contacts/{contact_id}/erase", {"reason": "mine"}).status_code == 403
        assert other.get("/erasures").status_code == 403

    exported = api.get(f"/contacts/{contact_id}/personal-data")
    assert exported.status_code == 200, exported.text
    assert exported.headers["Content-Disposition"] == f'attachment; filename="personal-data-{contact_id}.json"'
    export = exported.json()
    assert export["subject"] == {"type": "contact", "id": contact_id}
    sections = export["services"]
    assert set(sections) == {"contacts", "sales", "service_desk", "notifications", "search"}
    assert sections["contacts"]["contact"]["email"] == f"zhang.wm@{tag}.example.cn"
    assert [i["id"] for i in sections["contacts"]["interactions"]] == [interaction["id"]]
    assert [d["id"] for d in sections["sales"]["deals"]] == [deal["id"]]
    assert [t["id"] for t in sections["service_desk"]["tickets"]] == [ticket["id"]]
    assert {n["id"] for n in told} <= {n["id"] for n in sections["notifications"]["notifications"]}
    assert [(d["type"], d["id"]) for d in sections["search"]["documents"]] == [("contact", contact_id)]

    accepted = api.post(f"/contacts/{contact_id}/erase", {"reason": f"GDPR request {tag}"})
    assert accepted.status_code == 202, accepted.text
    erasure = accepted.json()
    assert accepted.headers["Location"].endswith(f"/api/v1/erasures/{erasure['id']}")
    assert erasure["services"]["contacts"]["status"] == "done"

    def completed():
        record = api.get(f"/erasures/{erasure['id']}").json()
        assert record["status"] == "completed", record["services"]
        return record

    record = eventually(completed, timeout=30)
    assert all(step["status"] == "done" for step in record["services"].values())
    assert record["services"]["service_desk"]["detail"] == {"tickets_scrubbed": 1, "comments_scrubbed": 0}
    assert record["requested_by"] == api.user["id"] and record["reason"] == f"GDPR request {tag}"
    assert record["completed_at"] >= record["requested_at"]

    # The person is gone from every service.
    assert api.get(f"/contacts/{contact_id}").status_code == 404
    assert api.get(f"/contacts/{contact_id}/personal-data").status_code == 404
    assert api.post(f"/contacts/{contact_id}/erase").status_code == 404
    scrubbed = api.get(f"/tickets/{ticket['id']}").json()
    assert (scrubbed["subject"], scrubbed["description"]) == (ERASED, "")
    assert scrubbed["priority"] == ticket["priority"] and scrubbed["contact_id"] == contact_id
    eventually(lambda: _search_hits(api, f"zhang.wm@{tag}") == [])
    eventually(lambda: _search_hits(api, f"Zhang {tag}") == [])
    inbox = {n["id"]: n for n in rep.get("/notifications").json()["data"]}
    assert [inbox[n["id"]]["body"] for n in told] == [ERASED] * len(told)
    assert api.get(f"/interactions/{interaction['id']}").json()["summary"] == ERASED
    assert api.get(f"/deals/{deal['id']}").json()["title"] == f"ERP rollout {tag}"  # a business record stays

    # The audit trail stays: the erasure record, and the timeline with who erased the person and when.
    listed = api.get("/erasures", params={"contact_id": contact_id}).json()["data"]
    assert [e["id"] for e in listed] == [erasure["id"]]
    timeline = api.get(f"/contacts/{contact_id}/timeline").json()["data"]
    assert timeline[0]["summary"] == f"Personal data erased by {api.user['id']} (erasure {erasure['id']})"
    assert {e["kind"] for e in timeline} >= {"contact", "interaction", "deal", "ticket"}
    assert all(tag not in e["summary"] for e in timeline)


def test_erasing_a_survivor_erases_its_merged_duplicates_and_tells_the_admin_when_done(api):
    tag = uuid.uuid4().hex[:8]
    rep = api.new_user(f"pd-merge-rep-{tag}@e2e.test", ["sales_rep"])
    survivor = api.create(
        "/contacts",
        {"first_name": "Pat", "last_name": f"Doe{tag}", "email": f"pat.{tag}@example.org", "owner_id": rep.user["id"]},
    )
    entered = api.post(
        "/contacts?allow_duplicate=true",
        {
            "first_name": "Patricia",
            "last_name": f"Doe{tag}",
            "email": f"patricia.{tag}@example.org",
            "owner_id": rep.user["id"],
        },
    )
    assert entered.status_code == 201, entered.text
    duplicate = entered.json()
    told = eventually(
        lambda: [n for n in rep.get("/notifications").json()["data"] if n["ref"]["id"] == duplicate["id"]]
    )
    assert "Patricia" in told[0]["body"]
    merged = api.post(f"/contacts/{survivor['id']}/merge", {"duplicate_ids": [duplicate["id"]]})
    assert merged.status_code == 200, merged.text

    # The merged-away id is refused, naming the survivor that covers it.
    for refused in (
        api.get(f"/contacts/{duplicate['id']}/personal-data"),
        api.post(f"/contacts/{duplicate['id']}/erase"),
    ):
        assert refused.status_code == 409, refused.text
        assert refused.json()["matches"][0]["id"] == survivor["id"] and survivor["id"] in refused.json()["detail"]

    export = api.get(f"/contacts/{survivor['id']}/personal-data").json()
    (held,) = export["merged"]
    assert (held["id"], held["merged_into"]) == (duplicate["id"], survivor["id"])
    assert held["services"]["contacts"]["history"][0]["record"]["first_name"] == "Patricia"
    assert told[0]["id"] in {n["id"] for n in held["services"]["notifications"]["notifications"]}

    erasure = api.post(f"/contacts/{survivor['id']}/erase").json()
    assert erasure["merged_ids"] == [duplicate["id"]]
    eventually(lambda: api.get(f"/erasures/{erasure['id']}").json()["status"] == "completed", timeout=30)

    # The rep who owned the duplicate reads it back as a skeleton, with nobody in it.
    then = rep.get(f"/contacts/{duplicate['id']}", params={"as_of": duplicate["created_at"]})
    assert then.status_code == 200, then.text
    assert (then.json()["first_name"], then.json()["email"]) == (None, None)
    timeline = rep.get(f"/contacts/{duplicate['id']}/timeline").json()["data"]
    assert timeline and all("Patricia" not in e["summary"] and tag not in e["summary"] for e in timeline)
    assert {n["id"]: n for n in rep.get("/notifications").json()["data"]}[told[0]["id"]]["body"] == ERASED
    # The admin who asked hears that every service has scrubbed.
    done = f"Erasure of contact {survivor['id']} completed"
    eventually(lambda: [n for n in api.get("/notifications").json()["data"] if n["body"] == done])


def test_an_export_needs_every_service_and_an_erasure_waits_for_a_stopped_one(api, stack):
    notifications = next(s for s in SERVICES if s.name == "notifications")
    tag = uuid.uuid4().hex[:8]
    contact = api.create("/contacts", {"first_name": "Outage", "last_name": f"Person{tag}"})
    stack.stop(notifications)
    try:
        exported = api.get(f"/contacts/{contact['id']}/personal-data")
        assert exported.status_code == 503, exported.text  # never a silently partial export
        assert "notifications" in exported.json()["detail"] and exported.headers["Retry-After"]

        accepted = api.post(f"/contacts/{contact['id']}/erase")
        assert accepted.status_code == 202, accepted.text
        erasure_url = accepted.headers["Location"].split("/api/v1", 1)[1]

        def all_but_notifications():
            services = api.get(erasure_url).json()["services"]
            assert {name for name, step in services.items() if step["status"] == "pending"} == {"notifications"}
            return services

        eventually(all_but_notifications, timeout=30)
        assert api.get(erasure_url).json()["status"] == "in_progress"
    finally:
        stack.start(notifications)
        stack.wait_ready([notifications])
    # The contact_erased event waited in the stopped service's durable queue.
    eventually(lambda: api.get(erasure_url).json()["status"] == "completed", timeout=30)
