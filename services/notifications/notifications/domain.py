"""Notification rules: who hears about what, and the in-app message they get."""


class OwnerUnknown(LookupError):
    """The customer's owner is not known yet (its contact event has not arrived): retry later."""


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


# emails to customers (queued here; the email channel of issue 7 sends them)

# The customer's preferred language picks the template: Chinese for `zh*`, English otherwise.
CUSTOMER_TEMPLATES = {
    "en": {
        "ticket_acknowledgement": (
            "We received your request: {subject} [#{ticket_id}]",
            'Hello {name},\n\nthank you for contacting us. We received your request "{subject}" and '
            "will get back to you soon. Your reference is #{ticket_id}: reply to this email to add to it.",
        ),
        "ticket_reply": ("Re: {subject} [#{ticket_id}]", "{comment}"),
        "satisfaction_survey": (
            "How did we do? {subject} [#{ticket_id}]",
            'Hello {name},\n\nyour request "{subject}" (#{ticket_id}) was resolved. How satisfied are you '
            "with our help? Please answer with a score from 1 (not at all) to 5 (very), and a comment if you like.",
        ),
    },
    "zh": {
        "ticket_acknowledgement": (
            "我们已收到您的请求：{subject} [#{ticket_id}]",
            "{name}，您好：\n\n感谢您联系我们。我们已收到您的请求“{subject}”，会尽快回复您。"
            "您的工单编号为 #{ticket_id}，如需补充信息，请直接回复本邮件。",
        ),
        "ticket_reply": ("回复：{subject} [#{ticket_id}]", "{comment}"),
        "satisfaction_survey": (
            "请评价我们的服务：{subject} [#{ticket_id}]",
            "{name}，您好：\n\n您的请求“{subject}”（#{ticket_id}）已处理完毕。请用 1（非常不满意）到 5"
            "（非常满意）为我们的服务打分，也欢迎留下您的意见。",
        ),
    },
}


# Whom a message greets when the customer's name is not known.
GREETING_NAME = {"en": "there", "zh": "客户"}


def message_language(preferred: str | None) -> str:
    return "zh" if isinstance(preferred, str) and preferred.lower().startswith("zh") else "en"


def customer_message(
    kind: str, ticket: dict, contact: dict, event_id: str, created_at: str, comment: str = ""
) -> dict | None:
    """The email a ticket event sends its customer (`contact`: the contact_owners projection, with
    `email` and `preferred_language`); None when the customer has no email address. One per event
    and kind, so a redelivered event cannot queue it twice."""
    to = contact.get("email")
    if not to:
        return None
    language = message_language(contact.get("preferred_language"))
    subject, body = CUSTOMER_TEMPLATES[language][kind]
    name = contact.get("name")
    values = {
        "subject": ticket.get("subject") or "",
        "ticket_id": ticket["id"],
        "name": name if name and name != contact["id"] else GREETING_NAME[language],
        "comment": comment,
    }
    return {
        "id": f"{event_id}:{kind}",
        "contact_id": contact["id"],
        "channel": "email",
        "to": to,
        "subject": subject.format(**values)[:300],
        "body": body.format(**values),
        "status": "queued",
        "kind": kind,
        "language": language,
        "ref": {"type": "ticket", "id": ticket["id"]},
        "event_id": event_id,
        "created_at": created_at,
    }


def scrubbed_message(message: dict) -> dict:
    """A queued or sent email to an erased contact: what was sent and when stays, not the words or address."""
    return {**message, "to": "", "subject": ERASED_TEXT, "body": ERASED_TEXT}
