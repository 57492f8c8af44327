"""The delivery channels: one sender per channel, `send(delivery, settings) -> provider id`,
raising DeliveryFailed (retryable or not). The dispatcher (dispatch.py) looks them up in SENDERS."""

from collections.abc import Callable

from . import email, sms, webhook
from .base import ChannelNotConfigured, DeliveryFailed, Settings

Sender = Callable[[dict, Settings], str | None]

SENDERS: dict[str, Sender] = {
    "email": email.send,
    "sms": sms.send,
    "webhook": webhook.send,
}

__all__ = ["SENDERS", "ChannelNotConfigured", "DeliveryFailed", "Sender", "Settings"]
