"""Helpers for tests across the repository."""

import shutil
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Call `probe` until it returns a truthy value or stops raising AssertionError; then return it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
            if value:
                return value
            failure = AssertionError(f"probe returned {value!r}")
        except AssertionError as exc:
            failure = exc
        if time.monotonic() > deadline:
            raise failure
        time.sleep(interval)


@contextmanager
def private_vhost(base_uri: str) -> Iterator[str]:
    """A fresh vhost on the local RabbitMQ node for one test run, deleted afterwards.
    A broker elsewhere (AMQP_URI not on loopback) is used as given: tests never touch other vhosts."""
    parsed = urllib.parse.urlparse(base_uri)
    if parsed.hostname not in ("127.0.0.1", "localhost") or shutil.which("rabbitmqctl") is None:
        yield base_uri
        return
    vhost = f"crm-test-{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, parsed.username or "guest", ".*", ".*", ".*")
        yield parsed._replace(path="/" + vhost).geturl()
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)
