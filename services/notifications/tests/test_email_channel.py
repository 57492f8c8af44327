"""The email channel against a real SMTP server on 127.0.0.1 (aiosmtpd): the message as received,
credentials from SMTP_URL, and which refusals are retried."""

import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from notifications import delivery_rules as rules
from notifications.channels import ChannelNotConfigured, DeliveryFailed, Settings, email

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the helper beside this file
from notifications_loopback import Mailbox, free_port, smtp_server  # noqa: E402

SENDER = "客服中心 <service@example.test>"


def delivery(**fields) -> dict:
    values = {
        "channel": "email",
        "to": "wang.fang@example.cn",
        "dedupe_key": "e1:ticket_reply:email",
        "kind": "ticket_reply",
        "created_at": "2030-01-02T09:00:00.000000Z",
        "subject": "回复：打印机卡纸 [#tk1]",
        "body": "王芳您好：\n\n请重启打印机。",
        **fields,
    }
    return rules.new_delivery(**values)


def test_the_customer_receives_the_message_in_utf8_with_its_headers() -> None:
    with smtp_server() as (url, mailbox):
        sent = delivery()
        provider_id = email.send(sent, Settings(smtp_url=url, smtp_from=SENDER))
    [(envelope_from, recipients, message)] = mailbox.received
    assert (envelope_from, recipients) == ("service@example.test", ["wang.fang@example.cn"])
    assert message["Subject"] == "回复：打印机卡纸 [#tk1]"
    assert message["From"] == SENDER and message["To"] == "wang.fang@example.cn"
    assert message.get_content().replace("\r\n", "\n").strip() == "王芳您好：\n\n请重启打印机。"  # CRLF on the wire
    assert message["Message-ID"] == provider_id == f"<{sent['id']}.0@example.test>"
    assert message["X-CRM-Delivery"] == sent["id"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_credentials_in_smtp_url_are_used_to_log_in() -> None:
    logins: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"p@ss word")

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,  # loopback only: the test has no certificate
    )
    controller.start()
    try:
        url = f"smtp://crm%40example.test:p%40ss%20word@127.0.0.1:{port}"
        email.send(delivery(), Settings(smtp_url=url, smtp_from=SENDER))
        with pytest.raises(DeliveryFailed) as refused:
            email.send(delivery(), Settings(smtp_url=url.replace("word@", "wrong@"), smtp_from=SENDER))
    finally:
        controller.stop()
    assert logins[0] == ("crm@example.test", "p@ss word")
    assert len(mailbox.received) == 1
    assert refused.value.retryable  # wrong credentials: the configuration's fault, retried once fixed


def test_a_mailbox_that_does_not_exist_is_final_and_a_busy_one_is_retried() -> None:
    with smtp_server() as (url, mailbox):
        mailbox.refuse["gone@example.cn"] = "550 5.1.1 no such mailbox"
        mailbox.refuse["busy@example.cn"] = "452 4.2.2 mailbox full"
        settings = Settings(smtp_url=url, smtp_from=SENDER)
        with pytest.raises(DeliveryFailed) as gone:
            email.send(delivery(to="gone@example.cn"), settings)
        with pytest.raises(DeliveryFailed) as busy:
            email.send(delivery(to="busy@example.cn"), settings)
    assert not gone.value.retryable and "550" in str(gone.value)
    assert busy.value.retryable
    assert mailbox.received == []


def test_a_server_that_is_down_is_retried() -> None:
    with pytest.raises(DeliveryFailed) as down:
        email.send(delivery(), Settings(smtp_url=f"smtp://127.0.0.1:{free_port()}", smtp_from=SENDER))
    assert down.value.retryable and "unreachable" in str(down.value)


@pytest.mark.parametrize(
    ("smtp_url", "smtp_from", "reason"),
    [
        (None, SENDER, "SMTP_URL is not set"),
        ("smtp://127.0.0.1:2525", None, "SMTP_FROM is not set"),
        ("http://127.0.0.1:2525", SENDER, "SMTP_URL must be"),
    ],
)
def test_an_unconfigured_channel_says_what_is_missing(smtp_url, smtp_from, reason) -> None:
    with pytest.raises(ChannelNotConfigured) as missing:
        email.send(delivery(), Settings(smtp_url=smtp_url, smtp_from=smtp_from))
    assert reason in str(missing.value)


def test_an_address_smuggling_headers_is_refused_without_sending() -> None:
    with smtp_server() as (url, mailbox):
        with pytest.raises(DeliveryFailed) as refused:
            email.send(delivery(to="a@example.cn\nBcc: all@example.cn"), Settings(smtp_url=url, smtp_from=SENDER))
    assert not refused.value.retryable
    assert mailbox.received == []


def test_the_smtp_url_forms() -> None:
    assert email.parse_smtp_url("smtps://mail.example.test") == email.SmtpTarget(
        "mail.example.test", 465, True, False, None, None
    )
    assert email.parse_smtp_url("smtp://u:p@mail.example.test:587?starttls=true") == email.SmtpTarget(
        "mail.example.test", 587, False, True, "u", "p"
    )
    assert email.parse_smtp_url("smtp://mail.example.test").port == 25
