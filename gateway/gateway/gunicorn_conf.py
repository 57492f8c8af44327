"""gunicorn settings for the gateway (`gunicorn -c python:gateway.gunicorn_conf ...`).

Several worker processes serve the API; Prometheus' multiprocess mode lets one scrape see all of
them. Set PROMETHEUS_MULTIPROC_DIR to a writable folder; it is emptied whenever the server starts.

Graceful shutdown (rolling updates): the first SIGTERM to the master (PID 1 in the container) does
not stop anything yet. It marks the server as draining, so every worker's /readyz answers 503
`"draining"` while the workers keep serving for SHUTDOWN_DRAIN_SECONDS (default 0; the image sets
5) — time for the endpoints to drop the pod. Then the master stops as gunicorn always does: the
listeners close, in-flight requests get `graceful_timeout` seconds to finish, stragglers are
killed. A second SIGTERM stops at once. Keep terminationGracePeriodSeconds above drain + graceful.
"""

import os
import shutil
import signal
import tempfile
import threading

from prometheus_client import multiprocess

# In-flight requests get this long after the drain delay (command-line flags still override it).
graceful_timeout = int(os.environ.get("GATEWAY_GRACEFUL_TIMEOUT_SECONDS", "20"))
# Where the draining mark lives: every worker checks it (see gateway.ops.draining).
DRAIN_FLAG_ENV = "GATEWAY_DRAIN_FLAG"


def _drain_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("SHUTDOWN_DRAIN_SECONDS", "0")))
    except ValueError:
        return 0.0


def on_starting(server) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
    # Workers inherit the master's environment when they are forked.
    flag = os.path.join(tempfile.gettempdir(), f"crm-gateway-{os.getpid()}.draining")
    os.environ[DRAIN_FLAG_ENV] = flag
    _remove(flag)


def when_ready(server) -> None:
    stop = server.handle_term  # gunicorn's: raise StopIteration, i.e. a graceful stop

    def handle_term():
        # The master's main loop calls this for a queued SIGTERM (not in the signal handler itself).
        flag = os.environ[DRAIN_FLAG_ENV]
        if os.path.exists(flag):
            return stop()  # a second SIGTERM, or the end of the drain delay
        delay = _drain_seconds()
        with open(flag, "w") as fh:
            fh.write("draining\n")
        server.log.warning("SIGTERM: readiness is down; stopping in %gs, then in-flight requests finish", delay)
        if delay == 0:
            return stop()
        timer = threading.Timer(delay, os.kill, (server.pid, signal.SIGTERM))
        timer.daemon = True
        timer.start()

    server.handle_term = handle_term  # the arbiter looks its signal handlers up by name


def on_exit(server) -> None:
    _remove(os.environ.get(DRAIN_FLAG_ENV, ""))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    # Each live event stream holds one of the gthread worker's threads: gateway.event_stream never
    # lets streams take more than half of them (see its module docstring).
    from gateway import event_stream

    event_stream.worker_threads = worker.cfg.threads
