"""A tiny CRM service for tests/e2e/test_graceful_shutdown.py: the real ServiceBase (ops endpoints,
SIGTERM handling, reliable events) with one slow RPC and one slow event handler.

Run by that test with `nameko run drain_probe_service:DrainProbeService` from this folder."""

import os
import time

from nameko.rpc import rpc

from crm_common.runtime.base import ServiceBase
from crm_common.runtime.events import handle_event
from crm_common.runtime.store import Store

SOURCE = "drain_probe_source"


def _mark(path: str) -> int:
    """Append one line to `path`; the number of lines it now has."""
    with open(path, "a") as fh:
        fh.write(f"{os.getpid()}\n")
    with open(path) as fh:
        return len(fh.readlines())


class DrainProbeService(ServiceBase):
    name = "drain_probe"
    store = Store(())

    @rpc
    def slow(self, seconds: float, marker: str) -> str:
        _mark(marker + ".started")
        time.sleep(seconds)  # green under `nameko run` (eventlet monkey-patches time)
        _mark(marker + ".done")
        return "done"

    @handle_event(SOURCE, "probe.slow")
    def on_slow(self, tx, event) -> None:
        marker = event.payload["marker"]
        attempt = _mark(marker + ".started")
        # The first delivery takes `seconds`; a redelivery (after a kill) finishes at once.
        time.sleep(event.payload["seconds"] if attempt == 1 else 0)
        _mark(marker + ".done")
