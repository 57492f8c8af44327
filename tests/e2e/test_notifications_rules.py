"""Notification rules and staff preferences through the gateway, end to end: a user reads and changes
their own preferences (defaults with their account email, 422 naming fields, If-Match), everyone
reads the rules and only admins change them; once task_assigned also goes by email, a task reaches
its assignee's inbox and the suite's real SMTP server, waits while the assignee's quiet hours last,
and goes into the digest of an assignee who chose hourly digests; a mention in an internal ticket
note reaches the mentioned user's inbox."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crm_common.testing import eventually
from notifications.notice_rules import KINDS as NOTICE_KINDS

PASSWORD = "notification-rules-password-1"
TAG = f"nr{uuid.uuid4().hex[:8]}"
KINDS = list(NOTICE_KINDS)  # the catalog, in its order
# Queued deliveries go out within a second in the suite (DELIVERY_TIMER_SECONDS): a few seconds with
# nothing in the mailbox means nothing was due.
NOTHING_SENT_SECONDS = 4


@pytest.fixture(scope="module")
def org(api):
    """A manager, three reps: Plain (no quiet hours, no digest), Quiet and Digest; a viewer who never
    saves preferences."""
    users = {
        name: api.new_user(f"{name}@{TAG}.test", roles, PASSWORD)
        for name, roles in [
            ("manager", ["manager"]),
            ("plain", ["sales_rep"]),
            ("quiet", ["sales_rep"]),
            ("digest", ["sales_rep"]),
            ("viewer", ["viewer"]),
        ]
    }
    return {"users": users, "uid": {name: client.user["id"] for name, client in users.items()}}


def _problem_fields(response) -> set[str]:
    assert response.headers["Content-Type"] == "application/problem+json", response.text
    return {error["field"] for error in response.json()["errors"]}


def _etag(version: int) -> dict:
    return {"If-Match": f'"{version}"'}


def test_a_user_reads_and_changes_their_own_preferences(api, org):
    manager = org["users"]["manager"]
    first = manager.get("/notification-preferences")
    assert first.status_code == 200, first.text
    defaults = first.json()
    assert defaults["email"] == f"manager@{TAG}.test"  # the account's email until they choose another
    assert (defaults["user_id"], defaults["version"], first.headers["ETag"]) == (org["uid"]["manager"], 0, '"0"')
    assert (defaults["language"], defaults["time_zone"], defaults["digest"], defaults["digest_at"]) == (
        "en",
        "UTC",
        "off",
        "08:00",
    )
    assert defaults["channels"] == {"email": True, "sms": False}
    assert defaults["quiet_hours"] is None and defaults["phone"] is None and defaults["muted"] == {}

    invalid = manager.patch(
        "/notification-preferences",
        {"time_zone": "Mars/Olympus_Mons", "digest": "weekly", "quiet_hours": {"start": "25:00", "end": "07:00"}},
    )
    assert invalid.status_code == 422, invalid.text
    assert {"time_zone", "digest"} <= _problem_fields(invalid)
    assert any(field.startswith("quiet_hours") for field in _problem_fields(invalid))
    unknown = manager.patch("/notification-preferences", {"pager": "on"})
    assert unknown.status_code == 422 and "pager" in _problem_fields(unknown)
    no_phone = manager.patch("/notification-preferences", {"channels": {"email": True, "sms": True}})
    assert no_phone.status_code == 422 and "channels.sms" in _problem_fields(no_phone)
    stale = manager.patch("/notification-preferences", {"language": "zh-CN"}, headers=_etag(3))
    assert stale.status_code == 412, stale.text
    assert stale.headers["Content-Type"] == "application/problem+json"

    changes = {"language": "zh-CN", "time_zone": "Asia/Shanghai", "quiet_hours": {"start": "22:00", "end": "07:00"}}
    saved = manager.patch("/notification-preferences", changes, headers=_etag(0))
    assert saved.status_code == 200, saved.text
    assert saved.headers["ETag"] == '"1"' and saved.json()["version"] == 1
    assert {k: saved.json()[k] for k in changes} == changes
    assert saved.json()["email"] == f"manager@{TAG}.test"  # stored with the first change
    assert manager.patch("/notification-preferences", {"digest": "daily"}, headers=_etag(0)).status_code == 412
    cleared = manager.patch("/notification-preferences", {"quiet_hours": None}, headers=_etag(1))
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["quiet_hours"] is None and cleared.json()["language"] == "zh-CN"
    again = manager.get("/notification-preferences")
    assert again.headers["ETag"] == '"2"' and again.json() == cleared.json()

    # An API key is no person reading mail: its defaults carry no email.
    created = api.post("/api-keys", {"name": f"key {TAG}", "role": "viewer", "user_id": org["uid"]["viewer"]})
    assert created.status_code == 201, created.text
    try:
        by_key = api.get(
            "/notification-preferences", headers={"Authorization": None, "X-API-Key": created.json()["key"]}
        )
        assert by_key.status_code == 200, by_key.text
        assert by_key.json()["user_id"] == org["uid"]["viewer"] and by_key.json()["email"] is None
    finally:
        assert api.delete(f"/api-keys/{created.json()['id']}").status_code == 204


def test_everyone_reads_the_rules_and_only_admins_change_them(api, org):
    rep = org["users"]["plain"]
    listed = rep.get("/notification-rules")
    assert listed.status_code == 200, listed.text
    assert [rule["id"] for rule in listed.json()["data"]] == KINDS
    one = rep.get("/notification-rules/deal_won")
    assert one.status_code == 200, one.text
    rule = one.json()
    assert (rule["kind"], rule["audiences_available"], one.headers["ETag"]) == (
        "deal_won",
        ["owner"],
        f'"{rule["version"]}"',
    )
    assert rep.get("/notification-rules/no_such_kind").status_code == 404

    refused = rep.patch("/notification-rules/deal_won", {"user_ids": [org["uid"]["plain"]]})
    assert refused.status_code == 403, refused.text
    assert org["users"]["manager"].patch("/notification-rules/deal_won", {"enabled": False}).status_code == 403
    invalid = api.patch("/notification-rules/deal_won", {"channels": ["fax"], "audiences": ["everyone"], "x": 1})
    assert invalid.status_code == 422, invalid.text
    assert {"channels", "audiences", "x"} <= {field.split(".")[0].split("[")[0] for field in _problem_fields(invalid)}
    stale = api.patch("/notification-rules/deal_won", {"urgent": False}, headers=_etag(rule["version"] + 7))
    assert stale.status_code == 412, stale.text
    assert api.get("/notification-rules/deal_won").json() == rule  # nothing changed


@pytest.fixture
def email_on_task_assigned(api):
    """The admin has task_assigned go by email too; the built-in channels come back afterwards."""
    current = api.get("/notification-rules/task_assigned")
    assert current.status_code == 200, current.text
    changed = api.patch(
        "/notification-rules/task_assigned",
        {"channels": ["in_app", "email"]},
        headers=_etag(current.json()["version"]),
    )
    assert changed.status_code == 200, changed.text
    rule = changed.json()
    assert rule["channels"] == ["in_app", "email"] and rule["customized"] is True
    assert changed.headers["ETag"] == f'"{rule["version"]}"' and rule["version"] == current.json()["version"] + 1
    yield rule
    restored = api.patch("/notification-rules/task_assigned", {"channels": current.json()["channels"]})
    assert restored.status_code == 200, restored.text


def _assign_task(api, assignee_id: str, title: str) -> dict:
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    return api.create("/tasks", {"title": title, "kind": "call", "assignee_id": assignee_id, "due_at": due})


def _told_of(client, task_id: str) -> list[dict]:
    response = client.get("/notifications", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [n for n in response.json()["data"] if n["ref"] == {"type": "task", "id": task_id}]


def _deliveries(api, user_id: str) -> list[dict]:
    response = api.get("/deliveries", params={"recipient_user_id": user_id, "limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _text(message) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else message.get_content()


def _stored_preferences(client, changes: dict) -> dict:
    """The user's preferences stored (with their account email): events know no account email."""
    current = client.get("/notification-preferences")
    saved = client.patch("/notification-preferences", changes, headers={"If-Match": current.headers["ETag"]})
    assert saved.status_code == 200, saved.text
    return saved.json()


@pytest.mark.timeout(90)
def test_an_assigned_task_reaches_the_inbox_and_the_mailbox(api, org, mailbox, email_on_task_assigned):
    _, box = mailbox
    rep, rep_id, address = org["users"]["plain"], org["uid"]["plain"], f"plain@{TAG}.test"
    _stored_preferences(rep, {"digest": "off"})
    title = f"Call about the renewal {TAG}"
    task = _assign_task(api, rep_id, title)

    [told] = eventually(lambda: _told_of(rep, task["id"]), timeout=20)
    assert told["title"] == "New task assigned to you" and told["body"].startswith(title)
    [message] = eventually(lambda: box.to(address), timeout=20)
    assert "New task assigned to you" in message["Subject"]
    assert title in _text(message)

    def sent() -> dict | None:
        found = [d for d in _deliveries(api, rep_id) if d["ref"] == {"type": "task", "id": task["id"]}]
        return found[0] if found and found[0]["status"] == "sent" else None

    delivery = eventually(sent, timeout=10)
    assert (delivery["channel"], delivery["kind"], delivery["to"]) == ("email", "staff_notice", address)
    assert delivery["contact_id"] is None  # a notice to staff is no message to a customer


@pytest.mark.timeout(90)
def test_quiet_hours_hold_the_email_until_they_end(api, org, mailbox, email_on_task_assigned):
    _, box = mailbox
    rep, rep_id, address = org["users"]["quiet"], org["uid"]["quiet"], f"quiet@{TAG}.test"
    now = datetime.now(UTC)
    end = (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    quiet = {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": end.strftime("%H:%M")}
    _stored_preferences(rep, {"time_zone": "UTC", "quiet_hours": quiet, "digest": "off"})
    task = _assign_task(api, rep_id, f"Quiet follow-up {TAG}")

    eventually(lambda: _told_of(rep, task["id"]), timeout=20)  # in-app does not wait
    [queued] = eventually(
        lambda: [d for d in _deliveries(api, rep_id) if d["ref"] == {"type": "task", "id": task["id"]}], timeout=10
    )
    assert (queued["channel"], queued["kind"], queued["status"]) == ("email", "staff_notice", "queued")
    due = datetime.fromisoformat(queued["next_attempt_at"].replace("Z", "+00:00"))
    assert due == end, (due, end)
    eventually(lambda: datetime.now(UTC) - now > timedelta(seconds=NOTHING_SENT_SECONDS))
    assert box.to(address) == []
    assert [d["status"] for d in _deliveries(api, rep_id)] == ["queued"]


@pytest.mark.timeout(90)
def test_an_hourly_digest_holds_single_emails(api, org, mailbox, email_on_task_assigned):
    _, box = mailbox
    rep, rep_id, address = org["users"]["digest"], org["uid"]["digest"], f"digest@{TAG}.test"
    _stored_preferences(rep, {"digest": "hourly"})
    started = datetime.now(UTC)
    task = _assign_task(api, rep_id, f"Digest follow-up {TAG}")

    eventually(lambda: _told_of(rep, task["id"]), timeout=20)
    eventually(lambda: datetime.now(UTC) - started > timedelta(seconds=NOTHING_SENT_SECONDS))
    deliveries = _deliveries(api, rep_id)
    assert [d for d in deliveries if d["kind"] == "staff_notice"] == []  # an entry of the next digest instead
    # The digest itself goes out at the next full hour: only then may this rep get an email.
    assert all(d["kind"] == "notice_digest" for d in deliveries)
    assert not box.to(address) or any(d["status"] == "sent" for d in deliveries)


@pytest.mark.timeout(60)
def test_a_mention_in_an_internal_ticket_note_reaches_the_mentioned_user(api, org):
    manager, manager_id = org["users"]["manager"], org["uid"]["manager"]
    customer = api.create("/contacts", {"first_name": "Mention", "last_name": TAG, "email": f"m.{TAG}@example.cn"})
    subject = f"Invoice question {TAG}"
    ticket = api.create("/tickets", {"subject": subject, "contact_id": customer["id"]})
    note = f"Internal: @[Mia Manager](user:{manager_id}) please check the invoice {TAG}"
    posted = api.post(f"/tickets/{ticket['id']}/comments", {"body": note, "public": False})
    assert posted.status_code == 201, posted.text

    def mentioned() -> list[dict]:
        response = manager.get("/notifications", params={"limit": 200})
        assert response.status_code == 200, response.text
        return [
            n
            for n in response.json()["data"]
            if n["ref"] == {"type": "ticket", "id": ticket["id"]} and n["title"] == "You were mentioned"
        ]

    [told] = eventually(mentioned, timeout=20)
    assert told["body"].startswith(f"{subject}: Internal: @Mia Manager please check")
    assert "(user:" not in told["body"]
    assert told["contact_id"] == customer["id"]
