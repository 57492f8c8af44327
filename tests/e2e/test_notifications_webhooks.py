"""Webhooks through the gateway, end to end: a subscription to service_desk.ticket_created gets a
signed POST on a real receiver on 127.0.0.1 (which checks the HMAC signature and the timestamp)
after a ticket is created through the API; a receiver that fails first gets retries, then the
delivery; a replay through the API delivers again; the delivery log shows every attempt."""

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crm_common.testing import eventually

EVENT = "service_desk.ticket_created"


@dataclass
class Receiver:
    """A webhook receiver: checks each POST's signature with `secret` and answers from `statuses`
    (the last one repeats)."""

    url: str = ""
    secret: str = ""
    statuses: list[int] = field(default_factory=lambda: [200])
    posts: list[dict] = field(default_factory=list)  # {headers, body, valid, answered}

    def delivered(self) -> list[dict]:
        return [post for post in self.posts if post["answered"] == 200]


def _verified(secret: str, headers: dict, body: bytes) -> bool:
    timestamp = headers.get("X-CRM-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False  # a stale or missing timestamp: a replayed capture, refused
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-CRM-Signature", ""), f"v1={expected}")


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    state = Receiver(statuses=list(statuses or [200]))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            valid = _verified(state.secret, headers, body)
            with lock:
                status = state.statuses[0] if len(state.statuses) == 1 else state.statuses.pop(0)
                status = status if valid else 401
                state.posts.append({"headers": headers, "body": json.loads(body), "valid": valid, "answered": status})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/crm"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _subscribe(api, hook: Receiver, subject: str) -> dict:
    """A subscription to new tickets with this subject only (other tests' tickets go elsewhere)."""
    webhook = api.create(
        "/webhooks",
        {"url": hook.url, "event_types": [EVENT], "filters": {"subject": subject}, "description": "e2e receiver"},
    )
    assert len(webhook["secret"]) == 64
    hook.secret = webhook["secret"]
    assert "secret" not in api.get(f"/webhooks/{webhook['id']}").json()  # shown once
    return webhook


def _ticket(api, subject: str) -> dict:
    contact = api.create("/contacts", {"first_name": "Hook", "last_name": subject})
    return api.create("/tickets", {"subject": subject, "contact_id": contact["id"]})


def _log(api, webhook_id: str) -> list[dict]:
    page = api.get(f"/webhooks/{webhook_id}/deliveries")
    assert page.status_code == 200, page.text
    return page.json()["data"]


@pytest.mark.timeout(120)
def test_a_new_ticket_reaches_a_subscribed_receiver_signed_and_a_replay_sends_it_again(api):
    subject = f"Webhook e2e {uuid.uuid4().hex[:8]}"
    with receiver() as hook:
        webhook = _subscribe(api, hook, subject)
        _ticket(api, f"{subject} (not matching the filter)")
        ticket = _ticket(api, subject)
        eventually(lambda: len(hook.delivered()) == 1, timeout=30)

        post = hook.posts[0]
        assert post["valid"] and len(hook.posts) == 1  # the other ticket did not match the filter
        assert post["headers"]["X-CRM-Event"] == EVENT
        assert post["body"]["event_type"] == EVENT and post["body"]["data"]["id"] == ticket["id"]
        assert post["body"]["data"]["subject"] == subject
        delivery_id = post["headers"]["X-CRM-Delivery"]
        assert post["body"]["id"] == delivery_id

        eventually(lambda: _log(api, webhook["id"])[0]["status"] == "sent", timeout=10)
        (logged,) = _log(api, webhook["id"])
        assert logged["id"] == delivery_id and logged["attempts"] == 1 and logged["kind"] == EVENT
        assert logged["ref"] == {"type": "ticket", "id": ticket["id"]}
        assert api.get(f"/deliveries/{delivery_id}").json()["status"] == "sent"
        assert [d["id"] for d in api.get("/deliveries", params={"subscription_id": webhook["id"]}).json()["data"]] == [
            delivery_id
        ]

        replay = api.post(f"/webhooks/{webhook['id']}/deliveries/{delivery_id}/replay")
        assert replay.status_code == 202, replay.text
        assert replay.json()["status"] == "queued" and replay.json()["replays"] == 1
        eventually(lambda: len(hook.delivered()) == 2, timeout=30)
        again = hook.posts[1]
        assert again["valid"] and again["headers"]["X-CRM-Delivery"] == delivery_id  # the same delivery
        assert again["body"]["data"] == post["body"]["data"]
        eventually(lambda: api.get(f"/deliveries/{delivery_id}").json()["status"] == "sent", timeout=10)
        assert api.delete(f"/webhooks/{webhook['id']}").status_code == 204


@pytest.mark.timeout(120)
def test_a_failing_receiver_gets_retries_then_the_delivery_and_a_replay_delivers_again(api):
    subject = f"Webhook retry e2e {uuid.uuid4().hex[:8]}"
    with receiver([500, 503, 200]) as hook:
        webhook = _subscribe(api, hook, subject)
        ticket = _ticket(api, subject)
        eventually(lambda: len(hook.delivered()) == 1, timeout=45)
        assert [post["answered"] for post in hook.posts] == [500, 503, 200]
        assert all(post["valid"] for post in hook.posts)
        assert len({post["headers"]["X-CRM-Delivery"] for post in hook.posts}) == 1  # one delivery, retried
        assert {post["body"]["data"]["id"] for post in hook.posts} == {ticket["id"]}

        eventually(lambda: _log(api, webhook["id"])[0]["status"] == "sent", timeout=10)
        (logged,) = _log(api, webhook["id"])
        assert logged["attempts"] == 3 and logged["last_error"] is None and logged["sent_at"]
        assert api.get(f"/webhooks/{webhook['id']}").json()["consecutive_failures"] == 0

        replay = api.post(f"/deliveries/{logged['id']}/replay")
        assert replay.status_code == 202, replay.text
        eventually(lambda: len(hook.delivered()) == 2, timeout=30)
        eventually(lambda: api.get(f"/deliveries/{logged['id']}").json()["status"] == "sent", timeout=10)
        replayed = api.get(f"/deliveries/{logged['id']}").json()
        assert replayed["replays"] == 1 and replayed["attempts"] == 1
        assert api.post(f"/deliveries/{uuid.uuid4().hex}/replay").status_code == 404
        assert api.delete(f"/webhooks/{webhook['id']}").status_code == 204
