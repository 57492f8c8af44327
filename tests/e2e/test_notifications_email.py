"""Email through the gateway, end to end, received by the suite's real SMTP server on loopback: a
ticket's acknowledgement in the admin's template, a greeting campaign to a segment in each member's
language, and the public unsubscribe link in it stopping the next one; the delivery log shows them."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
import requests

from crm_common.testing import eventually


def _text(message) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else message.get_content()


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


@pytest.mark.timeout(120)
def test_a_ticket_acknowledgement_is_emailed_in_the_admins_template(api, mailbox):
    _, box = mailbox
    tag = uuid.uuid4().hex[:8]
    template = {
        "key": "ticket_acknowledgement",
        "channel": "email",
        "language": "en",
        "subject": "[{{ ticket_id }}] We have it: {{ ticket_subject }}",
        "body": "Dear {{ customer_name }}, {{ company_name }} is on it. Marker " + tag,
    }
    preview = api.post("/notification-templates/preview", template)
    assert preview.status_code == 200, preview.text
    assert "Dear Wang Fang" in preview.json()["body"]  # the catalog's sample values
    bad = api.post("/notification-templates/preview", {**template, "body": "{{ password }}"})
    assert bad.status_code == 422
    created = api.create("/notification-templates", template)
    try:
        assert api.post("/notification-templates", template).status_code == 409  # one per key, channel, language
        email = f"ack-{tag}@mail.test"
        contact = api.create("/contacts", {"first_name": "Ada", "last_name": tag, "email": email})
        ticket = api.create("/tickets", {"subject": f"Printer jams {tag}", "contact_id": contact["id"]})
        eventually(lambda: box.to(email), timeout=30)
        (message,) = box.to(email)
        assert message["Subject"] == f"[{ticket['id']}] We have it: Printer jams {tag}"
        assert f"Marker {tag}" in _text(message) and "Dear Ada" in _text(message)
        assert message["From"] == "crm@e2e.test"

        def logged() -> list[dict]:
            page = api.get("/deliveries", params={"contact_id": contact["id"], "channel": "email"})
            assert page.status_code == 200, page.text
            return page.json()["data"]

        eventually(lambda: [d["status"] for d in logged()] == ["sent"], timeout=10)
        (delivery,) = logged()
        assert delivery["kind"] == "ticket_acknowledgement" and delivery["to"] == email
        assert delivery["attempts"] == 1 and delivery["provider_id"] and delivery["sent_at"]
        assert delivery["ref"] == {"type": "ticket", "id": ticket["id"]}
    finally:
        assert api.delete(f"/notification-templates/{created['id']}").status_code == 204


def _one_off(segment_id: str, name: str) -> dict:
    """A one-off greeting due a minute ago in UTC, without quiet hours: the timer sends it at once."""
    due = datetime.now(UTC) - timedelta(minutes=1)
    return {
        "name": name,
        "kind": "one_off",
        "send_at": due.date().isoformat(),
        "local_time": due.strftime("%H:%M"),
        "time_zone": "UTC",
        "quiet_hours": None,
        "segment_id": segment_id,
        "channel": "email",
        "template_key": "greeting_birthday",
    }


@pytest.mark.timeout(180)
def test_a_campaign_greets_the_segment_in_their_language_and_unsubscribing_stops_the_next(api, mailbox):
    _, box = mailbox
    tag = f"greet{uuid.uuid4().hex[:8]}"
    fang, ann = f"fang-{tag}@mail.test", f"ann-{tag}@mail.test"
    api.create(
        "/contacts",
        {"first_name": "芳", "last_name": "王", "email": fang, "preferred_language": "zh-CN", "tags": [tag]},
    )
    api.create(
        "/contacts", {"first_name": "Ann", "last_name": "Lee", "email": ann, "preferred_language": "en", "tags": [tag]}
    )
    segment = api.create(
        "/segments", {"name": f"Greeting {tag}", "entity": "contact", "filter": {"tags": {"contains": tag}}}
    )
    first = api.create("/campaigns", _one_off(segment["id"], f"First {tag}"))
    eventually(lambda: box.to(fang) and box.to(ann), timeout=45)
    (chinese,), (english,) = box.to(fang), box.to(ann)
    assert _has_chinese(chinese["Subject"] + _text(chinese))
    assert not _has_chinese(english["Subject"] + _text(english))

    found = re.search(r"(https?://[A-Za-z0-9.:\[\]-]+/api/v1/unsubscribe)\?token=([^\s\"'<>]+)", _text(chinese))
    assert found, _text(chinese)
    link, token = found.group(1), unquote(found.group(2))
    assert link == f"{api.base}/unsubscribe"  # CRM_PUBLIC_URL: this gateway
    for _ in range(2):  # following it again changes nothing
        followed = requests.get(link, params={"token": token}, timeout=15)  # no credential
        assert followed.status_code == 200, followed.text
        assert followed.headers["Content-Type"].startswith("text/plain")
    forged = requests.get(link, params={"token": token[:-4] + "0000"}, timeout=15)
    assert forged.status_code == 400 and forged.headers["Content-Type"] == "application/problem+json"

    sent = api.get("/deliveries", params={"campaign_id": first["id"]}).json()["data"]
    assert {d["to"]: d["language"] for d in sent} == {fang: "zh-CN", ann: "en"}

    second = api.create("/campaigns", _one_off(segment["id"], f"Second {tag}"))
    eventually(lambda: len(box.to(ann)) == 2, timeout=45)
    assert len(box.to(fang)) == 1  # unsubscribed from email greetings
    later = api.get("/deliveries", params={"campaign_id": second["id"]}).json()["data"]
    assert [d["to"] for d in later] == [ann]
    for campaign in (first, second):
        assert api.delete(f"/campaigns/{campaign['id']}").status_code == 204
