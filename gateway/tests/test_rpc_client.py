"""The gateway's pooled RPC client against a real RabbitMQ: fast failures, timeouts, typed errors."""

import json
import threading
import time
import uuid

import pika
import pytest
from flask import Flask, g

from crm_common.caller import Caller
from crm_common.errors import NotFound, ServiceUnavailable, ValidationFailed
from gateway.rpc import RPC_EXCHANGE, RemoteFailure, RpcPool

CALLER = Caller("usr-test", ("admin",), ("team-1",), "req-rpc-test")


class FakeService:
    """A minimal nameko-protocol responder on a private routing key, answering from `reply`."""

    def __init__(self, amqp_uri: str, name: str, reply):
        self.name, self.reply, self.seen = name, reply, []
        self._uri = amqp_uri
        self._ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _serve(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self._uri))
        channel = connection.channel()
        channel.exchange_declare(RPC_EXCHANGE, "topic", durable=True)
        queue = channel.queue_declare(f"rpc-{self.name}", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, RPC_EXCHANGE, routing_key=f"{self.name}.*")

        def on_request(ch, method, properties, body):
            self.seen.append(
                {"routing_key": method.routing_key, "body": json.loads(body), "headers": properties.headers}
            )
            answer = self.reply(json.loads(body))
            if answer is not None:
                ch.basic_publish(
                    RPC_EXCHANGE,
                    properties.reply_to,
                    json.dumps(answer),
                    pika.BasicProperties(correlation_id=properties.correlation_id, content_type="application/json"),
                )

        channel.basic_consume(queue, on_request, auto_ack=True)
        self._ready.set()
        while not self._stop:
            connection.process_data_events(time_limit=0.2)
        connection.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)


@pytest.fixture(scope="module")
def pool(amqp_uri):
    rpc = RpcPool(amqp_uri, size=2, timeout=2.0)
    deadline = time.time() + 10
    while not rpc.connected and time.time() < deadline:
        time.sleep(0.05)
    yield rpc
    rpc.close()


@pytest.fixture
def service(amqp_uri):
    created = []

    def start(reply):
        fake = FakeService(amqp_uri, f"fake{uuid.uuid4().hex[:8]}", reply)
        created.append(fake)
        return fake

    yield start
    for fake in created:
        fake.close()


def test_results_come_back_to_the_right_caller_under_concurrency(pool, service):
    fake = service(lambda body: {"result": body["kwargs"]["n"] * 2, "error": None})
    results = {}

    def ask(n: int) -> None:
        results[n] = pool.call(fake.name, "double", CALLER, n=n)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: n * 2 for n in range(40)}


def test_the_caller_context_and_request_id_travel_as_nameko_headers(pool, service):
    fake = service(lambda body: {"result": "ok", "error": None})
    pool.call(fake.name, "anything", CALLER, x=1)
    headers = fake.seen[0]["headers"]
    assert headers["nameko.request_id"] == "req-rpc-test"
    assert json.loads(headers["nameko.caller"]) == {
        "user_id": "usr-test",
        "roles": ["admin"],
        "team_ids": ["team-1"],
        "managed_team_ids": [],
        "managed_user_ids": [],
        "teammate_ids": [],
    }
    assert fake.seen[0]["body"] == {"args": [], "kwargs": {"x": 1}}


def test_the_scoped_idempotency_key_of_the_request_travels_as_a_nameko_header(pool, service):
    fake = service(lambda body: {"result": "ok", "error": None})
    app = Flask(__name__)
    with app.test_request_context("/api/v1/deals", method="POST"):
        g.idempotency_rpc_key = "scoped-key-hash"
        pool.call(fake.name, "create_deal", CALLER, data={})
    pool.call(fake.name, "list_deals", CALLER)
    assert fake.seen[0]["headers"]["nameko.idempotency_key"] == "scoped-key-hash"
    assert "nameko.idempotency_key" not in fake.seen[1]["headers"]


def test_typed_errors_are_raised_as_themselves(pool, service):
    fake = service(
        lambda body: {
            "result": None,
            "error": {
                "exc_type": "ValidationFailed",
                "exc_path": "crm_common.errors.ValidationFailed",
                "exc_args": ["bad", [{"field": "email", "message": "must be an email address"}]],
                "value": "bad",
            },
        }
    )
    with pytest.raises(ValidationFailed) as caught:
        pool.call(fake.name, "create", CALLER)
    assert caught.value.errors == [{"field": "email", "message": "must be an email address"}]

    missing = service(
        lambda body: {
            "result": None,
            "error": {
                "exc_type": "NotFound",
                "exc_path": "crm_common.errors.NotFound",
                "exc_args": ["gone"],
                "value": "gone",
            },
        }
    )
    with pytest.raises(NotFound):
        pool.call(missing.name, "get", CALLER)


def test_an_unexpected_remote_exception_is_not_passed_off_as_a_client_error(pool, service):
    fake = service(
        lambda body: {
            "result": None,
            "error": {"exc_type": "KeyError", "exc_path": "builtins.KeyError", "exc_args": ["x"], "value": "'x'"},
        }
    )
    with pytest.raises(RemoteFailure):
        pool.call(fake.name, "boom", CALLER)


def test_a_service_that_is_not_running_fails_fast_with_503(pool):
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="not running"):
        pool.call(f"absent{uuid.uuid4().hex[:6]}", "get", CALLER, timeout=5.0)
    assert time.monotonic() - started < 2.0


def test_a_service_that_does_not_answer_times_out_with_503(pool, service):
    fake = service(lambda body: None)  # swallows requests
    with pytest.raises(ServiceUnavailable, match="did not answer"):
        pool.call(fake.name, "slow", CALLER, timeout=0.5)
