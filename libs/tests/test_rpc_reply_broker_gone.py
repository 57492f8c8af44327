"""A worker whose RPC reply cannot be published (the broker is gone) does not take the service down."""

from unittest import mock

import kombu.exceptions
import nameko.rpc
import pytest

import crm_common.runtime  # noqa: F401  (installs the reply guard)
from crm_common.runtime import replies


def _consumer():
    consumer = mock.Mock(spec=["container", "queue_consumer"])
    consumer.container.config = {"AMQP_URI": "amqp://guest:guest@127.0.0.1:1/"}
    return consumer


def _failing_publisher(error):
    class Publisher:
        def __init__(self, *args, **kwargs):
            pass

        def publish(self, *args, **kwargs):
            raise error

    return Publisher


MESSAGE = mock.Mock(properties={"content_type": "application/json", "reply_to": "rpc.reply-x", "correlation_id": "c"})


@pytest.mark.parametrize(
    "error", [kombu.exceptions.OperationalError("[Errno 111] ECONNREFUSED"), ConnectionResetError(104, "reset")]
)
def test_a_reply_the_broker_cannot_take_is_logged_and_the_request_acked(monkeypatch, caplog, error):
    monkeypatch.setattr(nameko.rpc.Responder, "publisher_cls", _failing_publisher(error))
    consumer = _consumer()

    assert nameko.rpc.RpcConsumer.handle_result(consumer, MESSAGE, {"id": "d1"}, None) == ({"id": "d1"}, None)

    consumer.queue_consumer.ack_message.assert_called_once_with(MESSAGE)
    assert "could not send an RPC reply" in caplog.text


def test_a_lost_ack_after_a_lost_reply_is_not_fatal_either(monkeypatch):
    monkeypatch.setattr(nameko.rpc.Responder, "publisher_cls", _failing_publisher(ConnectionRefusedError(111, "x")))
    consumer = _consumer()
    consumer.queue_consumer.ack_message.side_effect = ConnectionResetError(104, "reset")

    assert nameko.rpc.RpcConsumer.handle_result(consumer, MESSAGE, "r", None) == ("r", None)


def test_a_reply_that_is_sent_is_acked_once_and_other_errors_still_surface(monkeypatch):
    sent = []

    class Publisher:
        def __init__(self, *args, **kwargs):
            pass

        def publish(self, payload, **kwargs):
            sent.append(payload)

    monkeypatch.setattr(nameko.rpc.Responder, "publisher_cls", Publisher)
    consumer = _consumer()
    assert nameko.rpc.RpcConsumer.handle_result(consumer, MESSAGE, "r", None) == ("r", None)
    assert sent == [{"result": "r", "error": None}]
    consumer.queue_consumer.ack_message.assert_called_once_with(MESSAGE)

    monkeypatch.setattr(nameko.rpc.Responder, "publisher_cls", _failing_publisher(ValueError("a bug, not the broker")))
    with pytest.raises(ValueError):
        nameko.rpc.RpcConsumer.handle_result(_consumer(), MESSAGE, "r", None)


def test_the_guard_is_installed_once():
    assert nameko.rpc.RpcConsumer.handle_result is replies.handle_result
    assert replies.handle_result.__wrapped__ is not replies.handle_result
