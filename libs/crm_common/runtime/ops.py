"""Operations endpoints every service serves over HTTP: liveness, readiness and Prometheus metrics,
and the graceful shutdown that rolling updates rely on.

On SIGTERM (what Kubernetes sends first) a service
1. drops readiness at once: /readyz answers 503 with the check `"draining"`;
2. keeps working for SHUTDOWN_DRAIN_SECONDS (default 0; the images set 5), so that endpoints and
   load balancers stop routing to it before anything stops;
3. then stops the nameko container the way `nameko run` does: entrypoints stop first (no new RPC or
   event is taken), in-flight workers finish and ack, dependencies close. A message the process
   had received but not acked (prefetched, or in a worker the kubelet SIGKILLs at the end of
   terminationGracePeriodSeconds) is requeued by RabbitMQ when the connection closes, and handled
   again by another replica: event handlers are idempotent (see runtime.events).
A second SIGTERM skips the rest of the drain delay. The handler is installed only over the one
`nameko run` installs, never in a process that did not ask for SIGTERM handling (tests, shells).
"""

import json
import logging
import os
import signal
import time

import eventlet
import kombu
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

JSON = {"Content-Type": "application/json"}
log = logging.getLogger(__name__)


def drain_seconds() -> float:
    """SHUTDOWN_DRAIN_SECONDS: how long readiness is down before the container stops (default 0)."""
    try:
        return max(0.0, float(os.environ.get("SHUTDOWN_DRAIN_SECONDS", "0")))
    except ValueError:
        return 0.0


class _Shutdown:
    """Process-wide drain state: one SIGTERM handler per process, however many containers it runs."""

    def __init__(self) -> None:
        self.draining_since: float | None = None
        self._previous = None
        self._installed = False
        self._stopping = False

    @property
    def draining(self) -> bool:
        return self.draining_since is not None

    def install(self) -> None:
        if self._installed:
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return  # nobody handles SIGTERM here (not under `nameko run`): leave the default alone
        self._previous = previous
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self._installed = True

    def _on_sigterm(self, signum, frame) -> None:
        # Runs wherever the main thread was interrupted: no locks, no logging, no blocking here;
        # everything else happens in a greenlet (as nameko's own handler does).
        if self.draining:
            eventlet.spawn_n(self._stop, signum, frame)  # a second SIGTERM: stop now
            return
        self.draining_since = time.time()
        eventlet.spawn_n(self._stop_after, drain_seconds(), signum, frame)

    def _stop_after(self, delay: float, signum, frame) -> None:
        log.warning("SIGTERM: readiness is down; stopping in %gs, then in-flight work finishes", delay)
        eventlet.sleep(delay)
        self._stop(signum, frame)

    def _stop(self, signum, frame) -> None:
        if self._stopping:
            return
        self._stopping = True
        log.warning("stopping: no new work is taken; waiting for in-flight workers")
        self._previous(signum, frame)  # nameko's: spawns ServiceRunner.stop (container.stop each)


SHUTDOWN = _Shutdown()


class GracefulShutdown(DependencyProvider):
    """Installs the drain-first SIGTERM handler when the container starts (after `nameko run` has
    installed its own, which it then calls); injects the process's drain state."""

    def start(self) -> None:
        SHUTDOWN.install()

    def get_dependency(self, worker_ctx) -> _Shutdown:
        return SHUTDOWN


def broker_reachable(amqp_uri: str, timeout: float = 2.0) -> str | None:
    """None when the broker accepts a connection, else the reason."""
    try:
        with kombu.Connection(amqp_uri, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # any failure means "not ready"; the reason goes to the probe body
        return f"{type(exc).__name__}: {exc}"
    return None


class OpsEndpoints:
    """Mixed into each service class (see base.ServiceBase): `self.config` and `self.store`."""

    shutdown = GracefulShutdown()

    @http("GET", "/healthz")
    def healthz(self, request):
        # Liveness checks nothing external: a broker outage must not restart every pod.
        return 200, JSON, json.dumps({"status": "ok", "service": self.name})

    @http("GET", "/readyz")
    def readyz(self, request):
        if self.shutdown.draining:
            # Shutting down: out of rotation at once, whatever the dependencies say.
            body = {"ready": False, "checks": {"draining": "shutting down (SIGTERM received)"}}
            return 503, JSON, json.dumps(body)
        checks = {}
        for name, dependency in self.ready_checks().items():
            try:
                dependency.ping()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"{type(exc).__name__}: {exc}"
        problem = broker_reachable(self.config[AMQP_URI_CONFIG_KEY])
        checks["broker"] = problem or "ok"
        ready = all(v == "ok" for v in checks.values())
        return (200 if ready else 503), JSON, json.dumps({"ready": ready, "checks": checks})

    @http("GET", "/metrics")
    def metrics(self, request):
        try:
            self.refresh_metrics()
        except Exception:  # a gauge that cannot be read this time keeps its last value; the scrape goes on
            log.exception("refreshing the scrape-time metrics failed")
        return 200, {"Content-Type": CONTENT_TYPE_LATEST}, generate_latest().decode()

    def refresh_metrics(self) -> None:
        """Set the gauges read from the store at each scrape (a service overrides it; cheap reads only)."""

    def ready_checks(self) -> dict:
        return {"store": self.store}
