"""Helpers for tests across the repository."""
import time
from typing import Callable, TypeVar

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
