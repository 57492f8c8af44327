"""Two notifications instances at once, end to end: a second `nameko run` of the service beside the
stack's own, on the same SQLite store and the same RabbitMQ vhost (only its ops port differs),
both running their campaign timer and their dispatcher every second. A greeting campaign due now
reaches each member of its segment exactly once: once on the suite's real SMTP server, once in
the delivery log. (services/notifications/tests/test_campaigns.py races two store connections in
threads; this is the same guarantee with two real processes.)"""

import os
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from crm_common.devstack import ROOT, SERVICES, Stack
from crm_common.testing import eventually

NOTIFICATIONS = next(component for component in SERVICES if component.name == "notifications")
MEMBERS = 5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


class SecondInstance:
    """Another notifications process with the stack's environment and its own ops port."""

    def __init__(self, stack: Stack):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**stack.env(), "NOTIFICATIONS_HTTP_ADDRESS": f"127.0.0.1:{self.port}"}
        self.log_path = os.path.join(stack.log_dir, "notifications-second.log")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                stack.command(NOTIFICATIONS),
                cwd=os.path.join(ROOT, NOTIFICATIONS.folder),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process.poll() is None and _answers(self.url + "/healthz")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not _answers(self.url + "/readyz"):
            assert self.process.poll() is None, f"the second instance exited; see {self.log_path}"
            assert time.monotonic() < deadline, f"the second instance not ready after {timeout:g}s; see {self.log_path}"
            time.sleep(0.3)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


@pytest.fixture
def second_instance(stack) -> Iterator[SecondInstance]:
    instance = SecondInstance(stack)
    try:
        instance.wait_ready()
        yield instance
    finally:
        instance.stop()


@pytest.mark.timeout(180)
def test_two_instances_send_each_scheduled_greeting_exactly_once(api, mailbox, stack, second_instance):
    _, box = mailbox
    first_url = f"http://127.0.0.1:{stack.port(NOTIFICATIONS)}"

    def both_running() -> None:
        assert stack.pid(NOTIFICATIONS) is not None and _answers(first_url + "/healthz"), "the stack's instance"
        assert second_instance.alive(), f"the second instance; see {second_instance.log_path}"

    both_running()
    tag = f"twice{uuid.uuid4().hex[:8]}"
    addresses = [f"member{n}-{tag}@mail.test" for n in range(MEMBERS)]
    contacts = [
        api.create("/contacts", {"first_name": f"Member{n}", "last_name": tag, "email": email, "tags": [tag]})
        for n, email in enumerate(addresses)
    ]
    segment = api.create(
        "/segments", {"name": f"Two instances {tag}", "entity": "contact", "filter": {"tags": {"contains": tag}}}
    )
    due = datetime.now(UTC) - timedelta(minutes=1)
    campaign = api.create(
        "/campaigns",
        {
            "name": f"Two instances {tag}",
            "kind": "one_off",
            "send_at": due.date().isoformat(),
            "local_time": due.strftime("%H:%M"),
            "time_zone": "UTC",
            "quiet_hours": None,
            "throttle_per_minute": 600,  # all due within the first second: both dispatchers have work at once
            "segment_id": segment["id"],
            "channel": "email",
            "template_key": "greeting_birthday",
        },
    )
    try:

        def delivered() -> list[dict]:
            both_running()
            assert all(box.to(address) for address in addresses)
            page = api.get("/deliveries", params={"campaign_id": campaign["id"], "limit": 200})
            assert page.status_code == 200, page.text
            logged = page.json()["data"]
            assert len(logged) >= MEMBERS and all(d["status"] == "sent" for d in logged), logged
            return logged

        logged = eventually(delivered, timeout=30, interval=0.3)
        time.sleep(3)  # three more timer and dispatcher passes on each instance: nothing more may arrive
        both_running()

        assert {address: len(box.to(address)) for address in addresses} == {address: 1 for address in addresses}
        logged = api.get("/deliveries", params={"campaign_id": campaign["id"], "limit": 200}).json()["data"]
        assert Counter(d["contact_id"] for d in logged) == Counter(c["id"] for c in contacts)
        assert Counter(d["to"] for d in logged) == Counter(addresses)
        assert all(d["status"] == "sent" and d["attempts"] == 1 for d in logged), logged
    finally:
        assert api.delete(f"/campaigns/{campaign['id']}").status_code == 204
