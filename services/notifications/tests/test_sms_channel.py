"""The SMS channel against a real HTTP receiver on 127.0.0.1 (http.server): the request the
provider adapter gets, the provider id, which answers are retried; and through the dispatcher."""

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.store import DocumentStore, open_store
from notifications import delivery_rules as rules
from notifications.channels import ChannelNotConfigured, DeliveryFailed, Settings, sms
from notifications.service import NotificationsService
from notifications.store import DELIVERIES, SPECS

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the helper beside this file
from notifications_loopback import free_port, http_receiver  # noqa: E402

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)


def delivery(**fields) -> dict:
    values = {
        "channel": "sms",
        "to": "+8613800138000",
        "dedupe_key": "campaign:cp1:2030-02-10:c1",
        "kind": "greeting_spring_festival",
        "created_at": rules.stamp(T0),
        "body": "王芳，新春快乐！",
        **fields,
    }
    return rules.new_delivery(**values)


def settings(url: str, token: str | None = "s3cret") -> Settings:
    return Settings(sms_provider_url=url, sms_provider_token=token)


def test_the_provider_gets_the_message_and_its_id_is_kept() -> None:
    with http_receiver([(201, {"id": "SM-42", "status": "accepted"})]) as provider:
        sent = delivery()
        assert sms.send(sent, settings(provider.url)) == "SM-42"
    [request] = provider.requests
    assert request.path == "/messages"
    assert request.json() == {"to": "+8613800138000", "body": "王芳，新春快乐！", "reference": sent["id"]}
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.headers["Idempotency-Key"] == f"{sent['id']}.0"


def test_without_a_token_no_authorization_is_sent() -> None:
    with http_receiver() as provider:
        sms.send(delivery(), settings(provider.url, token=None))
    assert "Authorization" not in provider.requests[0].headers


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (400, False), (401, False)])
def test_server_errors_and_rate_limits_are_retried_other_refusals_are_final(status: int, retryable: bool) -> None:
    with http_receiver([(status, {"error": "no"})]) as provider:
        with pytest.raises(DeliveryFailed) as failed:
            sms.send(delivery(), settings(provider.url))
    assert failed.value.retryable is retryable
    assert str(status) in str(failed.value)


def test_an_unreachable_provider_is_retried() -> None:
    with pytest.raises(DeliveryFailed) as failed:
        sms.send(delivery(), settings(f"http://127.0.0.1:{free_port()}/messages"))
    assert failed.value.retryable


def test_no_provider_url_means_not_configured() -> None:
    with pytest.raises(ChannelNotConfigured):
        sms.send(delivery(), Settings())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def test_the_dispatcher_retries_a_failing_provider_and_then_sends(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = worker_factory(NotificationsService, store=store, caller=Caller("system", ("system",)))
    with store.transaction() as tx:
        queued = worker._queue_delivery(tx, delivery(contact_id="c1"))
    with http_receiver([(503, {"error": "busy"}), (200, {"id": "SM-7"})]) as provider:
        monkeypatch.setenv("SMS_PROVIDER_URL", provider.url)
        monkeypatch.setenv("SMS_PROVIDER_TOKEN", "s3cret")
        assert worker.dispatch_due(T0) == {"retrying": 1}
        retry_at = rules.parse_stamp(store[DELIVERIES].get(queued["id"])["next_attempt_at"])
        assert worker.dispatch_due(retry_at) == {"sent": 1}
    sent = store[DELIVERIES].get(queued["id"])
    assert (sent["status"], sent["attempts"], sent["provider_id"]) == ("sent", 2, "SM-7")
    # both attempts carried the same idempotency key: a provider that honours it sends once
    assert {r.headers["Idempotency-Key"] for r in provider.requests} == {f"{queued['id']}.0"}
