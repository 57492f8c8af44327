"""The notifications part of the OpenAPI document: the caller's inbox and its live event stream,
the caller's notification preferences and the notification rules (who hears of what, on which
channels), message templates and their previews, webhook subscriptions and their signed deliveries, the
delivery log of every channel with replays, greeting campaigns and the public unsubscribe link.
Built from the blocks of gateway.openapi, which imports this module lazily."""

from .openapi import (
    BOOL,
    EMAIL,
    INT,
    NS,
    NTS,
    REF,
    STRINGS,
    TS,
    S,
    _closed,
    _collection,
    _equals,
    _item,
    _json,
    _list_params,
    _null,
    _obj,
    _operation,
    _page,
    _param,
    _query,
    _record,
    _ref,
    _text,
)

TAG = "notifications"
TEMPLATE_KEYS = (
    "ticket_acknowledgement",
    "ticket_reply",
    "satisfaction_survey",
    "greeting_holiday",
    "greeting_birthday",
    "greeting_anniversary",
    "staff_notice",
    "notice_digest",
)
TEMPLATE_CHANNELS = ("email", "sms")
LANGUAGES = ("en", "zh-CN")
EVENT_TYPES = (
    "contacts.contact_created",
    "contacts.contact_updated",
    "contacts.contact_deleted",
    "contacts.company_created",
    "contacts.company_updated",
    "contacts.company_deleted",
    "sales.deal_created",
    "sales.deal_updated",
    "sales.order_created",
    "sales.order_updated",
    "sales.task_created",
    "sales.task_updated",
    "service_desk.ticket_created",
    "service_desk.ticket_updated",
    "service_desk.ticket_commented",
    "service_desk.ticket_sla_breached",
    "service_desk.ticket_satisfaction_rated",
)
DELIVERY_CHANNELS = ("email", "sms", "webhook")
DELIVERY_STATUSES = ("queued", "sending", "sent", "retrying", "dead", "cancelled")
CAMPAIGN_KINDS = ("holiday", "birthday", "anniversary", "one_off")
CAMPAIGN_CHANNELS = ("email", "sms")
HOLIDAYS = (
    "new_year",
    "spring_festival",
    "lantern_festival",
    "valentines_day",
    "womens_day",
    "labour_day",
    "dragon_boat",
    "mid_autumn",
    "national_day",
    "thanksgiving",
    "christmas",
)
CLOCK_TIME = {"type": "string", "maxLength": 5, "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"}
ADMINS = "Admins only (403)."
# The kinds of notice staff get, in the catalog's order (notifications.notice_rules.KINDS).
NOTICE_KINDS = (
    "customer_assigned",
    "customers_handed_over",
    "pool_reclaim_warning",
    "pool_reclaimed",
    "deal_created",
    "deal_won",
    "deal_rotting",
    "churn_risk",
    "task_assigned",
    "task_reminder",
    "task_overdue",
    "ticket_created",
    "ticket_assigned",
    "ticket_customer_reply",
    "sla_warning",
    "sla_escalated",
    "mention",
    "webhook_disabled",
    "erasure_completed",
)
NOTICE_CHANNELS = ("in_app", "email", "sms")
DIGESTS = ("off", "hourly", "daily")

# The inbox and the live event stream


def _inbox_paths() -> list:
    inbox_query = [_param("limit"), _param("cursor"), _query("unread", BOOL, "Only unread notifications")]
    page = _page("Notification")
    inbox = {
        **page,
        "required": [*page["required"], "unread_count"],
        "properties": {**page["properties"], "unread_count": {**INT, "description": "all unread, not this page's"}},
    }
    stream = {"description": "An event stream", "headers": (), "content": {"text/event-stream": {"schema": S}}}
    return [
        _operation(
            "get",
            "/notifications",
            TAG,
            "The caller's in-app inbox, newest first",
            {200: _json(inbox)},
            query=inbox_query,
            description="Every signed-in user, their own notifications only; `unread_count` counts all of them.",
        ),
        _operation(
            "post",
            "/notifications/{id}/read",
            TAG,
            "Mark one of the caller's notifications read",
            {200: _json(_ref("Notification"), "The notification, with the caller's unread_count", ("ETag",))},
            description="No body. 404 for another user's notification. Marking it again changes nothing.",
        ),
        _operation(
            "post",
            "/notifications/read-all",
            TAG,
            "Mark all of the caller's notifications read",
            {200: _json(_obj(["marked", "unread_count"], marked=INT, unread_count=INT))},
            description="No body. `marked`: how many were unread.",
        ),
        _operation(
            "get",
            "/events/stream",
            TAG,
            "Live events for the signed-in user (server-sent events)",
            {200: stream},
            description="`text/event-stream`: first `event: ready`, then one `event: notification_created` (its "
            "`data`: the notification as JSON: id, recipient_id, title, body, ref, created_at) per new in-app "
            "notification of the caller, and a `: heartbeat` comment every 15 s. The stream ends after "
            "EVENT_STREAM_MAX_SECONDS (default 300); clients reconnect (EventSource does). Last-Event-ID is not "
            "replayed: read GET /notifications after a reconnect. 503 with Retry-After when the gateway process "
            "serves its maximum of streams (EVENT_STREAM_MAX_CLIENTS) or cannot reach the broker.",
        ),
    ]


# Preferences and rules

QUIET_HOURS = {
    "type": ["object", "null"],
    "required": ["start", "end"],
    "properties": {"start": CLOCK_TIME, "end": CLOCK_TIME},
    "additionalProperties": False,
    "description": "local times (time_zone) when email and SMS wait; may cross midnight (22:00-07:00); start "
    "and end differ; null: none",
}
CHANNEL_LIST = {"type": "array", "items": {"enum": list(NOTICE_CHANNELS)}, "uniqueItems": True}
PREFERENCE_FIELDS = dict(
    email={**_null(EMAIL), "description": "where email notices go; default the account's email"},
    phone={
        "type": ["string", "null"],
        "pattern": r"^\+[0-9]{6,15}$",
        "description": "where SMS notices go: `+` and 6 to 15 digits",
    },
    language={"enum": list(LANGUAGES), "description": "of email and SMS notices; default en"},
    time_zone={"type": "string", "maxLength": 64, "description": "an IANA time zone; default UTC"},
    quiet_hours=QUIET_HOURS,
    digest={
        "enum": list(DIGESTS),
        "description": "off (default): each email notice on its own; hourly or daily: email notices wait and go "
        "out together in one email. Urgent notices never wait.",
    },
    digest_at={**CLOCK_TIME, "description": "daily digests: the local time they go out; default 08:00"},
    channels={
        "type": "object",
        "properties": {"email": BOOL, "sms": BOOL},
        "additionalProperties": False,
        "description": "the channels the user takes notices on besides in-app; default email on, SMS off (SMS "
        "needs a phone)",
    },
    muted={
        "type": "object",
        "propertyNames": {"enum": list(NOTICE_KINDS)},
        "additionalProperties": CHANNEL_LIST,
        "description": "channels the user does not want for a kind of notice; replaced whole by PATCH. Mutes of "
        "a mandatory kind are kept but not applied.",
    },
)
RULE_FIELDS = dict(
    audiences={
        "type": "array",
        "items": {"type": "string", "maxLength": 64},
        "uniqueItems": True,
        "description": "who is told, among the kind's audiences_available (the owner, the assignee, ...)",
    },
    user_ids={
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 64},
        "uniqueItems": True,
        "maxItems": 50,
        "description": "users told of every such notice besides the audiences (never the one who acted)",
    },
    channels={**CHANNEL_LIST, "description": "at least one while enabled"},
    enabled={**BOOL, "description": "false: nobody is told of this kind (webhooks are not affected)"},
    urgent={**BOOL, "description": "email and SMS go at once, ignoring quiet hours and digests"},
    mandatory={**BOOL, "description": "recipients cannot mute it"},
)
PREFERENCES_NOTE = (
    "The signed-in user's own preferences; until first changed, the defaults (ETag 0) with the account's email."
)


def _preference_and_rule_paths() -> list:
    preferences = _json(_ref("NotificationPreferences"), headers=("ETag",))
    rules = _obj(["data", "next_cursor"], data={"type": "array", "items": _ref("NotificationRule")}, next_cursor=NS)
    return [
        _operation(
            "get",
            "/notification-preferences",
            TAG,
            "The caller's notification preferences",
            {200: preferences},
            description=PREFERENCES_NOTE,
        ),
        _operation(
            "patch",
            "/notification-preferences",
            TAG,
            "Change some of the caller's notification preferences",
            {200: preferences},
            body="NotificationPreferencesUpdate",
            description=PREFERENCES_NOTE + " Only the fields given change (`quiet_hours: null` clears them, `muted` "
            "is replaced whole); the first change stores them (version 1). 422 names each invalid or unknown "
            "field: `channels.sms` true without a phone, an unknown time zone, quiet hours starting as they end.",
        ),
        _operation(
            "get",
            "/notification-rules",
            TAG,
            "The notification rules: one per kind of notice, in catalog order",
            {200: _json(rules)},
            description="Every signed-in user: the rules say who hears of what. A kind nobody changed answers its "
            "built-in default (customized false, ETag 0): in-app to its natural audiences.",
        ),
        *_item(
            TAG,
            "/notification-rules/{id}",
            "NotificationRule",
            "NotificationRuleUpdate",
            descriptions={
                "get": "Every signed-in user. The id is the kind of notice (404 for an unknown one).",
                "patch": ADMINS + " Audiences among the kind's audiences_available; channels not empty while "
                "enabled. Applies to notices from then on.",
            },
        ),
    ]


# Templates

TEMPLATE_FIELDS = dict(
    key={"enum": list(TEMPLATE_KEYS), "description": "what the message is for (GET /notification-templates/catalog)"},
    channel={"enum": list(TEMPLATE_CHANNELS)},
    language={"enum": list(LANGUAGES)},
    subject={**_text(300), "description": "email only: sms messages have none"},
    body={
        "type": "string",
        "maxLength": 10000,
        "description": "sandboxed Jinja using the key's variables: {{ customer_name }}, ...; sms at most 1000",
    },
    description=_text(500),
)
TEMPLATE_NOTES = {
    "get": "Admins and managers (403 otherwise). Only the templates admins wrote: the built-in defaults are in "
    "GET /notification-templates/catalog.",
    "post": "Admins only (403). One per key, channel and language (409 with the one in `matches`). A variable "
    "the key does not offer or a syntax error is a 422 naming it. Messages of that key, channel and language use "
    "it instead of the built-in default.",
    "patch": ADMINS + " key, channel and language cannot change (422).",
    "delete": ADMINS + " Messages fall back to the built-in default.",
}


def _template_paths() -> list:
    preview = _obj(
        ["key", "channel", "language", "template_id", "subject", "body", "variables_used"],
        key={"enum": list(TEMPLATE_KEYS)},
        channel={"enum": list(TEMPLATE_CHANNELS)},
        language={"enum": list(LANGUAGES)},
        template_id={**NS, "description": "the stored template rendered; null: a draft or the built-in default"},
        subject=NS,
        body=S,
        variables_used=STRINGS,
    )
    catalog = _obj(
        ["data", "channels", "languages"],
        data={"type": "array", "items": {"type": "object"}, "description": "each key: its variables and defaults"},
        channels=STRINGS,
        languages=STRINGS,
    )
    return [
        *_collection(
            TAG,
            "/notification-templates",
            "NotificationTemplate",
            "NotificationTemplateInput",
            _equals("key", channel={"enum": list(TEMPLATE_CHANNELS)}, language={"enum": list(LANGUAGES)}),
            create_errors=(403, 409),
            descriptions=TEMPLATE_NOTES,
        ),
        _operation(
            "get",
            "/notification-templates/catalog",
            TAG,
            "The template keys, their variables with sample values, and the built-in defaults",
            {200: _json(catalog)},
            errors=(403,),
            description="Admins and managers (403 otherwise).",
        ),
        _operation(
            "post",
            "/notification-templates/preview",
            TAG,
            "Render a template with sample values",
            {200: _json(preview)},
            body="NotificationTemplatePreview",
            errors=(403,),
            description="Admins and managers (403 otherwise). A draft (key, channel, language, subject, body), a "
            "stored template (template_id), or what is in force for key, channel and language (the admin's "
            "template, else the default), rendered with the catalog's sample values overridden by `variables`. "
            "Nothing is stored or sent. Unknown variables and syntax errors are a 422 naming them.",
        ),
        *_item(
            TAG,
            "/notification-templates/{id}",
            "NotificationTemplate",
            "NotificationTemplateUpdate",
            deletable=True,
            descriptions=TEMPLATE_NOTES,
        ),
    ]


# Webhooks and the delivery log

WEBHOOK_FIELDS = dict(
    url={**_text(2000, nullable=False), "description": "an http or https URL, without credentials"},
    event_types={
        "type": "array",
        "items": {"enum": list(EVENT_TYPES)},
        "minItems": 1,
        "maxItems": 50,
        "description": "the events delivered: `<service>.<event type>`",
    },
    filters={
        "type": "object",
        "maxProperties": 20,
        "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,3}$"},
        "additionalProperties": {
            "anyOf": [
                {"type": ["string", "number", "boolean", "null"], "maxLength": 1000},
                {"type": "array", "items": {"type": ["string", "number", "boolean", "null"]}, "minItems": 1},
            ]
        },
        "description": 'only events whose payload has these values: {"status": "won"}, a dotted path into '
        "the payload, a list for any of several values",
    },
    description=_text(500),
    active={**BOOL, "description": "default true; true again brings back a switched-off subscription"},
)
WEBHOOK_SERVER = dict(
    disabled_reason={**NS, "description": "why it was switched off after failing deliveries"},
    disabled_at=NTS,
    consecutive_failures={**INT, "description": "dead deliveries in a row"},
    created_by=S,
)
DELIVERY_FIELDS = dict(
    channel={"enum": list(DELIVERY_CHANNELS)},
    to={**S, "description": "the email address, phone number or URL"},
    subject=NS,
    body=NS,
    payload={"type": ["object", "null"], "description": "webhook deliveries: the JSON posted"},
    kind={**S, "description": "ticket_reply, greeting, ...; webhooks: the event type"},
    language=NS,
    contact_id={**NS, "description": "a message to this customer"},
    recipient_user_id={**NS, "description": "a notice to this user (staff notices and digests)"},
    about_contact_id={**NS, "description": "staff notices: the customer the notice names (no message to them)"},
    subscription_id={**NS, "description": "webhook deliveries: the webhook"},
    campaign_id=NS,
    dedupe_key={**S, "description": "nothing is sent twice for one key"},
    order_key={**NS, "description": "deliveries with the same key go out in creation order"},
    status={"enum": list(DELIVERY_STATUSES)},
    attempts=INT,
    replays=INT,
    last_error=NS,
    provider_id=NS,
    next_attempt_at=NTS,
    sent_at=NTS,
    event_id=NS,
    ref={"anyOf": [REF, {"type": "null"}]},
    ticket={"type": ["object", "null"], "description": "the ticket a customer email is about"},
)
REPLAYED = _json(_ref("Delivery"), "Queued again", ("ETag",))
SIGNATURE = (
    "Each delivery is a POST of `{id, event_id, event_type, occurred_at, data}` with the headers X-CRM-Event, "
    "X-CRM-Delivery, X-CRM-Timestamp (unix seconds) and `X-CRM-Signature: v1=<hex HMAC-SHA256(secret, "
    '"<X-CRM-Timestamp>.<raw body>")>`. A 2xx answer is success; other answers, timeouts and refused '
    "connections are retried with backoff, then the delivery is dead; 410 Gone and repeated dead deliveries "
    "switch the subscription off (`active` false, `disabled_reason`)."
)


def _webhook_paths() -> list:
    notes = {
        "get": ADMINS,
        "patch": ADMINS + " Switching a subscription off cancels its deliveries not sent yet; `active: true` "
        "brings it back with its failure count cleared. The secret never changes.",
        "delete": ADMINS + " Its deliveries not sent yet are cancelled; the delivery log stays.",
    }
    created = _json(_ref("WebhookCreated"), "Created: `secret` is shown this once", ("ETag", "Location"))
    return [
        *_collection(TAG, "/webhooks", "Webhook", None, _equals(active=BOOL), descriptions=notes),
        _operation(
            "post",
            "/webhooks",
            TAG,
            "Subscribe a URL to events",
            {201: created},
            body="WebhookInput",
            errors=(403,),
            description=ADMINS + " The answer holds the signing `secret` this once. " + SIGNATURE,
        ),
        *_item(TAG, "/webhooks/{id}", "Webhook", "WebhookUpdate", deletable=True, descriptions=notes),
        _operation(
            "get",
            "/webhooks/{id}/deliveries",
            TAG,
            "The webhook's delivery log, newest first",
            {200: _json(_page("Delivery"))},
            query=_list_params(
                "Delivery", *_equals("kind", "event_id", "contact_id", status={"enum": list(DELIVERY_STATUSES)})
            ),
            errors=(403,),
            description=ADMINS + " The delivery log's query, within the webhook's deliveries; `kind` is the "
            "event type.",
        ),
        _operation(
            "post",
            "/webhooks/{id}/deliveries/{delivery_id}/replay",
            TAG,
            "Send one of the webhook's deliveries again",
            {202: REPLAYED},
            errors=(403, 409),
            description=ADMINS + " A sent or dead delivery goes back to the queue, the same row and id (receivers "
            "may dedupe on X-CRM-Delivery), with its attempts from 0 and `replays` + 1. 409 while it is still on "
            "its way or was cancelled, and while the webhook is switched off.",
        ),
        _operation(
            "get",
            "/deliveries",
            TAG,
            "The delivery log of every channel (email, SMS, webhooks), newest first",
            {200: _json(_page("Delivery"))},
            query=_list_params(
                "Delivery",
                *_equals(
                    "kind",
                    "contact_id",
                    "about_contact_id",
                    "subscription_id",
                    "campaign_id",
                    "recipient_user_id",
                    "event_id",
                    channel={"enum": list(DELIVERY_CHANNELS)},
                    status={"enum": list(DELIVERY_STATUSES)},
                ),
            ),
            errors=(403,),
            description=ADMINS + " Every message on every channel: status, attempts, last error, provider id. "
            "In-app notifications are the recipients' inboxes.",
        ),
        _operation(
            "get",
            "/deliveries/{id}",
            TAG,
            "One delivery: status, attempts, last error, provider id",
            {200: _json(_ref("Delivery"), headers=("ETag",))},
            errors=(403,),
            description=ADMINS,
        ),
        _operation(
            "post",
            "/deliveries/{id}/replay",
            TAG,
            "Send a sent or dead delivery again",
            {202: REPLAYED},
            errors=(403, 409),
            description=ADMINS + " The same row goes back to the queue, due now, attempts from 0 and `replays` "
            "+ 1. 409 while it is still on its way or was cancelled.",
        ),
    ]


# Campaigns

CAMPAIGN_FIELDS = dict(
    name=_text(200, required=True),
    description=_text(2000),
    kind={"enum": list(CAMPAIGN_KINDS)},
    holiday={**_null({"enum": list(HOLIDAYS)}), "description": "required for kind holiday"},
    send_at={"type": ["string", "null"], "format": "date", "description": "kind one_off: the day it goes out"},
    local_time={**CLOCK_TIME, "description": "when it goes out, in the recipient's time zone; default 09:00"},
    time_zone={
        "type": "string",
        "maxLength": 64,
        "description": "an IANA time zone for recipients without one; default Asia/Shanghai",
    },
    segment_id={"type": "string", "maxLength": 64, "pattern": r"\S", "description": "a segment of contacts"},
    channel={"enum": list(CAMPAIGN_CHANNELS), "description": "default email"},
    template_key={
        "type": ["string", "null"],
        "maxLength": 64,
        "pattern": "^[a-z][a-z0-9_]{0,63}$",
        "description": "default greeting_<holiday> or greeting_<kind>; required for kind one_off",
    },
    active={**BOOL, "description": "default true"},
    throttle_per_minute={"type": "integer", "minimum": 1, "maximum": 10000, "description": "default 60"},
    quiet_hours={
        "type": ["object", "null"],
        "required": ["start", "end"],
        "properties": {"start": CLOCK_TIME, "end": CLOCK_TIME},
        "additionalProperties": False,
        "description": "messages due then wait until the end, in the recipient's time zone; default 21:00-08:00; "
        "null: none",
    },
    anniversary_field={
        "type": ["string", "null"],
        "maxLength": 100,
        "description": "kind anniversary: the contact's date field (custom_fields.since); default created_at",
    },
)
CAMPAIGN_NOTES = {
    "get": "Admins and managers (403 otherwise).",
    "post": "Admins and managers (403 otherwise). On each occurrence (the holiday, each member's birthday or "
    "anniversary, the one-off day) each member of the segment gets the message once, in their language (zh* "
    "Chinese, else English), unless they opted out of the channel (consent false, or an unsubscribe link); "
    "messages due in quiet hours wait until they end, and no more than throttle_per_minute go out a minute.",
    "patch": "Admins and managers (403 otherwise). Messages already queued keep their words and times.",
    "delete": "Admins and managers (403 otherwise). Its messages still queued are cancelled; the log stays.",
}


def _campaign_paths() -> list:
    equality = _equals(
        "segment_id",
        kind={"enum": list(CAMPAIGN_KINDS)},
        holiday={"enum": list(HOLIDAYS)},
        channel={"enum": list(CAMPAIGN_CHANNELS)},
        active=BOOL,
    )
    return [
        *_collection(TAG, "/campaigns", "Campaign", "CampaignInput", equality, descriptions=CAMPAIGN_NOTES),
        *_item(TAG, "/campaigns/{id}", "Campaign", "CampaignUpdate", deletable=True, descriptions=CAMPAIGN_NOTES),
    ]


# Unsubscribe


def _unsubscribe_paths() -> list:
    confirmation = _obj(["channel", "unsubscribed"], channel={"enum": list(CAMPAIGN_CHANNELS)}, unsubscribed=BOOL)
    done = {
        "description": "Unsubscribed: a short confirmation in English and Chinese, or JSON when the client "
        "asks for it (Accept: application/json)",
        "headers": ("Cache-Control",),
        "content": {"text/plain": {"schema": S}, "application/json": {"schema": confirmation}},
    }
    token = _query("token", {"type": "string", "minLength": 1}, "The token of the message's link", required=True)
    return [
        _operation(
            "get",
            "/unsubscribe",
            TAG,
            "Follow a message's unsubscribe link (no credential)",
            {200: done},
            query=[token],
            public=True,
            errors=(429, 503),
            description="Public: no credential; the signed token of the link names the contact and the channel. "
            "The contact gets no more greetings on that channel, and those still queued are cancelled. Following "
            "it again changes nothing. 400 for a missing, repeated or invalid token, or another parameter. "
            "Rate-limited per client address (the `anonymous` limit).",
        ),
    ]


def notifications_paths() -> list:
    return [
        *_inbox_paths(),
        *_preference_and_rule_paths(),
        *_template_paths(),
        *_webhook_paths(),
        *_campaign_paths(),
        *_unsubscribe_paths(),
    ]


def notifications_schemas() -> dict:
    webhook = _record(WEBHOOK_FIELDS, **WEBHOOK_SERVER)
    secret = {**S, "pattern": "^[0-9a-f]{64}$", "description": "the signing secret, shown only once"}
    return {
        "Notification": _obj(
            ["id", "title", "read", "created_at"],
            id=S,
            recipient_id=S,
            channel=S,
            title=S,
            body=S,
            read=BOOL,
            read_at={**NTS, "description": "when it was marked read"},
            created_at=TS,
            ref=REF,
            contact_id={**NS, "description": "the customer it is about, when there is one"},
            version=INT,
            unread_count={**INT, "description": "in the answer of POST /notifications/{id}/read"},
        ),
        "NotificationPreferencesUpdate": _closed([], **PREFERENCE_FIELDS),
        "NotificationPreferences": _obj(
            [*PREFERENCE_FIELDS, "id", "user_id", "version", "created_at", "updated_at"],
            **PREFERENCE_FIELDS,
            id={**S, "description": "the user's id"},
            user_id=S,
            version={**INT, "description": "0 until first changed"},
            created_at=NTS,
            updated_at=NTS,
        ),
        "NotificationRuleUpdate": _closed([], **RULE_FIELDS),
        "NotificationRule": _obj(
            ["id", "kind", "description", "source_events", "audiences_available", *RULE_FIELDS, "customized"]
            + ["version", "updated_at", "updated_by"],
            id={"enum": list(NOTICE_KINDS), "description": "the kind"},
            kind={"enum": list(NOTICE_KINDS)},
            description=S,
            source_events={**STRINGS, "description": "the events notices of this kind come from"},
            audiences_available=STRINGS,
            **RULE_FIELDS,
            customized={**BOOL, "description": "false: the built-in default, never changed"},
            version={**INT, "description": "0 until first changed"},
            updated_at=NTS,
            updated_by=NS,
        ),
        "NotificationTemplateInput": _closed(["key", "channel", "language", "body"], **TEMPLATE_FIELDS),
        "NotificationTemplateUpdate": _closed([], **TEMPLATE_FIELDS),
        "NotificationTemplate": _record(
            {**TEMPLATE_FIELDS, "subject": NS, "description": NS},
            variables={**STRINGS, "description": "the variables the template uses"},
            created_by=S,
            updated_by=S,
        ),
        "NotificationTemplatePreview": _closed(
            [],
            template_id={"type": "string", "maxLength": 64, "description": "a stored template"},
            **TEMPLATE_FIELDS,
            variables={"type": ["object", "null"], "description": "values by name; default the catalog's samples"},
        ),
        "WebhookInput": _closed(["url", "event_types"], **WEBHOOK_FIELDS),
        "WebhookUpdate": _closed([], **WEBHOOK_FIELDS),
        "Webhook": webhook,
        "WebhookCreated": {"allOf": [_ref("Webhook"), _obj(["secret"], secret=secret)]},
        "Delivery": _record(DELIVERY_FIELDS),
        "CampaignInput": _closed(["name", "kind", "segment_id"], **CAMPAIGN_FIELDS),
        "CampaignUpdate": _closed([], **CAMPAIGN_FIELDS),
        "Campaign": _record(
            {**CAMPAIGN_FIELDS, "segment_id": S, "template_key": NS, "quiet_hours": CAMPAIGN_FIELDS["quiet_hours"]},
            created_by=S,
        ),
    }
