"""The base every CRM nameko service class derives from: shared dependencies and ops entrypoints."""

from nameko.dependency_providers import Config

from ..envelope import new_event
from ..store import Transaction
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

    def emit(self, tx: Transaction, event_type: str, payload: dict) -> None:
        """Write an event into the outbox of `tx`, from this service, on behalf of the caller."""
        tx.emit(
            new_event(event_type, self.name, payload, actor=self.caller.user_id, correlation_id=self.caller.request_id)
        )

    def emit_many(self, tx: Transaction, event_type: str, payloads: list[dict]) -> None:
        """`emit` for several events of one type, written to the outbox in one bulk insert."""
        actor, correlation_id = self.caller.user_id, self.caller.request_id
        tx.emit_many(
            [new_event(event_type, self.name, p, actor=actor, correlation_id=correlation_id) for p in payloads]
        )
