"""Greeting campaigns (SQLite, no broker): a holiday campaign reaches its segment's members in their
language, respecting opt-outs, consent, quiet hours and the throttle; two instances racing on one
store queue each greeting exactly once; unsubscribe links are verified.

The segment's members come from the contacts service, which cannot run inside a unit test: a
small fake stands in for its `list_segment_members` RPC (same arguments, same paged answer
{data, next_cursor}); everything on this side (store, templates, claims, dedupe) is the real code."""

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nameko.testing.services import worker_factory

from crm_common.caller import Caller
from crm_common.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from crm_common.store import OUTBOX, DocumentStore, open_store
from notifications import campaigns
from notifications.service import NotificationsService
from notifications.store import CAMPAIGN_RUNS, DELIVERIES, OPT_OUTS, SPECS

ADMIN = Caller("u-admin", ("admin",))
MANAGER = Caller("u-manager", ("manager",))
REP = Caller("u-rep", ("sales_rep",))
SYSTEM = Caller("system", ("system",))
SPRING_FESTIVAL_0900_SHANGHAI = datetime(2026, 2, 17, 1, 0, tzinfo=UTC)


def member(contact_id: str, **fields) -> dict:
    return {
        "id": contact_id,
        "display_name": fields.pop("name", contact_id.title()),
        "email": f"{contact_id}@example.com",
        "phone": "+8613800000000",
        "preferred_language": "en",
        "preferences": {},
        **fields,
    }


class FakeContacts:
    """The contacts service's list_segment_members as campaigns call it (as the platform)."""

    def __init__(self, members: list[dict], delay: float = 0.0):
        self.members, self.delay, self.calls, self.down = members, delay, [], False

    def as_system(self) -> "FakeContacts":
        return self

    def list_segment_members(self, segment_id: str, query: dict) -> dict:
        self.calls.append((segment_id, query))
        if self.down:
            raise ServiceUnavailable("the contacts service did not answer within 5s")
        if segment_id != "seg-1":
            raise NotFound(f"segment {segment_id} not found")
        time.sleep(self.delay)
        start = int(query.get("cursor") or 0)
        end = start + int(query["limit"])
        return {"data": self.members[start:end], "next_cursor": str(end) if end < len(self.members) else None}


@pytest.fixture(autouse=True)
def unsubscribe_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsubscribe links are signed with this secret (outside development one must be set)."""
    monkeypatch.setenv("NOTIFICATIONS_UNSUBSCRIBE_SECRET", "campaign-tests-secret")


def test_outside_development_an_unset_secret_refuses_to_sign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFICATIONS_UNSUBSCRIBE_SECRET")
    monkeypatch.setenv("CRM_ENV", "production")
    with pytest.raises(ServiceUnavailable):
        campaigns.unsubscribe_token("c1", "email")
    monkeypatch.setenv("CRM_ENV", "development")
    assert campaigns.unsubscribe_token("c1", "email").startswith("c1.email.")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/notifications.db", SPECS)
    yield opened
    opened.close()


def service(store: DocumentStore, contacts: FakeContacts | None = None, caller: Caller = ADMIN):
    return worker_factory(NotificationsService, store=store, caller=caller, contacts=contacts or FakeContacts([]))


def holiday_campaign(store: DocumentStore, **fields) -> dict:
    data = {"name": "Spring Festival 2026", "kind": "holiday", "holiday": "spring_festival", "segment_id": "seg-1"}
    return service(store).create_campaign({**data, **fields})


def deliveries(store: DocumentStore) -> dict[str, dict]:
    return {d["contact_id"]: d for d in store[DELIVERIES].iterate(None, [("created_at", 1)])}


# a holiday campaign


def test_a_holiday_campaign_greets_each_member_in_their_language(store: DocumentStore) -> None:
    contacts = FakeContacts(
        [member("wang", name="王芳", preferred_language="zh-CN"), member("li", preferred_language="zh"), member("ann")]
    )
    campaign = holiday_campaign(store)
    assert campaign["template_key"] is None and campaign["quiet_hours"] == {"start": "21:00", "end": "08:00"}
    worker = service(store, contacts, SYSTEM)
    assert worker.run_campaigns_at(datetime(2026, 2, 17, 0, 59, tzinfo=UTC))["queued"] == 0  # 08:59 there
    counts = worker.run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    assert counts["queued"] == 3 and contacts.calls[-1][0] == "seg-1"
    sent = deliveries(store)
    wang, ann = sent["wang"], sent["ann"]
    assert wang["language"] == "zh-CN" and "春节" in wang["subject"] and "王芳" in wang["body"]
    assert sent["li"]["language"] == "zh-CN"
    assert ann["language"] == "en" and "Spring Festival" in ann["subject"] and "Ann" in ann["body"]
    assert ann["to"] == "ann@example.com" and ann["channel"] == "email" and ann["kind"] == "greeting"
    assert ann["dedupe_key"] == f"campaign:{campaign['id']}:2026-02-17:ann"
    assert ann["status"] == "queued" and ann["campaign_id"] == campaign["id"]
    assert "/api/v1/unsubscribe?token=ann.email." in ann["body"]
    # 60 a minute by default: one a second
    assert [d["next_attempt_at"][17:19] for d in (wang, sent["li"], ann)] == ["00", "01", "02"]
    announced = [
        r["event"]["payload"]["id"] for r in store[OUTBOX].iterate() if r["event"]["event_type"] == "message_queued"
    ]
    assert sorted(announced) == sorted(d["id"] for d in sent.values())
    # the next timer runs that day find the occurrence done
    assert worker.run_campaigns_at(datetime(2026, 2, 17, 1, 0, 30, tzinfo=UTC))["queued"] == 0
    assert len(deliveries(store)) == 3
    run = store[CAMPAIGN_RUNS].get(f"{campaign['id']}:2026-02-17")
    assert run["status"] == "done" and run["queued"] == 3


def test_sms_greetings_go_to_the_phone_without_a_subject(store: DocumentStore) -> None:
    holiday_campaign(store, channel="sms")
    contacts = FakeContacts([member("wang", preferred_language="zh-CN"), member("nophone", phone=None)])
    counts = service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    assert counts["queued"] == 1 and counts["no_address"] == 1
    sms = deliveries(store)["wang"]
    assert sms["to"] == "+8613800000000" and sms["subject"] is None and "春节" in sms["body"]


def test_opted_out_and_unconsenting_members_are_skipped(store: DocumentStore) -> None:
    holiday_campaign(store)
    contacts = FakeContacts(
        [
            member("keen"),
            member("no_consent", preferences={"consent": {"email": False, "sms": True}}),
            member("sms_only_refused", preferences={"consent": {"sms": False}}),
            member("unsubscribed"),
            member("no_email", email=None),
        ]
    )
    service(store, caller=SYSTEM).unsubscribe(campaigns.unsubscribe_token("unsubscribed", "email"))
    counts = service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    assert sorted(deliveries(store)) == ["keen", "sms_only_refused"]
    assert counts["opted_out"] == 2 and counts["no_address"] == 1


def test_quiet_hours_hold_greetings_until_morning_in_the_contacts_time_zone(store: DocumentStore) -> None:
    holiday_campaign(store)
    contacts = FakeContacts(
        [
            member("shanghai"),  # 09:00 there: sent at once
            member("london", preferences={"time_zone": "Europe/London"}),  # 01:00 there: held to 08:00
            member("new_york", preferences={"time_zone": "America/New_York"}),  # 20:00 there: not quiet yet
            member("nowhere", preferences={"time_zone": "Mars/Olympus_Mons"}),  # unknown: the campaign's zone
        ]
    )
    service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    due = {contact_id: d["next_attempt_at"] for contact_id, d in deliveries(store).items()}
    assert due["shanghai"] == "2026-02-17T01:00:00.000000Z"
    assert due["london"] == "2026-02-17T08:00:00.000000Z"
    assert due["new_york"] <= "2026-02-17T01:01:00.000000Z"
    assert due["nowhere"] <= "2026-02-17T01:01:00.000000Z"


def test_a_campaign_without_quiet_hours_sends_at_night(store: DocumentStore) -> None:
    holiday_campaign(store, quiet_hours=None)
    contacts = FakeContacts([member("london", preferences={"time_zone": "Europe/London"})])
    service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    assert deliveries(store)["london"]["next_attempt_at"] == "2026-02-17T01:00:00.000000Z"


def test_throttling_spreads_an_occurrence_at_its_rate(store: DocumentStore) -> None:
    holiday_campaign(store, throttle_per_minute=2)
    contacts = FakeContacts([member(f"c{i}") for i in range(5)])
    service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    due = sorted(d["next_attempt_at"][11:19] for d in deliveries(store).values())
    assert due == ["01:00:00", "01:00:30", "01:01:00", "01:01:30", "01:02:00"]


def test_the_throttle_holds_across_pages(store: DocumentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "MEMBERS_PAGE", 2)
    holiday_campaign(store, throttle_per_minute=1)
    contacts = FakeContacts([member(f"c{i}") for i in range(5)])
    service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    assert len(contacts.calls) == 3
    due = sorted(d["next_attempt_at"][11:16] for d in deliveries(store).values())
    assert due == ["01:00", "01:01", "01:02", "01:03", "01:04"]


# exactly once


def test_two_instances_racing_queue_each_greeting_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "MEMBERS_PAGE", 25)
    url = f"sqlite:///{tmp_path}/shared.db"
    stores = [open_store(url, SPECS) for _ in range(2)]  # two instances: two connections to one database
    try:
        campaign = holiday_campaign(stores[0], throttle_per_minute=10_000)
        members = [member(f"c{i:03d}") for i in range(120)]
        barrier = threading.Barrier(2)
        results: list[dict] = []

        def instance(store: DocumentStore) -> None:
            worker = service(store, FakeContacts(members, delay=0.005), SYSTEM)
            barrier.wait()
            results.append(worker.run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI))

        threads = [threading.Thread(target=instance, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == 2
        rows = list(stores[0][DELIVERIES].iterate({"campaign_id": campaign["id"]}))
        assert len(rows) == 120 and len({r["dedupe_key"] for r in rows}) == 120
        assert sum(r["queued"] for r in results) == 120
        assert sorted(r["occurrences"] for r in results) == [0, 1]  # the other found it claimed
    finally:
        for store in stores:
            store.close()


def test_a_lost_claim_still_never_queues_a_greeting_twice(store: DocumentStore) -> None:
    campaign = holiday_campaign(store)
    contacts = FakeContacts([member("ann"), member("bob")])
    worker = service(store, contacts, SYSTEM)
    worker.run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    with store.transaction() as tx:  # as if the claim were lost: the dedupe key still holds
        tx[CAMPAIGN_RUNS].delete(f"{campaign['id']}:2026-02-17")
    counts = worker.run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    assert counts["queued"] == 0 and counts["already_queued"] == 2
    assert len(deliveries(store)) == 2


def test_an_instance_that_died_is_taken_over_where_it_stopped(store: DocumentStore) -> None:
    campaign = holiday_campaign(store)
    contacts = FakeContacts([member("ann"), member("bob")])
    with store.transaction() as tx:  # a claim whose holder stopped reporting 10 minutes ago
        tx[CAMPAIGN_RUNS].insert(
            {
                "id": f"{campaign['id']}:2026-02-17",
                "campaign_id": campaign["id"],
                "occurrence": "2026-02-17",
                "status": "running",
                "holder": "dead-instance",
                "lease_until": "2026-02-17T01:05:00.000000Z",
                "cursor": "1",
                "queued": 1,
                "slots": {},
                "last_error": None,
            }
        )
    worker = service(store, contacts, SYSTEM)
    assert worker.run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)["queued"] == 0  # the lease still holds
    counts = worker.run_campaigns_at(datetime(2026, 2, 17, 1, 10, tzinfo=UTC))
    assert counts["queued"] == 1 and sorted(deliveries(store)) == ["bob"]  # ann was the dead one's page


def test_contacts_down_leaves_the_occurrence_for_the_next_run(store: DocumentStore) -> None:
    campaign = holiday_campaign(store)
    contacts = FakeContacts([member("ann")])
    contacts.down = True
    worker = service(store, contacts, SYSTEM)
    assert worker.run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)["queued"] == 0
    run = store[CAMPAIGN_RUNS].get(f"{campaign['id']}:2026-02-17")
    assert run["status"] == "running" and "did not answer" in run["last_error"]
    contacts.down = False
    assert worker.run_campaigns_at(datetime(2026, 2, 17, 1, 0, 30, tzinfo=UTC))["queued"] == 1


# birthdays and anniversaries


def test_a_birthday_campaign_greets_feb_29_birthdays_on_feb_28(store: DocumentStore) -> None:
    service(store).create_campaign({"name": "Birthdays", "kind": "birthday", "segment_id": "seg-1"})
    contacts = FakeContacts(
        [member("leap", birthday="1992-02-29"), member("march", birthday="1990-03-01"), member("unknown")]
    )
    counts = service(store, contacts, SYSTEM).run_campaigns_at(datetime(2027, 2, 28, 1, 0, tzinfo=UTC))
    assert counts["queued"] == 1
    assert "birthday" in deliveries(store)["leap"]["subject"].lower()


def test_an_anniversary_campaign_counts_the_years(store: DocumentStore) -> None:
    service(store).create_campaign({"name": "Years with us", "kind": "anniversary", "segment_id": "seg-1"})
    contacts = FakeContacts(
        [member("old", created_at="2023-05-04T03:00:00.000000Z"), member("new", created_at="2026-05-04T00:00:00Z")]
    )
    service(store, contacts, SYSTEM).run_campaigns_at(datetime(2026, 5, 4, 1, 0, tzinfo=UTC))
    sent = deliveries(store)
    assert sorted(sent) == ["old"] and "3 years" in sent["old"]["subject"]


# unsubscribe


def test_an_unsubscribe_token_is_verified_and_tampering_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    token = campaigns.unsubscribe_token("c1", "email")
    assert campaigns.verified_unsubscribe(token) == ("c1", "email")
    contact_id, channel, signature = token.split(".")
    forged = [
        f"c2.{channel}.{signature}",  # another contact
        f"{contact_id}.sms.{signature}",  # another channel
        f"{contact_id}.{channel}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        f"{contact_id}.{channel}",
        "",
        None,
        "a.b.c.d",
    ]
    for bad in forged:
        assert campaigns.verified_unsubscribe(bad) is None, bad
    monkeypatch.setenv("NOTIFICATIONS_UNSUBSCRIBE_SECRET", "another secret")
    assert campaigns.verified_unsubscribe(token) is None  # signed with another secret


def test_unsubscribe_records_the_opt_out_and_cancels_queued_greetings(store: DocumentStore) -> None:
    holiday_campaign(store)
    contacts = FakeContacts([member("ann"), member("bob")])
    service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    anonymous = service(store, caller=Caller("anonymous"))
    token = campaigns.unsubscribe_token("ann", "email")
    assert anonymous.unsubscribe(token) == {"channel": "email", "unsubscribed": True}
    assert anonymous.unsubscribe(token) == {"channel": "email", "unsubscribed": True}  # again: the same
    assert store[OPT_OUTS].get("ann:email")["contact_id"] == "ann"
    sent = deliveries(store)
    assert sent["ann"]["status"] == "cancelled" and sent["bob"]["status"] == "queued"
    with pytest.raises(BadRequest):
        anonymous.unsubscribe(token[:-2])


# the campaign RPCs


def test_admins_and_managers_write_campaigns_others_are_refused(store: DocumentStore) -> None:
    created = service(store, caller=MANAGER).create_campaign(
        {"name": "Mid-Autumn", "kind": "holiday", "holiday": "mid_autumn", "segment_id": "seg-1", "channel": "sms"}
    )
    assert created["created_by"] == "u-manager" and created["version"] == 1
    assert service(store).get_campaign(created["id"])["holiday"] == "mid_autumn"
    listed = service(store, caller=MANAGER).list_campaigns({"where": {"kind": "holiday"}})
    assert [c["id"] for c in listed["data"]] == [created["id"]]
    for call in (
        lambda s: s.create_campaign({"name": "x", "kind": "birthday", "segment_id": "seg-1"}),
        lambda s: s.list_campaigns({}),
        lambda s: s.update_campaign(created["id"], {"active": False}),
        lambda s: s.delete_campaign(created["id"]),
    ):
        with pytest.raises(Forbidden):
            call(service(store, caller=REP))
    updated = service(store).update_campaign(created["id"], {"active": False, "local_time": "10:00"}, 1)
    assert updated["version"] == 2 and not updated["active"]
    assert service(store).update_campaign(created["id"], {"active": False})["version"] == 2  # no change
    service(store).delete_campaign(created["id"])
    with pytest.raises(NotFound):
        service(store).get_campaign(created["id"])


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "holiday"}, "holiday"),
        ({"kind": "holiday", "holiday": "pi_day"}, "holiday"),
        ({"kind": "one_off", "template_key": "greeting_birthday"}, "send_at"),
        ({"kind": "birthday", "time_zone": "Mars/Base"}, "time_zone"),
        ({"kind": "birthday", "local_time": "9am"}, "local_time"),
        ({"kind": "birthday", "throttle_per_minute": 0}, "throttle_per_minute"),
        ({"kind": "birthday", "quiet_hours": {"start": "21:00"}}, "quiet_hours"),
        ({"kind": "birthday", "template_key": "ticket_reply"}, "template_key"),
        ({"kind": "birthday", "template_key": "greeting_anniversary"}, "template_key"),
        ({"kind": "birthday", "channel": "fax"}, "channel"),
        ({"kind": "birthday", "id": "mine"}, "id"),
    ],
)
def test_invalid_campaigns_are_refused_naming_the_field(store: DocumentStore, data: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service(store).create_campaign({"name": "x", "segment_id": "seg-1", **data})
    assert field in {e["field"] for e in refused.value.errors}


def test_an_inactive_or_deleted_campaign_sends_nothing(store: DocumentStore) -> None:
    campaign = holiday_campaign(store, active=False)
    contacts = FakeContacts([member("ann")])
    assert service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)["occurrences"] == 0
    service(store).update_campaign(campaign["id"], {"active": True})
    service(store, contacts, SYSTEM).run_campaigns_at(SPRING_FESTIVAL_0900_SHANGHAI)
    service(store).delete_campaign(campaign["id"])
    assert deliveries(store)["ann"]["status"] == "cancelled"  # queued, not sent: cancelled with its campaign
