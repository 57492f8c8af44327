"""Calls from one service to another: bounded by a timeout, failures as typed errors."""

import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy, ServiceProxy

from ..config import float_setting
from ..errors import ServiceUnavailable
from .idempotency import CONTEXT_KEY as IDEMPOTENCY_KEY

CALLER_KEY = "caller"  # the context-data key the gateway's caller travels under (see caller.Caller)


class ServiceRpc(RpcProxy):
    """nameko's RpcProxy waits for a reply forever: a worker calling a stopped service would hang
    and write late. Here every call gives up after RPC_CALL_TIMEOUT_SECONDS (default 5) with
    ServiceUnavailable, and so does a call to a service that has never run.

    Calls carry the worker's context, so the callee sees the same caller (and enforces that
    caller's visibility). `proxy.as_system()` calls without the caller instead, as the platform
    itself: only for checks the service makes on its own behalf, never to hand data to the caller."""

    def get_dependency(self, worker_ctx) -> "_BoundedProxy":
        timeout = float_setting("RPC_CALL_TIMEOUT_SECONDS", 5.0)
        system = ServiceProxy(SystemContext(worker_ctx), self.target_service, self.rpc_reply_listener, **self.options)
        outgoing = ServiceProxy(
            OutgoingContext(worker_ctx), self.target_service, self.rpc_reply_listener, **self.options
        )
        return _BoundedProxy(
            outgoing,
            self.target_service,
            timeout,
            _BoundedProxy(system, self.target_service, timeout),
        )


class OutgoingContext:
    """The worker context as a call to another service sees it: without the client's idempotency
    key, which deduplicates only the call the gateway made (see runtime/idempotency.py)."""

    dropped: tuple[str, ...] = (IDEMPOTENCY_KEY,)

    def __init__(self, worker_ctx):
        self._worker_ctx = worker_ctx

    @property
    def context_data(self) -> dict:
        data = dict(self._worker_ctx.context_data)
        for key in self.dropped:
            data.pop(key, None)
        return data

    def __getattr__(self, name: str):
        return getattr(self._worker_ctx, name)


class SystemContext(OutgoingContext):
    """A worker context whose outgoing calls carry no caller (the callee acts as `system`) but keep
    the request id and call-id stack, so logs and traces still join up."""

    dropped = (CALLER_KEY, IDEMPOTENCY_KEY)


class _BoundedProxy:
    def __init__(self, proxy, service: str, timeout: float, system: "_BoundedProxy | None" = None):
        self._proxy, self._service, self._timeout, self._system = proxy, service, timeout, system

    def as_system(self) -> "_BoundedProxy":
        return self._system or self

    def __getattr__(self, method: str):
        remote = getattr(self._proxy, method)

        def call(*args, **kwargs):
            try:
                with eventlet.Timeout(self._timeout):
                    return remote(*args, **kwargs)
            except eventlet.Timeout:
                raise ServiceUnavailable(
                    f"the {self._service} service did not answer within {self._timeout:g}s"
                ) from None
            except UnknownService:
                raise ServiceUnavailable(f"the {self._service} service is not running") from None

        return call
