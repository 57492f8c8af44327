"""Calls from one service to another: bounded by a timeout, failures as typed errors."""

import eventlet
from nameko.exceptions import UnknownService
from nameko.rpc import RpcProxy

from ..config import float_setting
from ..errors import ServiceUnavailable


class ServiceRpc(RpcProxy):
    """nameko's RpcProxy waits for a reply forever: a worker calling a stopped service would hang
    and write late. Here every call gives up after RPC_CALL_TIMEOUT_SECONDS (default 5) with
    ServiceUnavailable, and so does a call to a service that has never run."""

    def get_dependency(self, worker_ctx) -> "_BoundedProxy":
        return _BoundedProxy(
            super().get_dependency(worker_ctx), self.target_service, float_setting("RPC_CALL_TIMEOUT_SECONDS", 5.0)
        )


class _BoundedProxy:
    def __init__(self, proxy, service: str, timeout: float):
        self._proxy, self._service, self._timeout = proxy, service, timeout

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
