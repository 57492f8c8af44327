"""Fault injection: the platform under load while a fault hits it; afterwards nothing acknowledged is
lost and nothing is applied twice (issue 9). Short form in `make test`; FAULTS_LONG=1 (`make
faults-long`, part of `make bench`) runs more operations and longer stalls."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime

import pika
import pytest

from crm_common.devstack import GATEWAY, SERVICES
from crm_common.envelope import new_event
from crm_common.testing import eventually
from tests.faults.conftest import LONG
from tests.faults.operations import Load
from tests.faults.quiesce import wait_quiescent
from tests.faults.reconcile import Reconciler, _pages
from tests.faults.report import COUNTS

CHAINS = 24 if LONG else 4
LOAD_WORKERS = 2 if LONG else 1  # the load that runs for as long as a fault lasts
SEARCH, SALES, NOTIFICATIONS = (next(s for s in SERVICES if s.name == n) for n in ("search", "sales", "notifications"))


def settle(stack, broker, admin, rep, load: Load, fault: str, **extra):
    """Quiesce, let the client retry what is undecided, quiesce again, reconcile, record the counts."""
    quiet = wait_quiescent(stack, broker, timeout=120)
    if any(op.status == "unknown" for op in load.ops):  # the retries may write: quiesce again
        load.resolve_unknown()
        quiet += wait_quiescent(stack, broker, timeout=120)
    extra["quiesce_s"] = round(quiet, 1)
    outcome = Reconciler(admin, rep).reconcile(load.ops)
    COUNTS.add(fault, outcome, **extra)
    assert not outcome.lost and not outcome.duplicated and not outcome.unexpected, outcome.summary()
    return outcome


def test_baseline_without_a_fault(fault_stack, fault_broker, admin, rep):
    load = Load(admin, rep.user["id"])
    started = time.monotonic()
    rate = load.run(CHAINS, workers=2)
    outcome = settle(fault_stack, fault_broker, admin, rep, load, "0 none", ops_per_s=round(rate, 1))
    assert outcome.counts()["ok"] == len(load.ops), [op for op in load.ops if op.status != "ok"]
    assert time.monotonic() - started < 120


# 1 ------------------------------------------------------------------------------------------------
def test_kill_9_of_each_service_mid_load(fault_stack, fault_broker, admin, rep):
    load = Load(admin, rep.user["id"], retry_for=45)
    running = load.start(10**6, workers=LOAD_WORKERS)  # until every service was killed and is back
    killed = []
    for service in SERVICES:  # one at a time, each while the load is running; restarts overlap
        time.sleep(0.8)
        fault_stack.stop(service, signal.SIGKILL)
        killed.append(service.name)
        fault_stack.start(service)
    fault_stack.wait_ready(SERVICES, timeout=60)
    time.sleep(1.0)  # and some load on the restarted services
    load.stop.set()
    running.join(timeout=300)
    assert not running.is_alive()
    settle(fault_stack, fault_broker, admin, rep, load, "1 kill -9 each service", killed=len(killed))


# 2 ------------------------------------------------------------------------------------------------
def test_rabbitmq_restart_under_load_graceful_then_kill_9(fault_stack, fault_broker, admin, rep):
    if not fault_broker.private:
        pytest.skip("needs a RabbitMQ node of the suite's own (root and a local rabbitmq-server)")
    pids = {c.name: fault_stack.pid(c) for c in (*SERVICES, GATEWAY)}
    load = Load(admin, rep.user["id"], retry_for=60)
    running = load.start(10**6, workers=LOAD_WORKERS)  # until the node is back from its kill -9
    time.sleep(1.0)
    fault_broker.restart_graceful()
    time.sleep(1.0)
    fault_broker.kill_and_restart()
    time.sleep(1.0)
    load.stop.set()
    running.join(timeout=300)
    assert not running.is_alive()
    # every process reconnected by itself: same pids, all ready
    fault_stack.wait_ready(timeout=60)
    assert {c.name: fault_stack.pid(c) for c in (*SERVICES, GATEWAY)} == pids
    settle(fault_stack, fault_broker, admin, rep, load, "2 broker stop_app + kill -9")


# 3 ------------------------------------------------------------------------------------------------
def _publish(broker, source: str, event_type: str, body) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(broker.uri))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            f"{source}.events", event_type, json.dumps(body),
            pika.BasicProperties(content_type="application/json", delivery_mode=2), mandatory=True,
        )  # fmt: skip
    finally:
        connection.close()


def _dead(admin, service: str) -> list[dict]:
    response = admin.get(f"/dead-letters/{service}", params={"limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_poison_events_are_parked_others_flow_and_replay_after_a_fix(fault_stack, fault_broker, admin, rep):
    poison = 12 if LONG else 4
    rounds, per_round = 3, (8 if LONG else 2)
    # a malformed event (no envelope: nothing can fix it) and events that fail until a fix: tickets
    # of customers the notifications service has never heard of (OwnerUnknown)
    marker = uuid.uuid4().hex
    ghosts, events = [], []
    for i in range(poison):
        ghost = f"ghost-{uuid.uuid4().hex[:8]}"
        ticket = {"id": f"t-{uuid.uuid4().hex[:8]}", "subject": f"Ghost {marker[:6]} {i}", "priority": "urgent",
                  "contact_id": ghost, "version": 1}  # fmt: skip
        ghosts.append(ghost)
        events.append(new_event("ticket_created", "service_desk", ticket).as_dict())
    # the rate without and with poison in flight, measured in alternating rounds (a shared 2-core
    # machine drifts: alternating spreads its noise over both); two more rounds if it falls short
    calm = Load(admin, rep.user["id"])
    loaded = Load(admin, rep.user["id"])
    spent = {"without": 0.0, "with": 0.0}
    done = 0

    def short() -> bool:
        return len(loaded.ops) / spent["with"] < 0.9 * len(calm.ops) / spent["without"]

    while done < rounds or (done < rounds + 2 and short()):
        started = time.monotonic()
        calm.run(per_round, workers=2)
        spent["without"] += time.monotonic() - started
        _publish(fault_broker, "contacts", "contact_created", {"not": "an envelope", "marker": marker})
        for event in events[done::rounds] if done < rounds else ():
            _publish(fault_broker, "service_desk", "ticket_created", event)
        started = time.monotonic()
        loaded.run(per_round, workers=2)
        spent["with"] += time.monotonic() - started
        done += 1
    rate_without, rate_with = len(calm.ops) / spent["without"], len(loaded.ops) / spent["with"]
    ids = {e["event_id"] for e in events}
    parked = eventually(
        lambda: [d for d in _dead(admin, "notifications") if d["event_id"] in ids] if len(
            [d for d in _dead(admin, "notifications") if d["event_id"] in ids]) == poison else None,
        timeout=60,
    )  # fmt: skip
    assert all(d["status"] == "dead" and "OwnerUnknown" in d["last_error"] for d in parked)
    malformed = eventually(
        lambda: [d for d in _dead(admin, "search") if (d["event"] or {}).get("marker") == marker], timeout=30
    )
    assert rate_with >= 0.9 * rate_without, (rate_with, rate_without, spent)
    # the malformed one: replay parks it again (the same record), nothing else is disturbed
    assert admin.post(f"/dead-letters/search/{malformed[0]['id']}/replay").status_code == 202
    eventually(
        lambda: [d for d in _dead(admin, "search") if d["id"] == malformed[0]["id"]
                 and d["last_failed_at"] > malformed[0]["last_failed_at"]],
        timeout=30,
    )  # fmt: skip
    # the fix: the customers become known; replaying delivers each notice exactly once
    for ghost in ghosts:
        contact = {"id": ghost, "first_name": "Ghost", "last_name": marker[:6], "display_name": f"Ghost {ghost}",
                   "owner_id": rep.user["id"], "version": 1}  # fmt: skip
        _publish(
            fault_broker, "contacts", "contact_created", new_event("contact_created", "contacts", contact).as_dict()
        )
    wait_quiescent(fault_stack, fault_broker, timeout=60)
    for dead in parked:
        assert admin.post(f"/dead-letters/notifications/{dead['id']}/replay").status_code == 202
    tickets = {e["payload"]["id"] for e in events}

    def delivered():
        # Every page: a replayed notice is dated by its event's occurred_at (before the rounds), so
        # newest first it sits behind every notice of the load (more than one page in the long form).
        inbox = [n for n in _pages(rep, "/notifications") if (n.get("ref") or {}).get("id") in tickets]
        return inbox if len(inbox) >= poison else None

    assert len(eventually(delivered, timeout=60)) == poison
    assert not [d for d in _dead(admin, "notifications") if d["event_id"] in ids]
    loaded.ops = calm.ops + loaded.ops
    settle(
        fault_stack, fault_broker, admin, rep, loaded, "3 poison + replay",
        poison=poison + done, rate_without=round(rate_without, 1), rate_with=round(rate_with, 1),
    )  # fmt: skip


# 4 ------------------------------------------------------------------------------------------------
def test_a_stalled_consumer_blocks_no_producer_and_catches_up(fault_stack, fault_broker, admin, rep):
    stall = 120.0 if LONG else 10.0
    for service in (SEARCH, NOTIFICATIONS) if LONG else (SEARCH,):
        pid = fault_stack.pid(service)
        load = Load(admin, rep.user["id"], retry_for=5)
        running = load.start(10**6, workers=1)  # until the stall ends
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(stall)
        finally:
            load.stop.set()
            os.kill(pid, signal.SIGCONT)
        running.join(timeout=60)
        # producers were not blocked: every write answered, quickly
        latencies = load.latencies()
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        assert all(op.status == "ok" for op in load.ops), [op for op in load.ops if op.status != "ok"][:3]
        assert p95 < 2.0 and latencies[-1] < 10.0, (p95, latencies[-1])
        settle(
            fault_stack, fault_broker, admin, rep, load, f"4 SIGSTOP {service.name} {stall:g}s",
            p95_ms=round(p95 * 1000),
        )  # fmt: skip
        # the same process, healthy: no heartbeat or reply timeout killed it
        assert fault_stack.pid(service) == pid and fault_stack.ready(service)


# 5 ------------------------------------------------------------------------------------------------
def test_a_lost_reply_then_a_retry_with_the_same_key_writes_once(fault_stack, fault_broker, admin, rep):
    contact = admin.create("/contacts", {"first_name": "Lost", "last_name": f"Reply{uuid.uuid4().hex[:6]}"})
    title = f"Deal lost-reply {uuid.uuid4().hex[:8]}"
    body = {"title": title, "amount": "7.00", "currency": "CNY", "contact_id": contact["id"]}
    key = {"Idempotency-Key": f"lost-reply-{uuid.uuid4().hex}"}
    sales = fault_stack.pid(SALES)
    # sales receives the call (prefetched into its socket) but answers only after the gateway gave up
    os.kill(sales, signal.SIGSTOP)
    try:
        first = admin.post("/deals", body, headers=key)
    finally:
        os.kill(sales, signal.SIGCONT)
    assert first.status_code == 503, first.text
    assert first.headers["Content-Type"] == "application/problem+json"

    def written():
        return admin.get("/deals", params={"title": title}).json()["data"]

    eventually(written, timeout=20)  # the service wrote it after all
    wait_quiescent(fault_stack, fault_broker, timeout=60)
    retry = admin.post("/deals", body, headers=key)
    # 409 while the first is still pending at the gateway; 503 while sales is still applying it
    for _ in range(40):
        if retry.status_code not in (409, 503):
            break
        time.sleep(0.5)
        retry = admin.post("/deals", body, headers=key)
    deals = written()
    COUNTS.rows.append({"fault": "5 lost reply + retry", "ops": 2, "ok": int(retry.status_code == 201),
                        "duplicated": max(0, len(deals) - 1), "lost": int(not deals)})  # fmt: skip
    assert len(deals) == 1, f"one request with one Idempotency-Key wrote {len(deals)} deals"
    assert retry.status_code == 201 and retry.json()["id"] == deals[0]["id"]


# 6 ------------------------------------------------------------------------------------------------
def _immutable(paths: list[str], on: bool) -> None:
    subprocess.run(["chattr", "+i" if on else "-i", *paths], check=True, capture_output=True)


def test_a_read_only_store_gives_503_others_work_and_it_recovers(fault_stack, fault_broker, admin, rep):
    if os.geteuid() != 0 or not shutil.which("chattr"):
        pytest.skip("needs root and chattr (root ignores file modes)")
    since = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    contact = admin.create("/contacts", {"first_name": "ReadOnly", "last_name": f"Store{uuid.uuid4().hex[:6]}"})
    # the database and its write-ahead log, not the -shm index: SQLite maps that file shared and
    # writable, and a store to a mapped page of an immutable file is a SIGBUS that kills the process
    # (no full or read-only disk does that: SQLite allocates the index's pages before it maps them)
    files = [os.path.join(fault_stack.data_dir, f) for f in ("sales.db", "sales.db-wal")]
    files = [f for f in files if os.path.exists(f)]
    sales = fault_stack.pid(SALES)
    try:
        _immutable(files, True)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"chattr +i does not work on this file system: {exc.stderr!r}")
    title = f"Deal read-only {uuid.uuid4().hex[:8]}"
    try:
        refused = admin.post(
            "/deals", {"title": title, "amount": "3.00", "currency": "CNY", "contact_id": contact["id"]},
            headers={"Idempotency-Key": f"ro-{uuid.uuid4().hex}"},
        )  # fmt: skip
        assert refused.status_code == 503, refused.text
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["detail"]
        # the others keep working
        other = admin.post("/contacts", {"first_name": "Still", "last_name": f"Works{uuid.uuid4().hex[:6]}"})
        assert other.status_code == 201, other.text
        ticket = admin.post("/tickets", {"subject": f"While sales is read-only {title}", "contact_id": contact["id"]})
        assert ticket.status_code == 201, ticket.text
    finally:
        _immutable(files, False)
    # the same process answered throughout and recovers by itself: no crash, no restart
    assert fault_stack.pid(SALES) == sales and fault_stack.ready(SALES)
    # nothing half-written: no deal, no event of it anywhere
    wait_quiescent(fault_stack, fault_broker, timeout=60)
    assert admin.get("/deals", params={"title": title}).json()["data"] == []
    assert admin.get("/search", params={"q": title, "types": "deal"}).json()["total"] == 0
    # it recovers: writes land again, and the events it could not take meanwhile were handled
    deal = admin.post("/deals", {"title": title, "amount": "3.00", "currency": "CNY", "contact_id": contact["id"]})
    assert deal.status_code == 201, deal.text
    load = Load(admin, rep.user["id"])
    load.run(2, workers=1)
    settle(fault_stack, fault_broker, admin, rep, load, "6 read-only sales store")
    # nothing parked for good: events sales could not take while read-only were retried after
    assert [d for d in _dead(admin, "sales") if d["first_failed_at"] >= since] == []


# 7 ------------------------------------------------------------------------------------------------
def _race(admin, contact: dict) -> dict:
    """Two clients PATCH the same version of the contact at the same moment."""
    gate = threading.Barrier(2)
    answers = {}

    def edit(title: str) -> None:
        gate.wait()
        answers[title] = admin.patch(
            f"/contacts/{contact['id']}", {"title": title}, headers={"If-Match": f'"{contact["version"]}"'}
        )

    writers = [threading.Thread(target=edit, args=(t,)) for t in ("first writer", "second writer")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=30)
    return answers


def test_concurrent_edits_one_wins_the_other_gets_412(fault_stack, admin):
    rounds = 20 if LONG else 5
    for _ in range(rounds):
        contact = admin.create("/contacts", {"first_name": "Race", "last_name": f"Edit{uuid.uuid4().hex[:6]}"})
        answers = _race(admin, contact)
        codes = sorted(r.status_code for r in answers.values())
        assert codes == [200, 412], {t: (r.status_code, r.text[:200]) for t, r in answers.items()}
        winner = next(t for t, r in answers.items() if r.status_code == 200)
        assert answers[winner].json()["version"] == contact["version"] + 1
        assert admin.get(f"/contacts/{contact['id']}").json()["title"] == winner
    COUNTS.rows.append({"fault": "7 concurrent If-Match", "ops": 2 * rounds, "ok": rounds, "failed": rounds,
                        "lost": 0, "duplicated": 0})  # fmt: skip
