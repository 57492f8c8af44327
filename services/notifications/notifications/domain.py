"""Notification rules: who hears about what, and the in-app message they get."""


class OwnerUnknown(LookupError):
    """The customer's owner is not known yet (its contact event has not arrived): retry later."""


def shown_time(moment: str | None) -> str:
    """A stored UTC time as the inbox shows it: `2030-01-02 09:30 UTC`."""
    return f"{moment[:10]} {moment[11:16]} UTC" if moment else "no due time"


def in_app(
    recipient_id: str,
    event_id: str,
    title: str,
    body: str,
    ref_type: str,
    ref_id: str,
    created_at: str,
    contact_id: str | None = None,
) -> dict:
    """`contact_id` names the customer a notification about another record (a deal, a ticket) is
    about: its body carries the customer's name, which a personal-data erasure must find."""
    # One notification per event and recipient: a redelivered event cannot notify twice.
    notification = {
        "id": f"{event_id}:{recipient_id}",
        "recipient_id": recipient_id,
        "channel": "in_app",
        "title": title,
        "body": body,
        "ref": {"type": ref_type, "id": ref_id},
        "read": False,
        "created_at": created_at,
    }
    if contact_id is not None:
        notification["contact_id"] = contact_id
    return notification


ERASED_TEXT = "Personal data erased"


def scrubbed_notification(notification: dict) -> dict:
    """A notification about an erased contact stays in its recipient's inbox (what they were told
    and when), without the text that named the person."""
    return {**notification, "body": ERASED_TEXT}
