"""Tasks through the gateway: a manager gives a rep a task and the rep hears of it, a reminder and an
overdue notice arrive in the inbox on their own (the task timers), and a rep never meets another
rep's task."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crm_common.testing import eventually

PASSWORD = "sales-tasks-password-1"
TAG = "salestasks"


@pytest.fixture(scope="module")
def org(api):
    """Team Tasks: a manager, reps A and B; rep C outside it."""
    users = {
        name: api.new_user(f"{name}@{TAG}.test", roles, PASSWORD)
        for name, roles in [
            ("manager", ["manager"]),
            ("rep_a", ["sales_rep"]),
            ("rep_b", ["sales_rep"]),
            ("rep_c", ["sales_rep"]),
        ]
    }
    uid = {name: client.user["id"] for name, client in users.items()}
    api.create(
        "/teams", {"name": "Team Tasks", "member_ids": [uid["rep_a"], uid["rep_b"]], "manager_ids": [uid["manager"]]}
    )
    # Sign in again: team facts are read when the caller context is built.
    users = {name: client.sign_in_as(f"{name}@{TAG}.test", PASSWORD) for name, client in users.items()}
    return {"users": users, "uid": uid}


def at(**delta) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def inbox(client, task_id: str, title: str) -> list[dict]:
    response = client.get("/notifications", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [n for n in response.json()["data"] if n["ref"] == {"type": "task", "id": task_id} and n["title"] == title]


def test_a_manager_assigns_a_task_and_the_rep_hears_of_it(api, org):
    users, uid = org["users"], org["uid"]
    customer = api.create("/contacts", {"first_name": f"Li{uuid.uuid4().hex[:6]}", "owner_id": uid["rep_a"]})
    task = users["manager"].create(
        "/tasks",
        {
            "title": "Call about the renewal",
            "kind": "call",
            "assignee_id": uid["rep_a"],
            "contact_id": customer["id"],
            "due_at": at(days=2),
            "reminder_minutes_before": 60,
        },
    )
    assert (task["assignee_id"], task["created_by"], task["done"]) == (uid["rep_a"], uid["manager"], False)
    [told] = eventually(lambda: inbox(users["rep_a"], task["id"], "New task assigned to you"))
    assert told["body"].startswith("Call about the renewal (due ")
    assert users["rep_a"].get(f"/tasks/{task['id']}").status_code == 200
    mine = users["rep_a"].get("/tasks", params={"assignee_id": uid["rep_a"], "done": "false"}).json()["data"]
    assert task["id"] in {t["id"] for t in mine}

    # The rep finishes it (If-Match on the version they saw); only its creator or the manager deletes it.
    seen = users["rep_a"].get(f"/tasks/{task['id']}")
    done = users["rep_a"].patch(f"/tasks/{task['id']}", {"done": True}, headers={"If-Match": seen.headers["ETag"]})
    assert done.status_code == 200, done.text
    assert done.json()["done"] is True and done.json()["done_at"]
    assert users["rep_a"].delete(f"/tasks/{task['id']}").status_code == 403
    assert users["manager"].delete(f"/tasks/{task['id']}").status_code == 204


def test_a_rep_cannot_see_or_touch_another_reps_task(org):
    users, uid = org["users"], org["uid"]
    task = users["rep_a"].create("/tasks", {"title": "Private follow-up", "due_at": at(days=1)})
    for outsider in ("rep_b", "rep_c"):
        client = users[outsider]
        assert client.get(f"/tasks/{task['id']}").status_code == 404
        assert client.patch(f"/tasks/{task['id']}", {"done": True}).status_code == 404
        assert client.delete(f"/tasks/{task['id']}").status_code == 404
        assert task["id"] not in {t["id"] for t in client.get("/tasks", params={"limit": 200}).json()["data"]}
    assert users["manager"].get(f"/tasks/{task['id']}").status_code == 200  # rep A is in their team
    refused = users["rep_a"].post("/tasks", {"title": "For B", "assignee_id": uid["rep_b"]})
    assert refused.status_code == 403, refused.text


def test_a_task_whose_reminder_time_passed_reminds_the_assignee(org):
    users = org["users"]
    task = users["rep_a"].create(
        "/tasks", {"title": "Prepare the demo", "remind_at": at(seconds=-30), "due_at": at(hours=2)}
    )
    [reminder] = eventually(lambda: inbox(users["rep_a"], task["id"], "Task reminder"))
    assert reminder["body"].startswith("Prepare the demo is due ")
    assert users["rep_a"].get(f"/tasks/{task['id']}").json()["reminder_due_at"] is None


def test_an_overdue_task_is_escalated_to_the_assignee_and_its_creator(org):
    users, uid = org["users"], org["uid"]
    task = users["manager"].create(
        "/tasks", {"title": "Send the signed contract", "assignee_id": uid["rep_b"], "due_at": at(seconds=-5)}
    )
    for who in ("rep_b", "manager"):
        [notice] = eventually(lambda who=who: inbox(users[who], task["id"], "Task overdue"))
        assert f"assigned to {uid['rep_b']}" in notice["body"]
    assert users["rep_b"].get(f"/tasks/{task['id']}").json()["escalated_for"] == task["due_at"]
