"""The webhook channel: signs a delivery's JSON body and POSTs it to the subscription's URL.

Signature: `X-CRM-Signature: v1=<hex HMAC-SHA256(secret, "<X-CRM-Timestamp>.<raw body>")>`, the
timestamp in unix seconds at sending time, so a receiver can refuse stale or replayed requests.
A 2xx answer is sent; 408, 429, 5xx, timeouts and connection errors are retried; 410 means the
receiver gave the subscription up (dead at once, and the subscription disabled); redirects and
other 4xx answers are dead at once (the delivery log keeps them, replayable)."""

import hashlib
import hmac
import http.client
import json
import ssl
import time
import urllib.parse

from crm_common.config import float_setting

from .base import DeliveryFailed, Settings

USER_AGENT = "crm-webhooks/1"
# What of a refusing receiver's answer the delivery log keeps.
ERROR_BODY_CHARS = 200
# The last_error of a delivery whose receiver answered 410: the subscription is disabled.
GONE = "HTTP 410"
RETRYABLE_STATUSES = (408, 429)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def body_of(delivery: dict) -> bytes:
    return json.dumps(delivery["payload"], ensure_ascii=False, separators=(",", ":")).encode()


def headers_of(delivery: dict, secret: str, body: bytes, timestamp: int) -> dict:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-CRM-Event": delivery["payload"]["event_type"],
        "X-CRM-Delivery": delivery["id"],
        "X-CRM-Timestamp": str(timestamp),
        "X-CRM-Signature": signature(secret, timestamp, body),
    }


def send(delivery: dict, settings: Settings) -> str:
    """POST the delivery to its subscription's URL, signed with its secret (both put on the
    delivery by the service's `_before_send`, never stored on it). The provider id is the
    receiver's `X-Request-Id`, else `HTTP <status>`."""
    secret = delivery.get("secret")
    if not secret:
        raise DeliveryFailed("the webhook was deleted or switched off", retryable=False)
    url = urllib.parse.urlsplit(delivery["to"])
    # Below the claim's lease, or a slow receiver's delivery would be claimed and sent again.
    timeout = min(float_setting("WEBHOOK_TIMEOUT_SECONDS", 10.0), settings.sending_lease_seconds / 2)
    if url.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            url.hostname or "", url.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    body = body_of(delivery)
    try:
        connection.request("POST", target, body, headers_of(delivery, secret, body, int(time.time())))
        response = connection.getresponse()
        answer = response.read(64 * 1024).decode("utf-8", "replace")
    except TimeoutError:
        raise DeliveryFailed(f"no answer within {timeout:g} s", retryable=True) from None
    except (OSError, http.client.HTTPException) as exc:  # refused, reset, DNS, TLS: the receiver may come back
        raise DeliveryFailed(f"could not reach the receiver: {exc}", retryable=True) from None
    finally:
        connection.close()
    status = response.status
    if 200 <= status < 300:
        return response.getheader("X-Request-Id") or f"HTTP {status}"
    if 300 <= status < 400:
        raise DeliveryFailed(f"HTTP {status}: redirects are not followed (point the webhook at the final URL)", False)
    detail = f"HTTP {status}: {' '.join(answer.split())[:ERROR_BODY_CHARS]}".rstrip(": ")
    raise DeliveryFailed(detail, retryable=status >= 500 or status in RETRYABLE_STATUSES)
