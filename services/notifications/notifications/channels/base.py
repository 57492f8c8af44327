"""What every channel sender shares: its settings (read from the environment) and its one error."""

import os
import urllib.parse
from dataclasses import dataclass

from crm_common.config import ConfigError, float_setting, int_setting


class DeliveryFailed(Exception):
    """A send that did not go through. `retryable` False: the provider refused the message itself
    (a bad address, a 4xx): retrying cannot help, the delivery is dead at once (replayable)."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class ChannelNotConfigured(DeliveryFailed):
    """The channel has no provider configured: the delivery waits queued, not failed."""


@dataclass(frozen=True)
class Settings:
    """The channels' and the dispatcher's settings; `from_env` reads them on every dispatch
    pass, so a provider configured later is used without anyone re-queueing anything."""

    smtp_url: str | None = None
    smtp_from: str | None = None
    sms_provider_url: str | None = None
    sms_provider_token: str | None = None
    send_timeout_seconds: float = 10.0
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 8
    sending_lease_seconds: float = 300.0
    batch: int = 50

    @classmethod
    def from_env(cls) -> "Settings":
        settings = cls(
            smtp_url=os.environ.get("SMTP_URL") or None,
            smtp_from=os.environ.get("SMTP_FROM") or None,
            sms_provider_url=os.environ.get("SMS_PROVIDER_URL") or None,
            sms_provider_token=os.environ.get("SMS_PROVIDER_TOKEN") or None,
            send_timeout_seconds=float_setting("DELIVERY_SEND_TIMEOUT_SECONDS", 10.0),
            retry_base_seconds=float_setting("DELIVERY_RETRY_BASE_SECONDS", 30.0),
            retry_max_seconds=float_setting("DELIVERY_RETRY_MAX_SECONDS", 3600.0),
            max_attempts=int_setting("DELIVERY_MAX_ATTEMPTS", 8),
            sending_lease_seconds=float_setting("DELIVERY_SENDING_LEASE_SECONDS", 300.0),
            batch=int_setting("DELIVERY_BATCH", 50),
        )
        if settings.max_attempts < 1 or settings.batch < 1 or settings.send_timeout_seconds <= 0:
            raise ConfigError(
                "DELIVERY_MAX_ATTEMPTS, DELIVERY_BATCH and DELIVERY_SEND_TIMEOUT_SECONDS must be positive"
            )
        if settings.sending_lease_seconds <= settings.send_timeout_seconds:
            raise ConfigError("DELIVERY_SENDING_LEASE_SECONDS must exceed DELIVERY_SEND_TIMEOUT_SECONDS")
        return settings

    def not_configured(self, channel: str) -> str | None:
        """Why `channel` cannot send now, or None when it can."""
        if channel == "email":
            if not self.smtp_url:
                return "email channel not configured: SMTP_URL is not set"
            parts = urllib.parse.urlsplit(self.smtp_url)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                return "email channel not configured: SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://..."
            if not self.smtp_from:
                return "email channel not configured: SMTP_FROM is not set"
        if channel == "sms" and not self.sms_provider_url:
            return "SMS channel not configured: SMS_PROVIDER_URL is not set"
        return None
