"""The SMS channel: a JSON POST per message to an HTTP provider adapter (SMS_PROVIDER_URL,
bearer SMS_PROVIDER_TOKEN); the provider id is the response's `id`."""

import json
import urllib.error
import urllib.request

from .base import ChannelNotConfigured, DeliveryFailed, Settings

# Besides 5xx: a provider rate-limiting or timing out asks to be tried again.
RETRYABLE_4XX = (408, 425, 429)


def send(delivery: dict, settings: Settings) -> str:
    """POST {to, body, reference: delivery id}; 2xx sent, 5xx / 408 / 429 / timeouts / connection
    errors retried, any other 4xx dead (the provider refused this message). The Idempotency-Key
    stays the same across retries of one round (a provider that supports it never sends twice
    after a timeout) and changes on a replay, which is meant to send again."""
    reason = settings.not_configured("sms")
    if reason:
        raise ChannelNotConfigured(reason)
    body = json.dumps(
        {"to": delivery["to"], "body": delivery.get("body") or "", "reference": delivery["id"]}, ensure_ascii=False
    ).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Accept": "application/json",
        "Idempotency-Key": f"{delivery['id']}.{delivery.get('replays') or 0}",
    }
    if settings.sms_provider_token:
        headers["Authorization"] = f"Bearer {settings.sms_provider_token}"
    request = urllib.request.Request(settings.sms_provider_url or "", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.send_timeout_seconds) as response:
            answer = response.read(65536)
    except urllib.error.HTTPError as exc:
        detail = exc.read(500).decode("utf-8", "replace")
        retryable = exc.code >= 500 or exc.code in RETRYABLE_4XX
        raise DeliveryFailed(f"SMS provider answered {exc.code}: {detail}".strip(), retryable) from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"SMS provider unreachable: {getattr(exc, 'reason', exc)}") from None
    except ValueError as exc:  # a malformed SMS_PROVIDER_URL
        raise ChannelNotConfigured(f"SMS channel not configured: {exc}") from None
    try:
        provider_id = json.loads(answer or b"{}").get("id")
    except (ValueError, AttributeError):
        provider_id = None  # sent all the same: a 2xx is the provider's word that it took it
    return str(provider_id) if provider_id is not None else ""
