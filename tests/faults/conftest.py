"""Fixtures of the fault-injection suite: a platform of its own (faults kill its processes), on a
RabbitMQ node of its own when this machine can start one (the broker faults restart and kill -9 that
node, never the shared one), in a private vhost either way.

FAULTS_LONG=1 runs the long form (more operations, longer stalls) and prints the counts table."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

import pytest

from crm_common.config import DEFAULT_AMQP_URI
from crm_common.devstack import Stack, free_port_offset

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if ROOT not in sys.path:  # `from tests.faults import ...` also under a bare `pytest`
    sys.path.insert(0, ROOT)

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_SETTINGS, Api  # noqa: E402
from tests.faults.report import COUNTS  # noqa: E402

LONG = os.environ.get("FAULTS_LONG") == "1"
FAULTS_PORT_OFFSET = 3100  # away from `make run` and the e2e stack's block


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """The RabbitMQ the fault stack talks to. `private` when it is a node of the suite's own (started
    here as root with its own name, ports and data), which the broker faults may stop and kill."""

    def __init__(self, uri: str, node: str | None = None, env: dict | None = None, base: str | None = None):
        self.uri, self.node, self._env, self.base = uri, node, env, base

    @property
    def private(self) -> bool:
        return self.node is not None

    @property
    def vhost(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlparse(self.uri).path.lstrip("/")) or "/"

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        node = ["-n", self.node] if self.node else []
        return subprocess.run(
            ["rabbitmqctl", "-q", *node, *args], capture_output=True, text=True, timeout=timeout, check=check
        )

    # lifecycle of a private node
    def start_node(self, timeout: float = 90) -> None:
        log = open(os.path.join(self.base, "server.out"), "ab")
        subprocess.Popen(
            ["rabbitmq-server"], env=self._env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        self.await_startup(timeout)

    def await_startup(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.ctl("await_startup", "--timeout", "20", timeout=30, check=False).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"RabbitMQ node {self.node} did not start within {timeout:g}s; see {self.base}")

    def beam_pid(self) -> int | None:
        try:
            with open(os.path.join(self.base, "node.pid")) as fh:
                pid = int(fh.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def restart_graceful(self) -> None:
        """`rabbitmqctl stop_app` / `start_app`: the node (and its durable data) stays."""
        self.ctl("stop_app")
        time.sleep(1.0)
        self.ctl("start_app")
        self.await_startup()

    def kill_and_restart(self, down_seconds: float = 1.0) -> None:
        """kill -9 of the beam process, then a fresh start of the same node on the same data."""
        pid = self.beam_pid()
        assert pid, "no beam pid for the private node"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        time.sleep(down_seconds)
        self.start_node()

    def stop_node(self) -> None:
        try:
            self.ctl("stop", timeout=60, check=False)
        except subprocess.TimeoutExpired:
            pass
        pid = self.beam_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)


def _can_start_private_node(base_uri: str) -> bool:
    host = urllib.parse.urlparse(base_uri).hostname
    return (
        host in ("127.0.0.1", "localhost")
        and os.geteuid() == 0
        and shutil.which("rabbitmqctl") is not None
        and (shutil.which("rabbitmq-server") is not None or os.path.exists("/usr/sbin/rabbitmq-server"))
    )


@pytest.fixture(scope="session")
def fault_broker():
    base_uri = os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)
    if not _can_start_private_node(base_uri):
        # The shared broker, in a private vhost: every fault but the broker restarts runs.
        from crm_common.testing import private_vhost

        with private_vhost(base_uri) as uri:
            yield Broker(uri)
        return
    base = tempfile.mkdtemp(prefix="crm-faults-rmq-")
    for sub in ("mnesia", "log"):
        os.makedirs(os.path.join(base, sub))
    with open(os.path.join(base, "enabled_plugins"), "w") as fh:
        fh.write("[].\n")
    try:  # rabbitmq-server drops to the rabbitmq user when started as root
        shutil.chown(base, "rabbitmq", "rabbitmq")
        for dirpath, dirnames, filenames in os.walk(base):
            for name in dirnames + filenames:
                shutil.chown(os.path.join(dirpath, name), "rabbitmq", "rabbitmq")
    except (LookupError, OSError):
        pass
    amqp_port, dist_port = _free_port(), _free_port()
    node = f"crmfaults{uuid.uuid4().hex[:6]}@{socket.gethostname().split('.')[0]}"
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": os.path.join(base, "mnesia"),
        "RABBITMQ_LOG_BASE": os.path.join(base, "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(base, "enabled_plugins"),
        "RABBITMQ_PID_FILE": os.path.join(base, "node.pid"),
    }
    vhost = f"crm-faults-{uuid.uuid4().hex[:8]}"
    broker = Broker(f"amqp://guest:guest@127.0.0.1:{amqp_port}/{vhost}", node, env, base)
    try:
        broker.start_node()
        broker.ctl("add_vhost", vhost)
        broker.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield broker
    finally:
        broker.stop_node()
        shutil.rmtree(base, ignore_errors=True)


# Faults settings: as the e2e suite's, with the gateway's RPC timeout short enough that a stalled
# service costs a request 3 s, not 10.
FAULT_SETTINGS = {**TEST_SETTINGS, "GATEWAY_RPC_TIMEOUT_SECONDS": "3", "IDEMPOTENCY_PENDING_SECONDS": "20"}


@pytest.fixture(scope="session")
def fault_stack(fault_broker, tmp_path_factory):
    platform = Stack(
        str(tmp_path_factory.mktemp("faults-platform")),
        fault_broker.uri,
        port_offset=free_port_offset(FAULTS_PORT_OFFSET),
        extra_env=dict(FAULT_SETTINGS),
    )
    try:
        platform.up()
        yield platform
    finally:
        platform.down()


@pytest.fixture(scope="session")
def admin(fault_stack) -> Api:
    return Api(fault_stack.gateway_url, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture(scope="session")
def rep(admin) -> Api:
    """The owner of every customer the load creates: notifications about them go to this inbox."""
    return admin.new_user(f"faults-rep-{uuid.uuid4().hex[:6]}@e2e.test", ["sales_rep"])


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        terminalreporter.section("fault injection: counts per fault")
        for line in COUNTS.table():
            terminalreporter.write_line(line)
