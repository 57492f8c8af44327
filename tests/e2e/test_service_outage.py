"""A service that is down answers 503 with Retry-After; nothing runs late, the rest keeps working."""

import time

from crm_common.devstack import SERVICES

SALES = next(s for s in SERVICES if s.name == "sales")


def test_a_stopped_service_gives_503_and_recovers(api, stack):
    contact = api.create("/contacts", {"first_name": "Outage", "last_name": "Test"})
    stack.stop(SALES)
    try:
        started = time.monotonic()
        response = api.post(
            "/deals", {"title": "Never written", "amount": "5.00", "currency": "CNY", "contact_id": contact["id"]}
        )
        assert response.status_code == 503, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.headers["Retry-After"]
        assert time.monotonic() - started < 10
        # other services keep answering
        assert api.get(f"/contacts/{contact['id']}").status_code == 200
    finally:
        stack.start(SALES)
        stack.wait_ready([SALES])
    # the request the gateway gave up on expired in the queue: it never runs after the restart
    time.sleep(1)
    titles = [d["title"] for d in api.get("/deals", params={"contact_id": contact["id"]}).json()["data"]]
    assert "Never written" not in titles
    assert (
        api.post(
            "/deals", {"title": "Written", "amount": "5.00", "currency": "CNY", "contact_id": contact["id"]}
        ).status_code
        == 201
    )


CONTACTS = next(s for s in SERVICES if s.name == "contacts")


def test_a_write_that_needs_a_stopped_service_fails_cleanly_and_never_lands_later(api, stack):
    contact = api.create("/contacts", {"first_name": "Depends", "last_name": "On Contacts"})
    stack.stop(CONTACTS)
    try:
        response = api.post("/tickets", {"subject": "Ghost ticket", "contact_id": contact["id"]})
        assert response.status_code == 503, response.text
    finally:
        stack.start(CONTACTS)
        stack.wait_ready([CONTACTS])
    time.sleep(2)
    subjects = [t["subject"] for t in api.get("/tickets", params={"contact_id": contact["id"]}).json()["data"]]
    assert "Ghost ticket" not in subjects
