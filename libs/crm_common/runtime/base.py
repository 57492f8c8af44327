"""The base every CRM nameko service class derives from: shared dependencies and ops entrypoints."""
from nameko.dependency_providers import Config

from .context import CallerContext, RpcMetrics
from .events import DeadLetterRpc
from .ops import OpsEndpoints
from .outbox import OutboxRelay


class ServiceBase(OpsEndpoints, DeadLetterRpc):
    """Subclasses set `name` and `store = Store(SPECS)`; everything else comes from here."""

    config = Config()
    caller = CallerContext()
    rpc_metrics = RpcMetrics()
    relay = OutboxRelay()
