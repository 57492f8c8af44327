"""Notification rules: who hears about what, and the in-app message they get."""


class OwnerUnknown(LookupError):
    """The customer's owner is not known yet (its contact event has not arrived): retry later."""


def in_app(
    recipient_id: str, event_id: str, title: str, body: str, ref_type: str, ref_id: str, created_at: str
) -> dict:
    # One notification per event and recipient: a redelivered event cannot notify twice.
    return {
        "id": f"{event_id}:{recipient_id}",
        "recipient_id": recipient_id,
        "channel": "in_app",
        "title": title,
        "body": body,
        "ref": {"type": ref_type, "id": ref_id},
        "read": False,
        "created_at": created_at,
    }
