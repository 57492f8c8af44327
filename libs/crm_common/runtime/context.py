"""Per-worker context: the caller the gateway vouched for, the request id, and worker metrics."""

import time

from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc

from ..caller import Caller
from ..logs import set_request_id
from ..metrics import RPC_LATENCY


class CallerContext(DependencyProvider):
    """Injects the Caller; also puts the request id on every log line the worker writes."""

    def worker_setup(self, worker_ctx) -> None:
        set_request_id(worker_ctx.context_data.get("request_id") or None)

    def get_dependency(self, worker_ctx) -> Caller:
        return Caller.from_context(worker_ctx.context_data)

    def worker_teardown(self, worker_ctx) -> None:
        set_request_id(None)


class RpcMetrics(DependencyProvider):
    """Observes the latency and outcome of every RPC the service serves."""

    def setup(self) -> None:
        self._started: dict[int, float] = {}

    def worker_setup(self, worker_ctx) -> None:
        if isinstance(worker_ctx.entrypoint, Rpc):
            self._started[id(worker_ctx)] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        started = self._started.pop(id(worker_ctx), None)
        if started is None:
            return
        outcome = "ok" if exc_info is None else type(exc_info[1]).__name__
        RPC_LATENCY.labels(self.container.service_name, worker_ctx.entrypoint.method_name, outcome).observe(
            time.perf_counter() - started
        )

    def get_dependency(self, worker_ctx) -> None:
        return None
