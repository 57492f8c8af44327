"""Reconciliation after quiescence: every operation's expected effects, counted in every store.

For each operation the effect is counted where it should be: the owning service (GET through the
gateway), search (its unique token), the customer's timeline, the owner's notifications.
- lost: an acknowledged operation (ok) whose effect is missing somewhere;
- duplicated: an effect found more than once (two records for one Idempotency-Key, a timeline
  entry twice, two notifications for one event), whatever the operation's status;
- unexpected: an effect of an operation the client was told failed (a 4xx).
An `unknown` operation may have landed or not, but never twice.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tests.faults.operations import NOTIFICATION, OWNER, SEARCH, TIMELINE, Op


@dataclass
class Outcome:
    ops: list[Op]
    checked: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        by = lambda s: sum(1 for op in self.ops if op.status == s)  # noqa: E731
        return {
            "ops": len(self.ops),
            "ok": by("ok"),
            "failed": by("failed"),
            "unknown": by("unknown"),
            "checked": self.checked,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "unexpected": len(self.unexpected),
        }

    def summary(self) -> str:
        lines = [str(self.counts())]
        for name in ("lost", "duplicated", "unexpected"):
            lines += [f"  {name}: {item}" for item in getattr(self, name)[:20]]
        return "\n".join(lines)


def _pages(api, path: str, params: dict | None = None, cap: int = 500) -> list[dict]:
    items, params = [], {**(params or {}), "limit": 200}
    for _ in range(cap):
        response = api.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:200]}"
        body = response.json()
        items += body.get("data", [])
        cursor = body.get("next_cursor")
        if not cursor:
            return items
        params["cursor"] = cursor
    return items


class Reconciler:
    def __init__(self, admin, owner):
        self.admin, self.owner = admin, owner  # owner: the client signed in as the customers' owner
        self._timelines: dict[str, list[dict]] = {}
        self._inbox: list[dict] | None = None

    def timeline(self, contact_id: str) -> list[dict]:
        if contact_id not in self._timelines:
            self._timelines[contact_id] = _pages(self.admin, f"/contacts/{contact_id}/timeline")
        return self._timelines[contact_id]

    def inbox(self) -> list[dict]:
        if self._inbox is None:
            self._inbox = _pages(self.owner, "/notifications")
        return self._inbox

    # counts of one effect of one operation
    def owner_count(self, op: Op) -> int:
        a = self.admin
        if op.kind == "create_contact":
            return sum(c["last_name"] == op.token for c in _pages(a, "/contacts", {"last_name": op.token}))
        if op.kind == "update_contact":
            current = a.get(f"/contacts/{op.record_id}")
            return int(current.status_code == 200 and current.json().get("title") == op.token)
        if op.kind == "create_deal":
            return len(_pages(a, "/deals", {"title": f"Deal {op.token}"}))
        if op.kind == "move_deal":
            current = a.get(f"/deals/{op.record_id}")
            return int(current.status_code == 200 and current.json().get("stage_id") == "needs_analysis")
        if op.kind == "create_ticket":
            tickets = _pages(a, "/tickets", {"contact_id": op.contact_id})
            return sum(t["subject"] == f"Ticket {op.token}" for t in tickets)
        if op.kind == "comment_ticket":
            if not op.parent:
                return 0
            comments = _pages(a, f"/tickets/{op.parent}/comments")
            return sum(c.get("body") == f"Reply {op.token}" for c in comments)
        if op.kind == "create_task":
            return len(_pages(a, "/tasks", {"title": f"Task {op.token}"}))
        raise ValueError(op.kind)

    SEARCH_TYPES = {"create_contact": "contact", "update_contact": "contact", "create_deal": "deal",
                    "create_ticket": "ticket"}  # fmt: skip

    def search_count(self, op: Op) -> int:
        """Hits of the right type naming the token (two records for one operation: 2), or for an
        update, hits of the record that find it by its new token."""
        kind = self.SEARCH_TYPES[op.kind]
        # Every page: the query matches by prefix, so a short token (`...t1`) also finds `...t10`,
        # `...t1000` and so on, ranked by recency; in the long form the record itself sits pages down.
        hits = _pages(self.admin, "/search", {"q": op.token, "types": kind})
        if op.kind == "update_contact":
            return sum(h["id"] == op.record_id for h in hits)
        return sum(op.token in (h.get("title") or "").split() for h in hits)

    def timeline_count(self, op: Op) -> int:
        if not op.contact_id:
            return 0
        summaries = [e.get("summary") or "" for e in self.timeline(op.contact_id)]
        wanted = {
            "create_contact": lambda s: s == f"Contact Fault {op.token} created",
            "update_contact": lambda s: s.startswith("Changed title") and s.endswith(f"-> {op.token}"),
            "create_deal": lambda s: s.startswith(f"Deal Deal {op.token} opened"),
            "move_deal": lambda s: s == f"Deal Deal {op.token} moved to Needs analysis",
            "create_ticket": lambda s: s.startswith(f"Ticket Ticket {op.token} ("),
            "comment_ticket": lambda s: s.endswith(f": Reply {op.token}") and s.startswith("Reply to the customer"),
        }[op.kind]
        return sum(1 for s in summaries if wanted(s))

    NOTICE_REFS = {"create_contact": "contact", "create_deal": "deal", "create_ticket": "ticket", "create_task": "task"}

    def notification_count(self, op: Op) -> int:
        """The owner's in-app notices about the operation's record: the ref's type and the token in
        the body (so a second record made by one operation counts too)."""
        ref_type = self.NOTICE_REFS[op.kind]
        return sum(
            (n.get("ref") or {}).get("type") == ref_type and op.token in (n.get("body") or "").split()
            for n in self.inbox()
        )

    COUNTERS = {OWNER: owner_count, SEARCH: search_count, TIMELINE: timeline_count, NOTIFICATION: notification_count}

    def reconcile(self, ops: list[Op], workers: int = 4) -> Outcome:
        outcome = Outcome(list(ops))
        checks = [(op, effect) for op in ops if op.status != "pending" for effect in op.effects]
        self.inbox()  # fetched once, before the threads share it
        with ThreadPoolExecutor(workers) as pool:  # independent GETs: counted in parallel
            counts = list(pool.map(lambda check: self.COUNTERS[check[1]](self, check[0]), checks))
        for (op, effect), found in zip(checks, counts, strict=True):
            outcome.checked += 1
            where = f"#{op.n} {op.kind} {op.token} ({op.status}, http {op.http}, key {op.key}): {effect}={found}"
            if found > 1:
                outcome.duplicated.append(where)
            elif found == 0 and op.status == "ok":
                outcome.lost.append(where)
            elif found and op.status == "failed":
                outcome.unexpected.append(where)
        return outcome
