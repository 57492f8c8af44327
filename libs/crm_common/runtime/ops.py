"""Operations endpoints every service serves over HTTP: liveness, readiness and Prometheus metrics."""

import json

import kombu
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.web.handlers import http
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

JSON = {"Content-Type": "application/json"}


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

    @http("GET", "/healthz")
    def healthz(self, request):
        # Liveness checks nothing external: a broker outage must not restart every pod.
        return 200, JSON, json.dumps({"status": "ok", "service": self.name})

    @http("GET", "/readyz")
    def readyz(self, request):
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
        return 200, {"Content-Type": CONTENT_TYPE_LATEST}, generate_latest().decode()

    def ready_checks(self) -> dict:
        return {"store": self.store}
