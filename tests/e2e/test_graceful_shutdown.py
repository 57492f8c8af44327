"""Graceful shutdown under rolling updates, on real processes and a real RabbitMQ:
on SIGTERM readiness drops first (/readyz 503 "draining"), in-flight RPCs and event handlers finish
within the grace period, and work cut off by the kubelet's SIGKILL at the end of the grace period is
redelivered to the next replica (unacked messages go back to the queue). The gateway (gunicorn) drains
the same way. Every wait is bounded."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from crm_common.envelope import new_event
from crm_common.testing import eventually

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)
DRAIN_SECONDS = 1.5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _readyz(port: int) -> tuple[int, dict] | None:
    try:
        response = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
    except requests.RequestException:
        return None
    return response.status_code, response.json()


def _lines(path: str) -> int:
    try:
        with open(path) as fh:
            return len(fh.readlines())
    except FileNotFoundError:
        return 0


def _watch_readiness(port: int, process: subprocess.Popen, seen: list) -> threading.Thread:
    """Records every /readyz answer (status, body, time) until the process exits."""

    def watch():
        while process.poll() is None:
            answer = _readyz(port)
            seen.append((time.monotonic(), answer))
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


class ProbeService:
    """`nameko run` of tests/e2e/drain_probe_service.py, as the image runs a service."""

    def __init__(self, tmp_path, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.port = _free_port()
        self.data = tmp_path / "data"
        self.data.mkdir(exist_ok=True)
        self.config = tmp_path / "config.yml"
        self.config.write_text(
            f"AMQP_URI: {amqp_uri}\nWEB_SERVER_ADDRESS: 127.0.0.1:{self.port}\nmax_workers: 4\n"
            "serializer: json\nparent_calls_tracked: 10\n"
        )
        self.log = tmp_path / "service.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        env = {
            **os.environ,
            "AMQP_URI": self.amqp_uri,
            "CRM_DATA_DIR": str(self.data),
            "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(
            [os.path.join(BIN, "nameko"), "run", "--config", str(self.config), "drain_probe_service:DrainProbeService"],
            cwd=HERE,
            env=env,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        eventually(lambda: self._ready_or_dead(), timeout=30)
        return self.process

    def _ready_or_dead(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        answer = _readyz(self.port)
        return answer is not None and answer[0] == 200

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def probe(tmp_path, amqp_uri):
    service = ProbeService(tmp_path, amqp_uri)
    try:
        yield service
    finally:
        service.stop()


def _publish(amqp_uri: str, marker: str, seconds: float) -> None:
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri, "serializer": "json"})
    event = new_event("probe.slow", "drain_probe_source", {"marker": marker, "seconds": seconds})
    dispatch("drain_probe_source", "probe.slow", event.as_dict())


def test_sigterm_drops_readiness_first_and_finishes_in_flight_rpc_and_event(probe, amqp_uri, tmp_path):
    process = probe.start()
    rpc_marker, event_marker = str(tmp_path / "rpc"), str(tmp_path / "event")
    result: dict = {}

    def call():
        with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=30) as cluster:
            result["value"] = cluster.drain_probe.slow(3.0, rpc_marker)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    _publish(amqp_uri, event_marker, 3.0)
    eventually(lambda: _lines(rpc_marker + ".started") == 1 and _lines(event_marker + ".started") == 1, timeout=15)

    seen: list = []
    terminated_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    watcher = _watch_readiness(probe.port, process, seen)
    assert process.wait(timeout=30) == 0, probe.log.read_text()[-3000:]
    exited_at = time.monotonic()
    watcher.join(5)
    caller.join(10)

    # Readiness dropped at once, with the reason, while the process was still finishing its work.
    draining = [at for at, answer in seen if answer and answer[0] == 503 and "draining" in answer[1]["checks"]]
    assert draining, seen[:5]
    assert draining[0] - terminated_at < 1.0
    assert not [a for at, a in seen if at > draining[0] and a and a[0] == 200], "readiness came back"
    # The process waited for the drain delay, then for its in-flight workers, which completed.
    assert exited_at - terminated_at >= DRAIN_SECONDS
    assert result.get("value") == "done"
    assert _lines(rpc_marker + ".done") == 1
    assert _lines(event_marker + ".done") == 1 and _lines(event_marker + ".started") == 1


def test_work_cut_off_by_the_grace_period_is_redelivered(probe, amqp_uri, tmp_path):
    """A handler still running when the kubelet SIGKILLs the pod never acked its message: RabbitMQ
    requeues it and the next process handles it (once: the handlers are idempotent)."""
    process = probe.start()
    marker = str(tmp_path / "long")
    _publish(amqp_uri, marker, 60.0)
    eventually(lambda: _lines(marker + ".started") == 1, timeout=15)

    process.send_signal(signal.SIGTERM)
    eventually(lambda: (_readyz(probe.port) or (0,))[0] == 503, timeout=5)
    # The "grace period" (here DRAIN_SECONDS + 1 s) ends with the handler still busy: SIGKILL.
    time.sleep(DRAIN_SECONDS + 1.0)
    assert process.poll() is None, "the process must wait for its in-flight handler"
    process.kill()
    process.wait(10)
    assert _lines(marker + ".done") == 0

    probe.start()  # the next replica
    eventually(lambda: _lines(marker + ".done") == 1, timeout=20)
    assert _lines(marker + ".started") == 2


def test_gateway_drops_readiness_first_then_stops_gracefully(tmp_path, amqp_uri):
    """gunicorn master gets SIGTERM (as PID 1 in the pod): /readyz turns 503 "draining" while the
    workers keep serving for SHUTDOWN_DRAIN_SECONDS; then the workers stop gracefully."""
    port = _free_port()
    env = {
        **os.environ,
        "AMQP_URI": amqp_uri,
        "CRM_DATA_DIR": str(tmp_path / "data"),
        "CRM_ENV": "development",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "TMPDIR": str(tmp_path),
    }
    log = tmp_path / "gateway.log"
    process = subprocess.Popen(
        [
            os.path.join(BIN, "gunicorn"),
            "-c",
            "python:gateway.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
            "--worker-class",
            "gthread",
            "--workers",
            "2",
            "--threads",
            "4",
            "gateway.app:main_app()",
        ],
        cwd=os.path.join(ROOT, "gateway"),
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:

        def ready():
            assert process.poll() is None, log.read_text()[-3000:]
            answer = _readyz(port)
            return answer is not None and answer[0] == 200

        eventually(ready, timeout=30)
        seen: list = []
        terminated_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        watcher = _watch_readiness(port, process, seen)
        assert process.wait(timeout=30) == 0, log.read_text()[-3000:]
        exited_at = time.monotonic()
        watcher.join(5)

        draining = [at for at, answer in seen if answer and answer[0] == 503 and "draining" in answer[1]["checks"]]
        assert draining, seen[:5]
        assert draining[0] - terminated_at < 1.0
        # Still serving (503 on /readyz, 200 on /healthz) for the drain delay, then gone.
        assert draining[-1] - terminated_at >= DRAIN_SECONDS - 0.5
        assert exited_at - terminated_at >= DRAIN_SECONDS
        assert not [name for name in os.listdir(tmp_path) if name.endswith(".draining")], "drain flag left behind"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
