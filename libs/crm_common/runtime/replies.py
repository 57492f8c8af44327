"""An RPC reply the broker cannot take must not kill the service.

nameko publishes a worker's reply from the worker's `handle_result`; when the broker is gone at that
moment (restarted, killed) the publish raises, the worker thread dies with the error and nameko
kills the whole container: the process exits instead of reconnecting. The call's effect is already
committed; only its answer is lost, which the caller sees as a timeout (503) and retries with the
same Idempotency-Key (README, Reliability). So a reply that cannot be sent is logged, the request is
acked (if its channel still lives; otherwise the broker gives the request back on its own), and the
service carries on. Installed when `crm_common.runtime` is imported.
"""

import logging

import amqp.exceptions
import kombu.exceptions
from nameko.rpc import RpcConsumer

log = logging.getLogger(__name__)

# a connection that went away while publishing: kombu wraps most, py-amqp and sockets raise the rest
BROKER_GONE = (
    kombu.exceptions.OperationalError,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableConnectionError,
    ConnectionError,
    OSError,
)

_send_and_ack = RpcConsumer.handle_result


def handle_result(self, message, result, exc_info):
    try:
        return _send_and_ack(self, message, result, exc_info)
    except BROKER_GONE as exc:
        log.warning(
            "could not send an RPC reply, the broker connection is gone (%s); the caller times out and retries",
            exc,
        )
        try:
            self.queue_consumer.ack_message(message)
        except Exception:  # the consumer's connection is gone too: the broker redelivers the request
            log.warning("could not ack the request whose reply was lost", exc_info=True)
        return result, exc_info


handle_result.__wrapped__ = _send_and_ack
RpcConsumer.handle_result = handle_result
