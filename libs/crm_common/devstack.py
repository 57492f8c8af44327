"""Runs the whole platform on one machine: makes sure a RabbitMQ node answers, starts the five
services and the gateway as processes, waits until each is ready, and stops them again.
Used by `make run` / `make stop`, the end-to-end tests and the benchmark.

    python -m crm_common.devstack broker | up | down | status
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from .config import DEFAULT_AMQP_URI

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@dataclass(frozen=True)
class Component:
    name: str  # process name, also the env prefix of its HTTP address
    folder: str  # relative to the repository root
    target: str  # nameko service class, or None for the gateway
    port: int


SERVICES = (
    Component("contacts", "services/contacts", "contacts.service:ContactsService", 8101),
    Component("sales", "services/sales", "sales.service:SalesService", 8102),
    Component("service_desk", "services/service-desk", "service_desk.service:ServiceDeskService", 8103),
    Component("notifications", "services/notifications", "notifications.service:NotificationsService", 8104),
    Component("search", "services/search", "search.service:SearchService", 8105),
)
GATEWAY = Component("gateway", "gateway", "gateway.app:main_app()", 8000)


def free_port_offset(start: int, step: int = 1000, tries: int = 20) -> int:
    """The first offset from `start` at which every component's port is free on loopback, so two
    test runs (two checkouts, say) never talk to each other's processes."""
    for offset in range(start, start + step * tries, step):
        try:
            for component in (*SERVICES, GATEWAY):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", component.port + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError(f"no free block of ports found from offset {start}")


def amqp_answers(uri: str, timeout: float = 2.0) -> bool:
    parsed = urllib.parse.urlparse(uri)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_broker(uri: str) -> None:
    """Use the broker at `uri` if it answers; else start a local node (installing it as root)."""
    if amqp_answers(uri):
        return
    host = urllib.parse.urlparse(uri).hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"RabbitMQ at {uri} does not answer; start it or point AMQP_URI at one that does.")
    if shutil.which("rabbitmq-server") is None and not os.path.exists("/usr/sbin/rabbitmq-server"):
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            sys.exit(
                "RabbitMQ is not installed. Install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server) "
                "or set AMQP_URI to a running broker."
            )
        print("installing rabbitmq-server from the OS packages ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdin=subprocess.DEVNULL)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "rabbitmq-server"],
            check=True,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
    if os.geteuid() != 0:
        sys.exit(
            "RabbitMQ is installed but not running; start it (sudo service rabbitmq-server start) or set AMQP_URI."
        )
    print("starting a local RabbitMQ node ...", flush=True)
    subprocess.run(
        ["rabbitmq-server", "-detached"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        if (
            amqp_answers(uri)
            and subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=60).returncode == 0
        ):
            return
        time.sleep(1)
    sys.exit("RabbitMQ did not start within 90 s; see /var/log/rabbitmq/")


class Stack:
    """The six processes of the platform, with their ports, data folder and logs."""

    def __init__(self, var_dir: str, amqp_uri: str, *, port_offset: int = 0, extra_env: dict | None = None):
        self.var_dir = os.path.abspath(var_dir)
        self.amqp_uri = amqp_uri
        self.port_offset = port_offset
        self.extra_env = extra_env or {}
        self.run_dir = os.path.join(self.var_dir, "run")
        self.log_dir = os.path.join(self.var_dir, "log")
        self.data_dir = os.path.join(self.var_dir, "data")

    def port(self, component: Component) -> int:
        return component.port + self.port_offset

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.port(GATEWAY)}"

    def env(self) -> dict:
        env = {
            **os.environ,
            "AMQP_URI": self.amqp_uri,
            "CRM_DATA_DIR": self.data_dir,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        for service in SERVICES:
            env[f"{service.name.upper()}_HTTP_ADDRESS"] = f"127.0.0.1:{self.port(service)}"
        return env

    def command(self, component: Component) -> list[str]:
        bin_dir = os.path.dirname(sys.executable)
        if component is GATEWAY:
            return [
                os.path.join(bin_dir, "gunicorn"),
                "-c",
                "python:gateway.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{self.port(GATEWAY)}",
                "--worker-class",
                "gthread",
                "--workers",
                os.environ.get("GATEWAY_WORKERS", "2"),
                "--threads",
                os.environ.get("GATEWAY_THREADS", "8"),
                "--graceful-timeout",
                "20",
                component.target,
            ]
        return [os.path.join(bin_dir, "nameko"), "run", "--config", "config.yml", component.target]

    def pid_file(self, component: Component) -> str:
        return os.path.join(self.run_dir, f"{component.name}.pid")

    def start(self, component: Component) -> int:
        for folder in (self.run_dir, self.log_dir, self.data_dir):
            os.makedirs(folder, exist_ok=True)
        env = self.env()
        if component is GATEWAY:
            env["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(self.run_dir, "gateway-metrics")
        log = open(os.path.join(self.log_dir, f"{component.name}.log"), "ab")
        process = subprocess.Popen(
            self.command(component),
            cwd=os.path.join(ROOT, component.folder),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        with open(self.pid_file(component), "w") as fh:
            fh.write(str(process.pid))
        return process.pid

    def pid(self, component: Component) -> int | None:
        """The running process's id, or None (an exited child of ours is reaped here)."""
        try:
            with open(self.pid_file(component)) as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            return None
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return None
        except ChildProcessError:
            pass  # started by another process (make run): fall back to signalling it
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def ready(self, component: Component) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port(component)}/readyz", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, components=None, timeout: float = 60.0) -> None:
        pending = list(components or (*SERVICES, GATEWAY))
        deadline = time.time() + timeout
        while pending and time.time() < deadline:
            pending = [c for c in pending if not self.ready(c)]
            if pending:
                dead = [c.name for c in pending if self.pid(c) is None]
                if dead:
                    raise RuntimeError(f"{', '.join(dead)} exited; see {self.log_dir}")
                time.sleep(0.3)
        if pending:
            raise RuntimeError(
                f"not ready after {timeout:g}s: {', '.join(c.name for c in pending)}; see {self.log_dir}"
            )

    def declare_topology(self) -> None:
        """Every consumer's event queue exists before any producer publishes (see runtime.topology)."""
        done = subprocess.run(
            [sys.executable, "-m", "crm_common.runtime.topology", *(s.target for s in SERVICES)],
            env=self.env(),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise RuntimeError(f"declaring the event queues failed:\n{done.stderr[-2000:]}")

    def up(self) -> None:
        self.declare_topology()
        for component in (*SERVICES, GATEWAY):
            if self.pid(component) is None:
                self.start(component)
        self.wait_ready()

    def stop(self, component: Component, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        pid = self.pid(component)
        if pid is None:
            return
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + timeout
        while time.time() < deadline and self.pid(component) is not None:
            time.sleep(0.1)
        if self.pid(component) is not None:
            os.killpg(pid, signal.SIGKILL)
        os.remove(self.pid_file(component))

    def down(self) -> None:
        for component in (GATEWAY, *SERVICES):
            self.stop(component)

    def status(self) -> dict:
        return {c.name: {"pid": self.pid(c), "ready": self.ready(c)} for c in (*SERVICES, GATEWAY)}


def main(argv: list[str]) -> None:
    uri = os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)
    # A laptop platform runs in development mode: the gateway accepts its documented default secrets.
    mode = {"CRM_ENV": os.environ.get("CRM_ENV", "development")}
    stack = Stack(os.environ.get("CRM_VAR_DIR", os.path.join(ROOT, "var")), uri, extra_env=mode)
    verb = argv[0] if argv else "status"
    if verb == "broker":
        ensure_broker(uri)
    elif verb == "up":
        ensure_broker(uri)
        stack.up()
    elif verb == "down":
        stack.down()
    elif verb == "status":
        print(json.dumps(stack.status(), indent=2))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
