"""Numbered business operations through the gateway, each recorded with its outcome.

One chain per customer: create the contact, update it (If-Match), create a deal, move it (If-Match),
open a ticket, comment on it, create a task. Every POST carries an Idempotency-Key; every operation
gets a unique token the reconciler looks for in each store. The client does what the README tells
clients to do: on 503, 409 "still in progress", a timeout or a dropped connection it retries the same
request with the same Idempotency-Key (If-Match for PATCH), with backoff, for a bounded time. What is
still undecided after that is `unknown` (the reconciler accepts it as applied once or not at all).
"""

import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

RETRYABLE = {409, 502, 503, 504}  # 409 here: the first request with this key is still running

# effect names the reconciler knows (see reconcile.py)
OWNER, SEARCH, TIMELINE, NOTIFICATION = "owner", "search", "timeline", "notification"
EFFECTS = {
    "create_contact": (OWNER, SEARCH, TIMELINE, NOTIFICATION),
    "update_contact": (OWNER, SEARCH, TIMELINE),
    "create_deal": (OWNER, SEARCH, TIMELINE, NOTIFICATION),
    "move_deal": (OWNER, TIMELINE),
    "create_ticket": (OWNER, SEARCH, TIMELINE, NOTIFICATION),
    "comment_ticket": (OWNER, TIMELINE),
    "create_task": (OWNER, NOTIFICATION),
}
CHAIN = tuple(EFFECTS)


@dataclass
class Op:
    n: int
    kind: str
    token: str
    key: str | None
    contact_id: str | None = None
    record_id: str | None = None
    parent: str | None = None  # the ticket a comment belongs to
    status: str = "pending"  # ok | failed | unknown
    http: int | None = None
    attempts: int = 0
    latency: float = 0.0
    effects: tuple[str, ...] = ()
    detail: str = ""


@dataclass
class Load:
    """Runs chains of operations as `admin` for customers owned by `owner_id`."""

    api: object
    owner_id: str
    label: str = "load"
    retry_for: float = 30.0
    ops: list[Op] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._numbers = iter(range(1, 10**9))
        self.prefix = f"f{uuid.uuid4().hex[:6]}"

    # one HTTP call with the client's retry discipline
    def _send(self, op: Op, method: str, path: str, body: dict, headers: dict) -> requests.Response | None:
        deadline = time.monotonic() + self.retry_for
        delay = 0.2
        started = time.monotonic()
        response = None
        while True:
            op.attempts += 1
            try:
                response = self.api.request(method, path, json=body, headers=headers, timeout=10)
                op.http = response.status_code
                if response.status_code not in RETRYABLE:
                    break
                op.detail = response.text[:200]
            except requests.RequestException as exc:
                response, op.http, op.detail = None, None, repr(exc)[:200]
            if time.monotonic() > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        op.latency = time.monotonic() - started
        return response

    def _new(self, kind: str, contact_id: str | None = None) -> Op:
        with self._lock:
            n = next(self._numbers)
            op = Op(n, kind, f"{self.prefix}t{n}", f"{self.prefix}-{n}", contact_id, effects=EFFECTS[kind])
            self.ops.append(op)
        return op

    def _settle(self, op: Op, response: requests.Response | None, ok: int) -> dict | None:
        if response is not None and response.status_code == ok:
            op.status = "ok"
            return response.json()
        if response is None or response.status_code in RETRYABLE or response.status_code >= 500:
            op.status = "unknown"
        else:
            op.status, op.detail = "failed", response.text[:200]
        return None

    def _create(self, kind: str, path: str, body: dict, contact_id: str | None, parent=None) -> tuple[Op, dict | None]:
        op = self._new(kind, contact_id)
        op.parent = parent
        body = {k: v(op) if callable(v) else v for k, v in body.items()}
        response = self._send(op, "POST", path, body, {"Idempotency-Key": op.key})
        created = self._settle(op, response, 201)
        if created:
            op.record_id = created["id"]
            op.contact_id = op.contact_id or created["id"]
        return op, created

    def _patch(self, kind: str, path: str, body: dict, version: int, contact_id: str, record_id: str):
        op = self._new(kind, contact_id)
        op.key, op.record_id = None, record_id  # PATCH: If-Match makes a retry safe, not a key
        body = {k: v(op) if callable(v) else v for k, v in body.items()}
        response = self._send(op, "PATCH", path, body, {"If-Match": f'"{version}"'})
        if response is not None and response.status_code == 412 and op.attempts > 1:
            # a retry after an undecided first attempt: did the first one land?
            current = self.api.get(path)
            if current.status_code == 200 and all(current.json().get(k) == v for k, v in body.items()):
                op.status = "ok"
                return op, current.json()
        return op, self._settle(op, response, 200)

    def chain(self) -> list[Op]:
        """The seven operations of one customer, in order; a step whose input failed is not tried."""
        tok = lambda op: op.token  # noqa: E731
        contact_op, contact = self._create(
            "create_contact",
            "/contacts",
            {"first_name": "Fault", "last_name": tok, "email": lambda op: f"{op.token}@faults.example",
             "owner_id": self.owner_id},
            None,
        )  # fmt: skip
        if not contact:
            return [contact_op]
        cid = contact["id"]
        done = [contact_op]
        update, _ = self._patch(
            "update_contact", f"/contacts/{cid}", {"title": tok}, contact["version"], cid, cid
        )  # fmt: skip
        done.append(update)
        deal_op, deal = self._create(
            "create_deal", "/deals",
            {"title": lambda op: f"Deal {op.token}", "amount": "100.00", "currency": "CNY", "contact_id": cid},
            cid,
        )  # fmt: skip
        done.append(deal_op)
        if deal:
            moved, _ = self._patch(
                "move_deal", f"/deals/{deal['id']}", {"stage_id": "needs_analysis"}, deal["version"], cid, deal["id"]
            )
            moved.token = deal_op.token  # the move is found by the deal's title
            done.append(moved)
        ticket_op, ticket = self._create(
            "create_ticket", "/tickets",
            {"subject": lambda op: f"Ticket {op.token}", "contact_id": cid, "priority": "normal"},
            cid,
        )  # fmt: skip
        done.append(ticket_op)
        if ticket:
            comment_op, comment = self._create(
                "comment_ticket",
                f"/tickets/{ticket['id']}/comments",
                {"body": lambda op: f"Reply {op.token}", "public": True},
                cid,
                ticket["id"],
            )
            done.append(comment_op)
        task_op, _ = self._create(
            "create_task", "/tasks",
            {"title": lambda op: f"Task {op.token}", "contact_id": cid, "assignee_id": self.owner_id},
            cid,
        )  # fmt: skip
        done.append(task_op)
        return done

    def run(self, chains: int, workers: int = 2) -> float:
        """Run `chains` chains on `workers` threads (or until `stop` is set); returns ops per second."""
        todo = iter(range(chains))
        todo_lock = threading.Lock()

        def worker():
            while not self.stop.is_set():
                with todo_lock:
                    if next(todo, None) is None:
                        return
                self.chain()

        started = time.monotonic()
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        elapsed = time.monotonic() - started
        return len(self.ops) / elapsed if elapsed else 0.0

    def start(self, chains: int, workers: int = 2) -> threading.Thread:
        """`run` in the background; join the returned thread."""
        result = {}
        thread = threading.Thread(target=lambda: result.update(rate=self.run(chains, workers)), daemon=True)
        thread.result = result
        thread.start()
        return thread

    def resolve_unknown(self) -> None:
        """After the fault: retry every undecided POST once more with its own Idempotency-Key, as a
        client must. A replay (or a first run, if the first never ran) decides it."""
        for op in self.ops:
            if op.status != "unknown" or op.key is None:
                continue
            # the request is rebuilt exactly as sent: the body is a function of the token
            body = _rebuild(op, self.owner_id)
            if body is None:
                continue
            path, payload = body
            response = self._send(op, "POST", path, payload, {"Idempotency-Key": op.key})
            created = self._settle(op, response, 201)
            if created:
                op.record_id = created["id"]
                op.contact_id = op.contact_id or created["id"]

    def latencies(self) -> list[float]:
        return sorted(op.latency for op in self.ops)


def _rebuild(op: Op, owner_id: str) -> tuple[str, dict] | None:
    if op.kind == "create_contact":
        return "/contacts", {
            "first_name": "Fault", "last_name": op.token, "email": f"{op.token}@faults.example", "owner_id": owner_id,
        }  # fmt: skip
    if op.kind == "create_deal":
        return "/deals", {
            "title": f"Deal {op.token}", "amount": "100.00", "currency": "CNY", "contact_id": op.contact_id,
        }  # fmt: skip
    if op.kind == "create_ticket":
        return "/tickets", {"subject": f"Ticket {op.token}", "contact_id": op.contact_id, "priority": "normal"}
    if op.kind == "comment_ticket":
        return f"/tickets/{op.parent}/comments", {"body": f"Reply {op.token}", "public": True}
    if op.kind == "create_task":
        return "/tasks", {"title": f"Task {op.token}", "contact_id": op.contact_id, "assignee_id": owner_id}
    return None
