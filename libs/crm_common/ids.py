"""Opaque, time-ordered identifiers: sorting by id follows creation order within a process."""

import os
import threading
import time

_lock = threading.Lock()
_last_ns = 0


def new_id() -> str:
    """16 hex digits of a strictly increasing nanosecond clock, then 10 random hex digits."""
    global _last_ns
    with _lock:
        now = time.time_ns()
        _last_ns = now if now > _last_ns else _last_ns + 1
        stamp = _last_ns
    return f"{stamp:016x}{os.urandom(5).hex()}"


def utc_now() -> str:
    """Current UTC time as ISO 8601 with microseconds and a Z suffix. The clock is read once: reading
    the seconds and the microseconds apart could stamp a time up to a second in the past."""
    micros = time.time_ns() // 1000
    seconds, fraction = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:06d}Z"
