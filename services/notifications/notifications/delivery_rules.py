"""The delivery document and its life: queued, claimed, sent or retried with backoff, dead,
replayed, cancelled, scrubbed (pure functions; dispatch.py stores them, channels/ send them)."""

from datetime import UTC, datetime, timedelta

from crm_common.errors import ValidationFailed
from crm_common.ids import new_id

from .domain import ERASED_TEXT

CHANNELS = ("email", "sms", "webhook")

QUEUED, SENDING, SENT, RETRYING, DEAD, CANCELLED = "queued", "sending", "sent", "retrying", "dead", "cancelled"
STATUSES = (QUEUED, SENDING, SENT, RETRYING, DEAD, CANCELLED)
# Due when next_attempt_at has come: waiting ones, and a `sending` one whose claim ran out (its
# sender died mid-send).
DUE = (QUEUED, RETRYING, SENDING)
# Not finished: a younger delivery with the same order_key waits for these.
OPEN = (QUEUED, RETRYING, SENDING)
REPLAYABLE = (SENT, DEAD)

ERASED_REASON = "the contact's personal data was erased"


def stamp(moment: datetime) -> str:
    """A UTC time as stored everywhere in the platform: `2030-01-02T09:30:00.000000Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def new_delivery(
    *,
    channel: str,
    to: str,
    dedupe_key: str,
    kind: str,
    created_at: str,
    subject: str | None = None,
    body: str | None = None,
    payload: dict | None = None,
    language: str | None = None,
    contact_id: str | None = None,
    recipient_user_id: str | None = None,
    about_contact_id: str | None = None,
    subscription_id: str | None = None,
    campaign_id: str | None = None,
    order_key: str | None = None,
    event_id: str | None = None,
    ref: dict | None = None,
    ticket: dict | None = None,
    next_attempt_at: str | None = None,
) -> dict:
    """A queued delivery, due at `next_attempt_at` (default: at once). `dedupe_key` is the
    idempotency key (`<event_id>:<...>`, `campaign:<id>:<occurrence>:<contact_id>`): a second
    delivery with the same key is refused by the store. `ticket` is the snapshot of the ticket a
    customer email is about (`message_queued` and `message_sent` carry it for the timeline's access).
    `contact_id` means a message TO that customer; `about_contact_id` names the customer a staff
    notice is about (its text names them: the export and an erasure find it), and is no message to them."""
    if channel not in CHANNELS:
        raise ValidationFailed(f"unknown channel {channel!r}", [{"field": "channel", "message": "unknown"}])
    if not to or not dedupe_key:
        raise ValidationFailed("a delivery needs a recipient and a dedupe key", [{"field": "to", "message": "empty"}])
    return {
        "id": new_id(),
        "channel": channel,
        "to": to,
        "subject": subject,
        "body": body,
        "payload": payload,
        "kind": kind,
        "language": language,
        "contact_id": contact_id,
        "recipient_user_id": recipient_user_id,
        "about_contact_id": about_contact_id,
        "subscription_id": subscription_id,
        "campaign_id": campaign_id,
        "dedupe_key": dedupe_key,
        "order_key": order_key,
        "status": QUEUED,
        "attempts": 0,
        "replays": 0,
        "last_error": None,
        "provider_id": None,
        "next_attempt_at": next_attempt_at or created_at,
        "sent_at": None,
        "event_id": event_id,
        "ref": ref,
        "ticket": ticket,
        "created_at": created_at,
        "updated_at": created_at,
    }


def is_due(delivery: dict, now: str) -> bool:
    return delivery["status"] in DUE and (delivery.get("next_attempt_at") or "") <= now


def goes_before(older: dict, delivery: dict) -> bool:
    """Creation order among deliveries sharing an order_key (the id breaks a tie: it grows with time)."""
    return (older["created_at"], older["id"]) < (delivery["created_at"], delivery["id"])


def retry_delay(attempts: int, base_seconds: float, max_seconds: float) -> float:
    """Seconds before the next attempt after `attempts` failed ones: base, doubling, capped."""
    return min(max_seconds, base_seconds * 2 ** max(0, attempts - 1))


def claimed(delivery: dict, now: datetime, lease_seconds: float) -> dict:
    """Taken by one dispatcher for one attempt. The claim runs out after `lease_seconds`: a
    dispatcher that died mid-send leaves it due again then (that attempt counted)."""
    at = stamp(now)
    claim = {
        **delivery,
        "status": SENDING,
        "attempts": delivery["attempts"] + 1,
        "next_attempt_at": stamp(now + timedelta(seconds=lease_seconds)),
        "updated_at": at,
    }
    if delivery["status"] == SENDING:
        claim["last_error"] = "the previous attempt did not finish"
    return claim


def succeeded(delivery: dict, provider_id: str | None, now: datetime) -> dict:
    at = stamp(now)
    return {
        **delivery,
        "status": SENT,
        "provider_id": provider_id or None,
        "sent_at": at,
        "last_error": None,
        "next_attempt_at": None,
        "updated_at": at,
    }


def failed(
    delivery: dict, error: str, retryable: bool, now: datetime, base: float, cap: float, max_attempts: int
) -> dict:
    """Retried with backoff while retryable and attempts remain, else dead (replayable)."""
    at = stamp(now)
    if not retryable or delivery["attempts"] >= max_attempts:
        return {**delivery, "status": DEAD, "last_error": error[:1000], "next_attempt_at": None, "updated_at": at}
    delay = retry_delay(delivery["attempts"], base, cap)
    return {
        **delivery,
        "status": RETRYING,
        "last_error": error[:1000],
        "next_attempt_at": stamp(now + timedelta(seconds=delay)),
        "updated_at": at,
    }


def waiting_for_channel(delivery: dict, reason: str, now: datetime) -> dict:
    """The channel is not configured: the delivery waits queued, the attempt not counted, and is
    sent as soon as the channel is configured."""
    at = stamp(now)
    attempts = delivery["attempts"] - 1 if delivery["status"] == SENDING else delivery["attempts"]
    return {**delivery, "status": QUEUED, "attempts": max(0, attempts), "last_error": reason, "updated_at": at}


def replayed(delivery: dict, now: datetime) -> dict:
    """A sent or dead delivery queued again, due now, attempts from 0 (`replays` counts them)."""
    at = stamp(now)
    return {
        **delivery,
        "status": QUEUED,
        "attempts": 0,
        "replays": (delivery.get("replays") or 0) + 1,
        "last_error": None,
        "provider_id": None,
        "sent_at": None,
        "next_attempt_at": at,
        "updated_at": at,
    }


def scrubbed(delivery: dict, now: datetime) -> dict:
    """A delivery to an erased contact: what was sent and when stays, not the words or the
    address; one not sent yet is cancelled (nothing more goes to the person)."""
    at = stamp(now)
    clean = {
        **delivery,
        "to": "",
        "subject": ERASED_TEXT if delivery.get("subject") is not None else None,
        "body": ERASED_TEXT if delivery.get("body") is not None else None,
        "payload": {"erased": True} if delivery.get("payload") is not None else None,
        "updated_at": at,
    }
    if delivery["status"] in OPEN:
        clean.update(status=CANCELLED, last_error=ERASED_REASON, next_attempt_at=None)
    return clean


def is_scrubbed(delivery: dict) -> bool:
    return delivery.get("to") == "" and delivery.get("body") in (None, ERASED_TEXT)


def sent_event(delivery: dict) -> dict:
    """The `message_sent` payload: what the customer's timeline shows (never the body or address)."""
    ticket = delivery.get("ticket") or None
    return {
        "id": delivery["id"],
        "contact_id": delivery.get("contact_id"),
        "company_id": (ticket or {}).get("company_id"),
        "channel": delivery["channel"],
        "subject": delivery.get("subject"),
        "kind": delivery.get("kind"),
        "language": delivery.get("language"),
        "ref": delivery.get("ref"),
        "campaign_id": delivery.get("campaign_id"),
        "provider_id": delivery.get("provider_id"),
        "sent_at": delivery.get("sent_at"),
        "ticket": ticket,
    }
