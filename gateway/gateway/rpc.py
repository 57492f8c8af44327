"""A thread-safe nameko RPC client pool over pika.

Each client owns one AMQP connection, one exclusive reply queue and one I/O thread; any number of
request threads share it, matched to replies by correlation id. This avoids the naive pattern of a
standalone nameko proxy per thread (a connection and a reply queue each) that caps throughput.
"""

import itertools
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pika
from flask import g, has_request_context
from pika.exceptions import AMQPError

from crm_common.caller import Caller
from crm_common.errors import CrmError, ServiceUnavailable, error_from_remote

log = logging.getLogger(__name__)

RPC_EXCHANGE = "nameko-rpc"


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict | None = None
    failure: CrmError | None = None


class RemoteFailure(Exception):
    """A service raised something that is not one of the shared error types (a bug there)."""


class RpcClient:
    def __init__(self, amqp_uri: str, *, name: str = "gateway"):
        self._params = pika.URLParameters(amqp_uri)
        self._params.heartbeat = 30
        self._params.blocked_connection_timeout = 30
        self._name = name
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._closing = False
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._reply_queue = ""
        self._thread = threading.Thread(target=self._run, name=f"rpc-{name}", daemon=True)
        self._thread.start()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _run(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                self._connect()
                delay = 0.2
                while not self._closing:
                    self._connection.process_data_events(time_limit=1)
            except (AMQPError, OSError) as exc:
                log.warning("RPC connection lost (%s); reconnecting", exc)
            finally:
                self._connected.clear()
                self._fail_all(ServiceUnavailable("lost the connection to the message broker"))
                self._close_connection()
            if not self._closing:
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _connect(self) -> None:
        connection = pika.BlockingConnection(self._params)
        channel = connection.channel()
        channel.exchange_declare(RPC_EXCHANGE, "topic", durable=True)
        queue = channel.queue_declare(
            f"rpc.reply-{self._name}-{uuid.uuid4().hex}", exclusive=True, auto_delete=True
        ).method.queue
        channel.queue_bind(queue, RPC_EXCHANGE, routing_key=queue)
        channel.basic_consume(queue, self._on_reply, auto_ack=True)
        channel.add_on_return_callback(self._on_return)
        self._connection, self._channel, self._reply_queue = connection, channel, queue
        self._connected.set()

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except (AMQPError, OSError):
                pass

    def _fail_all(self, failure: CrmError) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for call in pending.values():
            call.failure = failure
            call.done.set()

    def _resolve(self, correlation_id: str | None, **outcome: Any) -> None:
        with self._lock:
            call = self._pending.pop(correlation_id or "", None)
        if call is not None:
            call.reply = outcome.get("reply")
            call.failure = outcome.get("failure")
            call.done.set()

    def _on_reply(self, channel, method, properties, body: bytes) -> None:
        try:
            reply = json.loads(body)
        except ValueError:
            reply = {"error": {"exc_type": "MalformedReply", "value": "unreadable reply"}}
        self._resolve(properties.correlation_id, reply=reply)

    def _on_return(self, channel, method, properties, body: bytes) -> None:
        service = method.routing_key.split(".", 1)[0]
        self._resolve(properties.correlation_id, failure=ServiceUnavailable(f"the {service} service is not running"))

    def call(
        self, service: str, method: str, kwargs: dict, caller: Caller, timeout: float, context: dict | None = None
    ) -> Any:
        if not self._connected.wait(timeout=min(timeout, 2.0)):
            raise ServiceUnavailable("the message broker is unreachable")
        correlation_id = uuid.uuid4().hex
        call = _Pending()
        with self._lock:
            self._pending[correlation_id] = call
        properties = pika.BasicProperties(
            reply_to=self._reply_queue,
            correlation_id=correlation_id,
            content_type="application/json",
            content_encoding="utf-8",
            # A request the gateway gave up on must not run later: it expires with the timeout.
            expiration=str(int(timeout * 1000)),
            headers={
                "nameko.request_id": caller.request_id or "",
                "nameko.caller": caller.to_header(),
                "nameko.call_id_stack": [f"gateway.{correlation_id}"],
                **{f"nameko.{name}": value for name, value in (context or {}).items()},
            },
        )
        body = json.dumps({"args": [], "kwargs": kwargs}, separators=(",", ":"))
        routing_key = f"{service}.{method}"
        try:
            connection = self._connection
            connection.add_callback_threadsafe(
                lambda: self._channel.basic_publish(RPC_EXCHANGE, routing_key, body, properties, mandatory=True)
            )
        except (AttributeError, AMQPError):
            self._resolve(correlation_id, failure=ServiceUnavailable("the message broker is unreachable"))
        if not call.done.wait(timeout):
            with self._lock:
                self._pending.pop(correlation_id, None)
            raise ServiceUnavailable(f"the {service} service did not answer within {timeout:g}s")
        if call.failure is not None:
            raise call.failure
        return _result(call.reply)

    def close(self) -> None:
        self._closing = True
        self._thread.join(timeout=3)


def _result(reply: dict) -> Any:
    error = reply.get("error")
    if not error:
        return reply.get("result")
    typed = error_from_remote(error.get("exc_path"), error.get("exc_args"))
    if typed is not None:
        raise typed
    raise RemoteFailure(f"{error.get('exc_type')}: {error.get('value')}")


def request_context_data() -> dict:
    """Context data of the HTTP request being served that every RPC it makes carries: the scoped
    Idempotency-Key of a keyed POST (set by idempotency._begin), so the service deduplicates it."""
    if has_request_context():
        key = g.get("idempotency_rpc_key")
        if key:
            return {"idempotency_key": key}
    return {}


class RpcPool:
    """A fixed set of multiplexed clients, handed out round-robin to request threads."""

    def __init__(self, amqp_uri: str, size: int = 2, timeout: float = 10.0):
        self.timeout = timeout
        self._clients = [RpcClient(amqp_uri, name=f"gateway-{i}") for i in range(size)]
        self._next = itertools.count()

    def call(self, service: str, method: str, caller: Caller, timeout: float | None = None, **kwargs: Any) -> Any:
        client = self._clients[next(self._next) % len(self._clients)]
        return client.call(service, method, kwargs, caller, timeout or self.timeout, request_context_data())

    @property
    def connected(self) -> bool:
        return any(c.connected for c in self._clients)

    def close(self) -> None:
        for client in self._clients:
            client.close()
