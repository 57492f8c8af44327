"""The in-app inbox: the caller's notifications with their unread count, marking them read, and
the one way a notification is written (`_put_in_app`), which also announces a new one with
`notification_created` for the gateway's live event stream. A mixin of NotificationsService."""

from datetime import UTC, datetime

from nameko.rpc import rpc

from crm_common.caller import SYSTEM_USER
from crm_common.envelope import new_event
from crm_common.errors import BadRequest, NotFound
from crm_common.listing import parse_limit
from crm_common.logs import current_request_id

from . import events
from .live_sink import LiveEventSink
from .store import NOTIFICATIONS

# What `notification_created` carries: enough for the web UI to show it without asking again.
ANNOUNCED_FIELDS = ("id", "recipient_id", "title", "body", "ref", "created_at")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class InboxRpc:
    """The caller's own inbox; nobody reads or marks another person's notifications."""

    live_sink = LiveEventSink()

    def _put_in_app(self, tx, notification: dict) -> dict:
        """Write an in-app notification (new, or a change to a stored one such as an erasure's
        scrub) and, only when it is new, emit `notification_created` in the same transaction.
        A notification written again for the same event keeps its id, so it is announced once, and
        keeps its read state: writing it again never makes it unread."""
        existing = tx[NOTIFICATIONS].get(notification["id"])
        if existing is not None:
            notification = {**notification, "read": existing.get("read", False), "read_at": existing.get("read_at")}
        stored = tx[NOTIFICATIONS].put(notification)
        if existing is None:
            # Written by event handlers and timers, which act as the system (not `self.caller`,
            # which a unit test's worker may not have).
            payload = {name: stored.get(name) for name in ANNOUNCED_FIELDS}
            tx.emit(
                new_event(
                    events.NOTIFICATION_CREATED,
                    self.name,
                    payload,
                    actor=SYSTEM_USER,
                    correlation_id=current_request_id(),
                )
            )
        return stored

    def _own_notification(self, source, notification_id) -> dict:
        if not isinstance(notification_id, str) or not notification_id:
            raise BadRequest("notification_id must be a non-empty string")
        notification = source[NOTIFICATIONS].get(notification_id)
        if notification is None or notification.get("recipient_id") != self.caller.user_id:
            # Someone else's notification is as unknown as a missing one: ids say nothing.
            raise NotFound(f"no notification {notification_id}")
        return notification

    def _unread_count(self, source) -> int:
        return source[NOTIFICATIONS].count({"recipient_id": self.caller.user_id, "read": False})

    @rpc
    def list_notifications(self, query: dict) -> dict:
        """The caller's own inbox, newest first, with how many of all their notifications are unread."""
        query = query if isinstance(query, dict) else {}
        flt: dict = {"recipient_id": self.caller.user_id}
        if query.get("unread") in ("true", "1", True):
            flt["read"] = False
        page = self.store[NOTIFICATIONS].find(
            flt, [("created_at", -1)], parse_limit(query.get("limit")), query.get("cursor") or None
        )
        return {"data": page.items, "next_cursor": page.next_cursor, "unread_count": self._unread_count(self.store)}

    @rpc
    def mark_notification_read(self, notification_id: str) -> dict:
        """Mark one of the caller's notifications read; marking a read one again changes nothing.
        Returns the notification with `unread_count`, the caller's unread notifications left."""
        with self.store.transaction() as tx:
            notification = self._own_notification(tx, notification_id)
            if not notification.get("read"):
                notification = tx[NOTIFICATIONS].replace(
                    {**notification, "read": True, "read_at": _iso(self._now())}, notification["version"]
                )
            return {**notification, "unread_count": self._unread_count(tx)}

    @rpc
    def mark_all_notifications_read(self) -> dict:
        """Mark every unread notification of the caller read, in one transaction."""
        read_at = _iso(self._now())
        marked = 0
        with self.store.transaction() as tx:
            unread = list(tx[NOTIFICATIONS].iterate({"recipient_id": self.caller.user_id, "read": False}))
            for notification in unread:
                tx[NOTIFICATIONS].replace({**notification, "read": True, "read_at": read_at}, notification["version"])
                marked += 1
        return {"marked": marked, "unread_count": 0}
