"""Quiescence: every queue of the stack's vhost empty, every outbox drained and no event waiting for
a retry, several times in a row (a handler that just acked may still publish through its outbox).
The fast probes (AMQP passive declares, the store files) run every quarter second; rabbitmqctl, which
takes a second or more to start and also counts unacked messages, confirms the calm at the end."""

import glob
import os
import sqlite3
import time

import pika

PENDING_OUTBOX = "SELECT count(*) FROM \"c__outbox\" WHERE json_extract(doc, '$.status') IN ('pending', 'unroutable')"
RETRYING = "SELECT count(*) FROM \"c__failed_events\" WHERE json_extract(doc, '$.status') = 'retrying'"


def queue_depths(broker) -> dict[str, int]:
    """Messages (ready + unacked) per queue of the vhost, from `rabbitmqctl list_queues`."""
    done = broker.ctl("list_queues", "-p", broker.vhost, "--no-table-headers", "name", "messages", timeout=30)
    depths = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            depths[parts[0]] = int(parts[1])
    return depths


def _count(path: str, query: str) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)  # read-only: never a writer here
    try:
        return db.execute(query).fetchone()[0]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    finally:
        db.close()


def store_backlog(data_dir: str) -> dict[str, int]:
    """Outbox rows not yet published plus failed events waiting for a retry, per store file."""
    backlog = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "*.db"))):
        name = os.path.basename(path)[:-3]
        backlog[name] = _count(path, PENDING_OUTBOX) + _count(path, RETRYING)
    return backlog


_NAMES: dict[str, list[str]] = {}  # the event queues per vhost, learnt from the last full probe


def busy(stack, broker) -> dict[str, int]:
    depths = {q: n for q, n in queue_depths(broker).items() if not q.startswith("rpc.reply")}
    _NAMES[broker.vhost] = sorted(depths)
    work = {f"queue {q}": n for q, n in depths.items() if n}
    work.update({f"store {s}": n for s, n in store_backlog(stack.data_dir).items() if n})
    return work


def ready_depths(broker, names: list[str]) -> dict[str, int]:
    """Ready messages per queue through one AMQP connection (passive declares, milliseconds each);
    messages a consumer holds unacked are not counted here: `busy` (rabbitmqctl) confirms those."""
    connection = pika.BlockingConnection(pika.URLParameters(broker.uri))
    try:
        channel = connection.channel()
        return {name: channel.queue_declare(name, passive=True).method.message_count for name in names}
    finally:
        connection.close()


def fast_busy(stack, broker, names: list[str]) -> dict[str, int]:
    work = {f"queue {q}": n for q, n in ready_depths(broker, names).items() if n}
    work.update({f"store {s}": n for s, n in store_backlog(stack.data_dir).items() if n})
    return work


def wait_quiescent(stack, broker, timeout: float = 60.0, calm_rounds: int = 3, interval: float = 0.25) -> float:
    """Block until nothing is in flight; returns the seconds it took. `calm_rounds` fast probes in a
    row (ready messages, outboxes, retries) must find nothing, then a full probe (rabbitmqctl: ready
    and unacked) and one more fast probe must find nothing too, else it starts over."""
    started = time.monotonic()
    calm = 0
    last: dict = {}
    while True:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not quiescent after {timeout:g}s: {last}")
        try:
            if broker.vhost not in _NAMES or calm >= calm_rounds:
                last = busy(stack, broker)
                if not last and calm >= calm_rounds and not fast_busy(stack, broker, _NAMES[broker.vhost]):
                    return time.monotonic() - started
                calm = 0
            else:
                last = fast_busy(stack, broker, _NAMES[broker.vhost])
                calm = calm + 1 if not last else 0
        except Exception as exc:  # broker restarting, store locked, a queue gone: not calm yet
            _NAMES.pop(broker.vhost, None)
            last, calm = {"probe failed": repr(exc)}, 0
        time.sleep(interval)
