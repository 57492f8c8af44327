"""Telling staff: `_notify`, the one way an event's notice reaches people (the kind's rule says who
and on which channels, each recipient's preferences say how and when: in-app, an email now or
after their quiet hours, an entry of their email digest, an SMS), and the digest timer that sends
each user's collected notices as one email when it is due. A mixin of NotificationsService."""

import logging
from collections.abc import Iterable
from datetime import datetime

from nameko.timer import timer

from crm_common.caller import SYSTEM_USER
from crm_common.config import float_setting
from crm_common.errors import Conflict, PreconditionFailed

from . import delivery_rules, domain
from . import notice_rules as rules
from .store import NOTICE_DIGEST_ENTRIES, NOTIFICATION_PREFERENCES, NOTIFICATION_RULES

log = logging.getLogger(__name__)

DIGEST_TIMER_SECONDS = float_setting("DIGEST_TIMER_SECONDS", 60.0)
DIGEST_MAX_ENTRIES = 200  # one digest email holds at most these; the rest go in the next one
# A digest entry waits for its recipient's next digest, then is kept, `sent`, with the id of the
# digest delivery that told it: the personal-data export and an erasure find that email through it.
DIGEST_WAITING, DIGEST_SENT = "waiting", "sent"


class Notices:
    """Staff notices by rule and preference, and their digests."""

    def _notice_rule(self, source, kind: str) -> dict:
        """The stored rule of `kind`, else its built-in default."""
        return source[NOTIFICATION_RULES].get(kind) or rules.default_rule(kind)

    def _preferences_of(self, source, user_id: str) -> dict:
        """The user's stored preferences, else the defaults (with no email: an event knows no
        account address, so nobody gets email before saving their preferences once)."""
        return source[NOTIFICATION_PREFERENCES].get(user_id) or rules.default_preferences(user_id)

    def _notify(
        self,
        tx,
        event,
        kind: str,
        audiences: dict[str, Iterable[str | None]],
        title: str,
        body: str,
        ref_type: str,
        record: dict,
        suffix: str = "",
        key: str | None = None,
        with_rule_user_ids: bool = True,
    ) -> None:
        """Tell the people of `kind`'s rule about `record` (its `id`; its `contact_id`, the
        customer the text names): the users of the rule's audiences (`audiences` maps each of the
        kind's audiences to its users, as the handler knows them), then the rule's extra
        `user_ids` except the event's actor (unless `with_rule_user_ids` is false: a handler that
        tells them a notice of their own). Each notice's id is `<key or event_id>:<recipient>
        <suffix>`: a redelivered event tells nobody twice."""
        unknown = set(audiences) - set(rules.KINDS[kind].audiences)
        if unknown:
            raise ValueError(f"{kind} has no audience {', '.join(sorted(unknown))}")
        rule = self._notice_rule(tx, kind)
        if not rule["enabled"]:
            return
        chosen = [user for name, users in audiences.items() if name in rule["audiences"] for user in users]
        if with_rule_user_ids:
            chosen += [user for user in rule["user_ids"] if user != event.actor]
        now = self._now()
        ref = {"type": ref_type, "id": record["id"]}
        for recipient in dict.fromkeys(user for user in chosen if user and user != SYSTEM_USER):
            nid = f"{key or event.event_id}:{recipient}{suffix}"
            prefs = self._preferences_of(tx, recipient)
            plan = rules.plan(rule, prefs, now)
            if plan.in_app:
                notification = domain.in_app(
                    recipient,
                    key or event.event_id,
                    title,
                    body,
                    ref_type,
                    record["id"],
                    event.occurred_at,
                    contact_id=record.get("contact_id"),
                )
                self._put_in_app(tx, {**notification, "id": nid})
            for channel, due, to in (
                ("email", plan.email_at, prefs.get("email")),
                ("sms", plan.sms_at, prefs.get("phone")),
            ):
                if due is None:
                    continue
                subject, text = self._render(
                    tx, "staff_notice", channel, prefs["language"], {"notice_title": title, "notice_body": body}
                )
                self._queue_delivery(
                    tx,
                    delivery_rules.new_delivery(
                        channel=channel,
                        to=to,
                        dedupe_key=f"{nid}:{channel}",
                        kind="staff_notice",
                        created_at=delivery_rules.stamp(now),
                        subject=subject,
                        body=text,
                        language=prefs["language"],
                        recipient_user_id=recipient,
                        about_contact_id=record.get("contact_id"),
                        event_id=event.event_id,
                        ref=ref,
                        next_attempt_at=delivery_rules.stamp(due),
                    ),
                )
            if plan.email_digest and tx[NOTICE_DIGEST_ENTRIES].get(nid) is None:
                # Once only: a redelivered event must not put a sent entry back in the queue.
                tx[NOTICE_DIGEST_ENTRIES].insert(
                    {
                        "id": nid,
                        "user_id": recipient,
                        "title": title,
                        "body": body,
                        "ref": ref,
                        "about_contact_id": record.get("contact_id"),
                        "state": DIGEST_WAITING,
                        "digest_delivery_id": None,
                        "created_at": delivery_rules.stamp(now),
                    }
                )

    # digests

    @timer(interval=DIGEST_TIMER_SECONDS)
    def run_digests(self) -> None:
        try:
            queued = self.send_digests_at(self._now())
        except Exception:
            log.exception("the digest timer failed; the next run tries again")
            return
        if queued:
            log.info("notice digests queued: %d", queued)

    def send_digests_at(self, now: datetime) -> int:
        """Queue the digest email of every user whose oldest waiting notice's digest is due at
        `now`; returns how many were queued. Each user's digest is one transaction: two instances
        racing collide on its dedupe key (or on the entries it marks sent), and the loser rolls
        back and goes on."""
        queued = 0
        for user_id, oldest in self._digest_users():
            prefs = self._preferences_of(self.store, user_id)
            if rules.digest_due_at(prefs, delivery_rules.parse_stamp(oldest)) > now:
                continue
            try:
                with self.store.transaction() as tx:
                    queued += self._send_digest(tx, user_id, now)
            except (Conflict, PreconditionFailed):  # the dedupe key, or the entries' versions
                log.info("the digest of user %s was queued by another instance", user_id)
        return queued

    def _digest_users(self) -> list[tuple[str, str]]:
        """Each user with waiting notices, and when their oldest one was written."""
        oldest: dict[str, str] = {}
        waiting = {"state": DIGEST_WAITING}
        for entry in self.store[NOTICE_DIGEST_ENTRIES].iterate(waiting, [("user_id", 1), ("created_at", 1)]):
            oldest.setdefault(entry["user_id"], entry["created_at"])
        return list(oldest.items())

    def _send_digest(self, tx, user_id: str, now: datetime) -> int:
        entries = (
            tx[NOTICE_DIGEST_ENTRIES]
            .find({"state": DIGEST_WAITING, "user_id": user_id}, [("created_at", 1), ("id", 1)], DIGEST_MAX_ENTRIES)
            .items
        )
        if not entries:  # another instance sent them meanwhile
            return 0
        prefs = self._preferences_of(tx, user_id)
        if not prefs.get("email"):
            log.warning("user %s has no email any more: %d digest notices dropped", user_id, len(entries))
            for entry in entries:
                tx[NOTICE_DIGEST_ENTRIES].delete(entry["id"], entry["version"])
            return 0
        subject, body = self._render(
            tx,
            "notice_digest",
            "email",
            prefs["language"],
            {
                "notices": [
                    {"title": e["title"], "body": e["body"], "at": domain.shown_time(e["created_at"])} for e in entries
                ],
                "notice_count": len(entries),
            },
        )
        delivery = self._queue_delivery(
            tx,
            delivery_rules.new_delivery(
                channel="email",
                to=prefs["email"],
                dedupe_key=f"digest:{user_id}:{entries[0]['id']}",
                kind="notice_digest",
                created_at=delivery_rules.stamp(now),
                subject=subject,
                body=body,
                language=prefs["language"],
                recipient_user_id=user_id,
                next_attempt_at=delivery_rules.stamp(now),
            ),
        )
        if delivery is None:  # its dedupe key is taken: another instance queued this digest
            raise Conflict(f"the digest of user {user_id} is queued already")
        sent = {"state": DIGEST_SENT, "digest_delivery_id": delivery["id"], "sent_at": delivery_rules.stamp(now)}
        for entry in entries:  # a racing instance changed them too: the version check rolls this back
            tx[NOTICE_DIGEST_ENTRIES].replace({**entry, **sent}, entry["version"])
        return 1
