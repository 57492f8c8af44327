"""The notifications routes beyond the generic resources of api.py (templates, webhooks, campaigns):
the inbox's read marks, the caller's notification preferences, the notification rules (who hears of
what, on which channels), template previews, the delivery log and its replays, and the public
unsubscribe link. They share api.py's blueprint and helpers; the service decides who may do what."""

from flask import Response, current_app, g, jsonify, request

from crm_common.caller import Caller
from crm_common.errors import BadRequest

from .api import _body_object, blueprint, call, collection, expected_version, json_body, list_query, single

SERVICE = "notifications"
# Who follows an unsubscribe link: no credential, only the signed token in the link.
ANONYMOUS_CALLER = "anonymous"
CONFIRMATION = "You are unsubscribed: you will get no more of these messages.\n您已退订，将不再收到此类消息。\n"
PREVIEW_FIELDS = ("template_id", "key", "channel", "language", "subject", "body", "description", "variables")


# The caller's inbox


@blueprint.post("/notifications/<notification_id>/read")
def mark_notification_read(notification_id: str):
    _body_object(False, ())
    return single(call(SERVICE, "mark_notification_read", notification_id=notification_id))


@blueprint.post("/notifications/read-all")
def mark_all_notifications_read():
    _body_object(False, ())
    return jsonify(call(SERVICE, "mark_all_notifications_read"))


# The caller's own notification preferences: quiet hours, digests, channels, mutes


def _account_email() -> str | None:
    """The signed-in user's directory email: the address their preferences start from. An API key
    is not a person reading mail, so it gives none."""
    return g.principal.user["email"] if g.principal.kind == "user" else None


@blueprint.get("/notification-preferences")
def get_notification_preferences():
    return single(call(SERVICE, "get_notification_preferences", account_email=_account_email()))


@blueprint.patch("/notification-preferences")
def update_notification_preferences():
    changes = {"data": json_body(), "expected_version": expected_version(), "account_email": _account_email()}
    return single(call(SERVICE, "update_notification_preferences", **changes))


# Notification rules: one per kind of notice; every signed-in user reads them, admins change them


@blueprint.get("/notification-rules")
def list_notification_rules():
    return collection(call(SERVICE, "list_notification_rules", query=list_query()))


@blueprint.get("/notification-rules/<notification_rule_id>")
def get_notification_rule(notification_rule_id: str):
    return single(call(SERVICE, "get_notification_rule", notification_rule_id=notification_rule_id))


@blueprint.patch("/notification-rules/<notification_rule_id>")
def update_notification_rule(notification_rule_id: str):
    changes = {"data": json_body(), "expected_version": expected_version()}
    return single(call(SERVICE, "update_notification_rule", notification_rule_id=notification_rule_id, **changes))


# Templates: the catalog of keys and defaults; a preview renders a template with sample or given values


@blueprint.get("/notification-templates/catalog")
def notification_template_catalog():
    return jsonify(call(SERVICE, "get_notification_template_catalog"))


@blueprint.post("/notification-templates/preview")
def preview_notification_template():
    """The body is a template ({key, channel, language, subject, body}) or {template_id}, plus optional
    `variables`; the service checks it."""
    body = _body_object(True, PREVIEW_FIELDS)
    data = {name: value for name, value in body.items() if name != "variables"}
    return jsonify(call(SERVICE, "preview_notification_template", data=data, variables=body.get("variables")))


# Webhook deliveries and the delivery log of every channel


@blueprint.get("/webhooks/<resource_id>/deliveries")
def list_webhook_deliveries(resource_id: str):
    return collection(call(SERVICE, "list_webhook_deliveries", webhook_id=resource_id, query=list_query()))


@blueprint.post("/webhooks/<resource_id>/deliveries/<delivery_id>/replay")
def replay_webhook_delivery(resource_id: str, delivery_id: str):
    _body_object(False, ())
    delivery = call(SERVICE, "replay_webhook_delivery", webhook_id=resource_id, delivery_id=delivery_id)
    return single(delivery, 202)


@blueprint.get("/deliveries")
def list_deliveries():
    return collection(call(SERVICE, "list_deliveries", query=list_query()))


@blueprint.get("/deliveries/<delivery_id>")
def get_delivery(delivery_id: str):
    return single(call(SERVICE, "get_delivery", delivery_id=delivery_id))


@blueprint.post("/deliveries/<delivery_id>/replay")
def replay_delivery(delivery_id: str):
    _body_object(False, ())
    return single(call(SERVICE, "replay_delivery", delivery_id=delivery_id), 202)


# Unsubscribe: public (auth.PUBLIC_ENDPOINTS), rate-limited per client address


@blueprint.get("/unsubscribe")
def unsubscribe():
    tokens = request.args.getlist("token")
    if len(tokens) != 1 or not tokens[0] or set(request.args) != {"token"}:
        raise BadRequest("give the token of the unsubscribe link once, and nothing else")
    caller = Caller(ANONYMOUS_CALLER, (), (), g.request_id)
    done = current_app.extensions["rpc"].call(SERVICE, "unsubscribe", caller, token=tokens[0])
    if request.accept_mimetypes.best_match(["text/plain", "application/json"]) == "application/json":
        response = jsonify(done)
    else:
        response = Response(CONFIRMATION, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response
