"""Notification preferences and rules over RPC (SQLite, no broker): defaults, partial updates,
validation naming fields, If-Match, admin-only rules; and what they do to a notice: quiet hours
defer an email, a digest collects and is sent once, urgent and mandatory notices, SMS."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.envelope import new_event
from crm_common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.store import DocumentStore, open_store
from notifications.service import NotificationsService
from notifications.store import DELIVERIES, NOTICE_DIGEST_ENTRIES, NOTIFICATIONS, SPECS

NOW = datetime(2030, 1, 2, 14, 30, tzinfo=UTC)  # 22:30 in Asia/Shanghai
MORNING = "2030-01-03T00:00:00.000000Z"  # 08:00 in Asia/Shanghai


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, user: str = "u1", role: str = "sales_rep", now: datetime = NOW):
    worker = worker_factory(NotificationsService, store=store, caller=Caller(user, (role,)))
    worker._now = lambda: now
    return worker


def fields(exc) -> list[str]:
    return [e["field"] for e in exc.value.errors]


def notify(store: DocumentStore, kind: str = "deal_won", recipient: str = "u1", now: datetime = NOW) -> object:
    event = new_event("deal_updated", "sales", {"id": "d1"}, actor="m1")
    audience = next(iter(service(store).get_notification_rule(kind)["audiences_available"]))
    with store.transaction() as tx:
        service(store, now=now)._notify(
            tx, event, kind, {audience: [recipient]}, "Deal won", "Printers", "deal", {"id": "d1"}
        )
    return event


def email_rule(store: DocumentStore, kind: str = "deal_won", **extra) -> None:
    service(store, "admin1", "admin").update_notification_rule(kind, {"channels": ["in_app", "email", "sms"], **extra})


QUIET = {
    "time_zone": "Asia/Shanghai",
    "quiet_hours": {"start": "21:00", "end": "08:00"},
}


def test_defaults_then_a_partial_update_with_if_match(store) -> None:
    prefs = service(store).get_notification_preferences("u1@example.com")
    assert (prefs["email"], prefs["digest"], prefs["channels"], prefs["version"]) == (
        "u1@example.com",
        "off",
        {"email": True, "sms": False},
        0,
    )
    stored = service(store).update_notification_preferences({"language": "zh-CN"}, 0, "u1@example.com")
    assert (stored["version"], stored["language"], stored["email"]) == (1, "zh-CN", "u1@example.com")
    with pytest.raises(PreconditionFailed):
        service(store).update_notification_preferences({"digest": "daily"}, 0)
    stored = service(store).update_notification_preferences({**QUIET, "digest": "daily"}, 1)
    assert (stored["version"], stored["language"], stored["digest"]) == (2, "zh-CN", "daily")
    assert service(store).update_notification_preferences({"quiet_hours": None})["quiet_hours"] is None
    assert service(store, "u2").get_notification_preferences()["email"] is None  # one's own only


def test_invalid_preferences_name_their_fields(store) -> None:
    with pytest.raises(ValidationFailed) as exc:
        service(store).update_notification_preferences({"time_zone": "Nowhere", "digest_at": "8am", "id": "x"})
    assert sorted(fields(exc)) == ["digest_at", "id", "time_zone"]
    with pytest.raises(ValidationFailed) as exc:
        service(store).update_notification_preferences({"channels": {"sms": True}})
    assert fields(exc) == ["channels.sms"]


def test_rules_are_read_by_anyone_and_changed_by_admins_only(store) -> None:
    listed = service(store).list_notification_rules()
    assert [r["kind"] for r in listed["data"]][:2] == ["customer_assigned", "customers_handed_over"]
    assert listed["next_cursor"] is None
    with pytest.raises(NotFound):
        service(store).get_notification_rule("no_such_kind")
    with pytest.raises(Forbidden):
        service(store, "m1", "manager").update_notification_rule("deal_won", {"user_ids": ["dir"]})
    admin = service(store, "admin1", "admin")
    with pytest.raises(ValidationFailed) as exc:
        admin.update_notification_rule("deal_won", {"audiences": ["assignee"], "kind": "x"})
    assert sorted(fields(exc)) == ["audiences", "kind"]
    changed = admin.update_notification_rule("deal_won", {"user_ids": ["dir"]}, 0)
    assert (changed["version"], changed["customized"], changed["updated_by"]) == (1, True, "admin1")
    with pytest.raises(PreconditionFailed):
        admin.update_notification_rule("deal_won", {"urgent": True}, 0)
    assert service(store).get_notification_rule("deal_won")["user_ids"] == ["dir"]


def test_quiet_hours_defer_a_staff_email(store) -> None:
    email_rule(store)
    service(store).update_notification_preferences({**QUIET, "email": "u1@example.com"})
    notify(store)
    [delivery] = store[DELIVERIES].find().items
    assert (delivery["next_attempt_at"], delivery["contact_id"]) == (MORNING, None)
    assert store[NOTIFICATIONS].count() == 1


def test_a_digest_is_collected_then_sent_once(store) -> None:
    email_rule(store)
    service(store).update_notification_preferences({"email": "u1@example.com", "digest": "hourly"})
    notify(store)
    notify(store)
    assert store[DELIVERIES].count() == 0 and store[NOTICE_DIGEST_ENTRIES].count() == 2
    assert service(store).send_digests_at(NOW) == 0  # due at 15:00
    later = NOW + timedelta(hours=1)
    assert service(store).send_digests_at(later) == 1
    assert service(store).send_digests_at(later) == 0
    [digest] = store[DELIVERIES].find().items
    assert (digest["kind"], digest["to"], digest["recipient_user_id"]) == ("notice_digest", "u1@example.com", "u1")
    assert digest["subject"] == "Your CRM digest: 2 notices" and digest["body"].count("Deal won: Printers") == 2
    # kept, marked with the email that told them: the export and an erasure find it through them
    entries = store[NOTICE_DIGEST_ENTRIES].find().items
    assert {(e["state"], e["digest_delivery_id"]) for e in entries} == {("sent", digest["id"])}
    notify(store, now=later)  # a new notice starts the next digest
    assert service(store).send_digests_at(later + timedelta(hours=1)) == 1
    assert store[DELIVERIES].count() == 2 and store[NOTICE_DIGEST_ENTRIES].count({"state": "waiting"}) == 0


def test_a_redelivered_event_does_not_put_a_sent_entry_back_in_the_digest(store) -> None:
    email_rule(store)
    service(store).update_notification_preferences({"email": "u1@example.com", "digest": "hourly"})
    event = notify(store)
    later = NOW + timedelta(hours=1)
    assert service(store).send_digests_at(later) == 1
    with store.transaction() as tx:  # the same event again
        again = service(store, now=later)
        again._notify(tx, event, "deal_won", {"owner": ["u1"]}, "Deal won", "x", "deal", {"id": "d1"})
    assert service(store).send_digests_at(later + timedelta(hours=1)) == 0
    [entry] = store[NOTICE_DIGEST_ENTRIES].find().items
    assert (entry["state"], entry["body"]) == ("sent", "Printers")


def test_two_instances_racing_a_digest_queue_it_once(store, monkeypatch) -> None:
    email_rule(store)
    service(store).update_notification_preferences({"email": "u1@example.com", "digest": "hourly"})
    notify(store)
    later = NOW + timedelta(hours=1)
    first, second = service(store, now=later), service(store, now=later)
    sending = first._send_digest

    def racing(tx, user_id, now):  # the other instance queues the same digest meanwhile
        with store.transaction() as other:
            assert second._send_digest(other, user_id, now) == 1
        return sending(tx, user_id, now)

    monkeypatch.setattr(first, "_send_digest", racing)
    first.send_digests_at(later)
    [digest] = store[DELIVERIES].find().items
    [entry] = store[NOTICE_DIGEST_ENTRIES].find().items
    assert (entry["state"], entry["digest_delivery_id"]) == ("sent", digest["id"])  # the winner's


def test_a_conflict_on_the_dedupe_key_rolls_back_and_goes_on(store, monkeypatch) -> None:
    email_rule(store)
    service(store).update_notification_preferences({"email": "u1@example.com", "digest": "hourly"})
    notify(store)
    worker = service(store)

    def colliding(tx, delivery):
        raise Conflict("taken")

    monkeypatch.setattr(worker, "_queue_delivery", colliding)
    assert worker.send_digests_at(NOW + timedelta(hours=1)) == 0
    assert store[NOTICE_DIGEST_ENTRIES].count() == 1  # rolled back: the winner's digest holds them


def test_urgent_bypasses_quiet_hours_and_digest(store) -> None:
    email_rule(store, urgent=True)
    service(store).update_notification_preferences(
        {**QUIET, "email": "u1@example.com", "digest": "daily", "phone": "+8613800138000", "channels": {"sms": True}}
    )
    notify(store)
    deliveries = {d["channel"]: d for d in store[DELIVERIES].find().items}
    assert {c: d["next_attempt_at"] for c, d in deliveries.items()} == {
        "email": "2030-01-02T14:30:00.000000Z",
        "sms": "2030-01-02T14:30:00.000000Z",
    }
    assert deliveries["sms"]["to"] == "+8613800138000" and store[NOTICE_DIGEST_ENTRIES].count() == 0


def test_mandatory_ignores_mutes(store) -> None:
    service(store).update_notification_preferences({"muted": {"erasure_completed": ["in_app"], "deal_won": ["in_app"]}})
    notify(store, "deal_won")
    assert store[NOTIFICATIONS].count() == 0
    notify(store, "erasure_completed")
    assert store[NOTIFICATIONS].count() == 1


def test_sms_needs_a_phone_and_the_users_consent(store) -> None:
    email_rule(store)
    service(store).update_notification_preferences({"email": None})
    notify(store)
    assert store[DELIVERIES].count() == 0  # sms is opt-in, no email given
    service(store).update_notification_preferences({"phone": "+8613800138000", "channels": {"sms": True}})
    notify(store)
    [sms] = store[DELIVERIES].find().items
    assert (sms["channel"], sms["subject"], sms["body"]) == ("sms", None, "CRM: Deal won: Printers")
