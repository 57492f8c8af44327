"""The notifications routes at the edge: the RPC calls they make, their statuses and headers, and the
public unsubscribe link, which needs no credential."""

import pytest

from crm_common.errors import BadRequest, Conflict, NotFound

from .conftest import ADMIN_EMAIL

DELIVERY = {"id": "d1", "status": "queued", "attempts": 0, "replays": 1, "version": 5}


def test_a_notification_is_marked_read_for_the_caller(client, rpc):
    rpc.answers[("notifications", "mark_notification_read")] = {"id": "n1", "read": True, "version": 2}
    response = client.post("/api/v1/notifications/n1/read")
    assert response.status_code == 200 and response.headers["ETag"] == '"2"'
    assert rpc.calls[0][1:2] == ("mark_notification_read",) and rpc.calls[0][3] == {"notification_id": "n1"}
    assert rpc.calls[0][2].user_id  # the signed-in caller: the service answers their own only
    rpc.answers[("notifications", "mark_notification_read")] = NotFound("no notification n2")
    assert client.post("/api/v1/notifications/n2/read").status_code == 404
    assert client.post("/api/v1/notifications/n1/read", json={"read": False}).status_code == 422


def test_all_notifications_are_marked_read(client, rpc):
    rpc.answers[("notifications", "mark_all_notifications_read")] = {"marked": 3, "unread_count": 0}
    response = client.post("/api/v1/notifications/read-all", json={})
    assert response.status_code == 200 and response.get_json() == {"marked": 3, "unread_count": 0}
    assert rpc.calls[0][1] == "mark_all_notifications_read" and rpc.calls[0][3] == {}


def test_a_preview_passes_the_template_and_its_variables_apart(client, rpc):
    rpc.answers[("notifications", "preview_notification_template")] = {"subject": "s", "body": "b"}
    draft = {"key": "ticket_reply", "channel": "email", "language": "en", "body": "Hi {{ customer_name }}"}
    response = client.post("/api/v1/notification-templates/preview", json={**draft, "variables": {"x": 1}})
    assert response.status_code == 200
    assert rpc.calls[0][3] == {"data": draft, "variables": {"x": 1}}
    client.post("/api/v1/notification-templates/preview", json={"template_id": "t1"})
    assert rpc.calls[1][3] == {"data": {"template_id": "t1"}, "variables": None}
    for body in ({"key": "x", "unknown": 1}, ["not", "an", "object"]):
        assert client.post("/api/v1/notification-templates/preview", json=body).status_code == 422
    assert len(rpc.calls) == 2


def test_the_template_catalog_is_read_through_the_service(client, rpc):
    rpc.answers[("notifications", "get_notification_template_catalog")] = {"data": [], "channels": [], "languages": []}
    assert client.get("/api/v1/notification-templates/catalog").status_code == 200
    assert rpc.calls[0][1] == "get_notification_template_catalog"


@pytest.mark.parametrize(
    "path,noun,key",
    [
        ("notification-templates", "notification_template", "notification_template_id"),
        ("webhooks", "webhook", "webhook_id"),
        ("campaigns", "campaign", "campaign_id"),
    ],
)
def test_templates_webhooks_and_campaigns_are_generic_resources(client, rpc, path, noun, key):
    rpc.answers[("notifications", f"create_{noun}")] = {"id": "x1", "version": 1}
    rpc.answers[("notifications", f"get_{noun}")] = {"id": "x1", "version": 1}
    rpc.answers[("notifications", f"update_{noun}")] = {"id": "x1", "version": 2}
    created = client.post(f"/api/v1/{path}", json={"name": "n"})
    assert created.status_code == 201 and created.headers["Location"].endswith(f"/api/v1/{path}/x1")
    assert client.get(f"/api/v1/{path}/x1").headers["ETag"] == '"1"'
    assert client.patch(f"/api/v1/{path}/x1", json={"name": "m"}, headers={"If-Match": '"1"'}).status_code == 200
    assert client.delete(f"/api/v1/{path}/x1", headers={"If-Match": '"2"'}).status_code == 204
    assert [c[3] for c in rpc.calls[1:]] == [
        {key: "x1"},
        {key: "x1", "data": {"name": "m"}, "expected_version": 1},
        {key: "x1", "expected_version": 2},
    ]


def test_a_webhooks_deliveries_are_listed_and_replayed(client, rpc):
    rpc.answers[("notifications", "list_webhook_deliveries")] = {"data": [DELIVERY], "next_cursor": None}
    rpc.answers[("notifications", "replay_webhook_delivery")] = DELIVERY
    listed = client.get("/api/v1/webhooks/w1/deliveries?status=dead&limit=5")
    assert listed.status_code == 200 and listed.get_json()["data"] == [DELIVERY]
    replayed = client.post("/api/v1/webhooks/w1/deliveries/d1/replay")
    assert replayed.status_code == 202 and replayed.headers["ETag"] == '"5"'
    assert [c[3] for c in rpc.calls] == [
        {"webhook_id": "w1", "query": {"limit": "5", "where": {"status": "dead"}}},
        {"webhook_id": "w1", "delivery_id": "d1"},
    ]
    rpc.answers[("notifications", "replay_webhook_delivery")] = Conflict("switched off")
    assert client.post("/api/v1/webhooks/w1/deliveries/d1/replay").status_code == 409


def test_the_delivery_log_is_read_and_replayed(client, rpc):
    rpc.answers[("notifications", "list_deliveries")] = {"data": [], "next_cursor": None}
    rpc.answers[("notifications", "get_delivery")] = DELIVERY
    rpc.answers[("notifications", "replay_delivery")] = DELIVERY
    assert client.get('/api/v1/deliveries?channel=email&filter={"status":{"in":["dead"]}}').status_code == 200
    assert client.get("/api/v1/deliveries/d1").headers["ETag"] == '"5"'
    assert client.post("/api/v1/deliveries/d1/replay").status_code == 202
    assert client.post("/api/v1/deliveries/d1/replay", json={"now": True}).status_code == 422
    assert [c[3] for c in rpc.calls] == [
        {"query": {"filter": {"status": {"in": ["dead"]}}, "where": {"channel": "email"}}},
        {"delivery_id": "d1"},
        {"delivery_id": "d1"},
    ]


def test_unsubscribe_needs_no_credential_and_answers_text_or_json(app, rpc):
    anonymous = app.test_client()
    rpc.answers[("notifications", "unsubscribe")] = {"channel": "email", "unsubscribed": True}
    response = anonymous.get("/api/v1/unsubscribe?token=c1.email.abc")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "unsubscribed" in response.get_data(as_text=True) and response.headers["Cache-Control"] == "no-store"
    assert "RateLimit-Limit" in response.headers  # the client address's anonymous bucket
    as_json = anonymous.get("/api/v1/unsubscribe?token=c1.email.abc", headers={"Accept": "application/json"})
    assert as_json.get_json() == {"channel": "email", "unsubscribed": True}
    service, method, caller, kwargs = rpc.calls[0]
    assert (service, method, kwargs) == ("notifications", "unsubscribe", {"token": "c1.email.abc"})
    assert caller.user_id == "anonymous" and caller.roles == ()


def test_a_bad_unsubscribe_link_is_a_400_problem(app, rpc):
    anonymous = app.test_client()
    for query in ("", "?token=", "?token=a&token=b", "?token=a&x=1"):
        response = anonymous.get(f"/api/v1/unsubscribe{query}")
        assert response.status_code == 400, query
        assert response.headers["Content-Type"] == "application/problem+json"
    assert rpc.calls == []
    rpc.answers[("notifications", "unsubscribe")] = BadRequest("this unsubscribe link is not valid")
    refused = anonymous.get("/api/v1/unsubscribe?token=forged")
    assert refused.status_code == 400 and refused.get_json()["detail"] == "this unsubscribe link is not valid"


def test_preferences_start_from_the_users_directory_email_and_an_api_key_gives_none(client, app, rpc):
    prefs = {"id": "u1", "email": ADMIN_EMAIL, "version": 0}
    rpc.answers[("notifications", "get_notification_preferences")] = prefs
    rpc.answers[("notifications", "update_notification_preferences")] = {**prefs, "version": 1}
    assert client.get("/api/v1/notification-preferences").status_code == 200
    changed = client.patch("/api/v1/notification-preferences", json={"digest": "daily"}, headers={"If-Match": '"0"'})
    assert changed.status_code == 200 and changed.headers["ETag"] == '"1"'
    assert [c[1:2] + (c[3],) for c in rpc.calls] == [
        ("get_notification_preferences", {"account_email": ADMIN_EMAIL}),
        (
            "update_notification_preferences",
            {"data": {"digest": "daily"}, "expected_version": 0, "account_email": ADMIN_EMAIL},
        ),
    ]
    key = client.post("/api/v1/api-keys", json={"name": "ERP sync", "role": "viewer"}).get_json()["key"]
    by_key = app.test_client()
    assert by_key.get("/api/v1/notification-preferences", headers={"X-API-Key": key}).status_code == 200
    assert by_key.patch("/api/v1/notification-preferences", json={}, headers={"X-API-Key": key}).status_code == 200
    assert [c[3]["account_email"] for c in rpc.calls[-2:]] == [None, None]
