"""The email channel: one message per delivery over SMTP (SMTP_URL, SMTP_FROM); the provider id
is the message's Message-ID."""

import smtplib
import ssl
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from .base import ChannelNotConfigured, DeliveryFailed, Settings


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool  # smtps://: TLS from the first byte
    starttls: bool  # smtp://...?starttls=true: upgrade after EHLO
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://[user:pass@]host[:port][?starttls=true]` (port 25) or `smtps://...` (port 465)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ChannelNotConfigured("SMTP_URL must look like smtp://user:pass@host:port or smtps://...")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise ChannelNotConfigured("SMTP_URL has an invalid port") from None
    query = urllib.parse.parse_qs(parts.query)
    starttls = (query.get("starttls") or ["false"])[0].lower() in ("true", "1", "yes")
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        starttls=starttls and parts.scheme == "smtp",
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password else None,
    )


def build_message(delivery: dict, sender: str) -> EmailMessage:
    """The MIME message (UTF-8 text). The Message-ID is new per attempt round (a replay is a new
    message: mail clients drop a second message with a Message-ID they have seen)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "crm.local"
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = delivery["to"]
        message["Subject"] = delivery.get("subject") or ""
    except (ValueError, TypeError) as exc:  # a newline in an address or subject: header injection
        raise DeliveryFailed(f"invalid email header: {exc}", retryable=False) from None
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{delivery['id']}.{delivery.get('replays') or 0}@{domain}>"
    message["X-CRM-Delivery"] = delivery["id"]
    message.set_content(delivery.get("body") or "")
    return message


def send(delivery: dict, settings: Settings) -> str:
    reason = settings.not_configured("email")
    if reason:
        raise ChannelNotConfigured(reason)
    target = parse_smtp_url(settings.smtp_url or "")
    if "@" not in parseaddr(delivery.get("to") or "")[1]:
        raise DeliveryFailed(f"not an email address: {delivery.get('to')!r}", retryable=False)
    message = build_message(delivery, settings.smtp_from or "")
    timeout = settings.send_timeout_seconds
    try:
        if target.implicit_tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                target.host, target.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with client:
            if target.starttls:
                client.starttls(context=ssl.create_default_context())
            if target.username:
                client.login(target.username, target.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        # Every recipient refused: a 5xx (no such mailbox) is final; a 4xx (greylisting, full) is not.
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryFailed(f"recipient refused: {exc.recipients}", retryable=any(c < 500 for c in codes)) from None
    except smtplib.SMTPDataError as exc:
        raise DeliveryFailed(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code < 500) from None
    except smtplib.SMTPResponseException as exc:
        # the sender address or the credentials refused: the configuration's fault, retried
        raise DeliveryFailed(f"SMTP server said {exc.smtp_code} {_text(exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, TLS failed
        raise DeliveryFailed(f"SMTP server unreachable ({target.host}:{target.port}): {exc}") from None
    return message["Message-ID"]


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
