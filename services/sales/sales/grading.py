"""Customer value and churn risk: RFM grades, the Pareto view and churn alerts (a mixin of SalesService)."""

import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from nameko.rpc import rpc
from nameko.timer import timer

from crm_common.access import ADMIN, MANAGER, SALES_REP, VIEWER, and_filters, owner_filter, reach_of, require_role
from crm_common.config import float_setting, int_setting
from crm_common.errors import BadRequest, Conflict, PreconditionFailed
from crm_common.listing import parse_limit

from . import events, valuation
from .customers import customer_key
from .store import CUSTOMER_STATS, CUSTOMERS, GRADING_STATE, ORDERS, RETURN_VISITS

log = logging.getLogger(__name__)

GRADING_INTERVAL_SECONDS = int_setting("GRADING_INTERVAL_SECONDS", 3600)
# Customers regraded per transaction batch of a grading pass (each customer is its own transaction).
GRADING_BATCH = 200
# POST /grading-runs regrades for at most this long; the grading timer does the rest.
RUN_GRADING_SECONDS = float_setting("RUN_GRADING_SECONDS", 2.0)
GRADING_STATE_ID = "grading"
# A client's order write regrades its customer; it merges over a concurrent regrade this many times.
REGRADE_ATTEMPTS = 3
REPORT_READERS = (ADMIN, MANAGER, SALES_REP, VIEWER)
SUBJECT_TYPES = ("contact", "company")
CHURN_LEVELS = ("medium", "high")
REPORT_PARAMETERS = ("subject_type", "owner_id", "limit", "cursor")
VALUE_REPORT_PARAMETERS = (*REPORT_PARAMETERS, "value_grade", "pareto_rows")
CHURN_REPORT_PARAMETERS = (*REPORT_PARAMETERS, "churn_risk")


def _known_parameters(query, allowed: tuple[str, ...]) -> dict:
    """The report's query, refusing unknown parameters (400), as the deal reports do."""
    query = query or {}
    if not isinstance(query, dict):
        raise BadRequest("a report query must be an object")
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown report parameter {unknown[0]!r}; use {', '.join(allowed)}")
    return query


def _choice(query: dict, name: str, allowed: tuple, default=None):
    value = query.get(name, default)
    if value is not None and value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}")
    return value


def _stats_row(stats: dict) -> dict:
    return {
        key: stats.get(key)
        for key in (
            "subject_type",
            "subject_id",
            "display_name",
            "owner_id",
            "order_count",
            "monetary",
            "first_order_at",
            "last_order_at",
            "rfm",
            "value_grade",
            "churn_risk",
            "graded_at",
        )
    }


class GradingRpc:
    """Keeping `customer_stats` current (on every order write, and daily as time passes), and the reports on it."""

    def _clock(self) -> datetime:
        """The service's one clock: grades, churn, lead scores and tasks are judged at it (tests set their own)."""
        return datetime.now(UTC)

    def _now(self) -> str:
        """`_clock` as stored (`valuation.iso`, the shape of `crm_common.ids.utc_now`)."""
        return valuation.iso(self._clock())

    def _refresh_customer_value(self, tx, subjects: list[tuple[str, str]]) -> None:
        """Recompute the figures of these customers after their orders changed (in the same transaction)."""
        now = self._clock()
        settings = self._settings(tx)
        for subject_type, subject_id in subjects:
            self._regrade(tx, subject_type, subject_id, now, settings, attempts=REGRADE_ATTEMPTS)

    def _drop_customer_value(self, tx, subject_type: str, subject_id: str) -> None:
        """A customer merged into another: its figures and return visits go, unannounced (its orders now
        count for the survivor, which is regraded; no grade nor churn change is told about a customer
        that no longer exists)."""
        key = customer_key(subject_type, subject_id)
        tx[CUSTOMER_STATS].delete(key)
        tx[RETURN_VISITS].delete(key)

    def _regrade(
        self, tx, subject_type: str, subject_id: str, now: datetime, settings: dict, attempts: int = 1
    ) -> tuple[dict, dict]:
        """The customer's figures before and after: recomputed from its orders at `now` and stored with a
        version check. The grading pass (`attempts` 1) gives way to a concurrent grading of the same
        customer (PreconditionFailed); a client's order write (`attempts` > 1) re-reads the figures and
        writes over them, as what it computed from the orders in its transaction is the newer truth.
        Announces a new grade (customer_graded) and a new churn level (churn_risk_changed); a new grade or
        owner re-plans the customer's return visits. (None, None) for a customer without orders nor figures."""
        key = customer_key(subject_type, subject_id)
        orders = list(tx[ORDERS].iterate({f"{subject_type}_id": subject_id}, [("ordered_at", 1)]))
        for attempt in range(1, attempts + 1):
            before = tx[CUSTOMER_STATS].get(key)
            if not orders and before is None:
                return None, None
            stats = self._graded(tx, key, subject_type, subject_id, orders, before, now, settings)
            try:
                if before is None:
                    after = tx[CUSTOMER_STATS].insert(stats)
                else:
                    after = tx[CUSTOMER_STATS].replace(stats, before["version"])
            except (Conflict, PreconditionFailed):
                if attempt < attempts:
                    continue  # graded meanwhile: merge over the new figures
                raise PreconditionFailed(f"{key} was graded meanwhile") from None
            self._announce_value(tx, before or {}, after)
            return before, after
        raise AssertionError("unreachable")

    def _graded(self, tx, key, subject_type, subject_id, orders, before, now, settings) -> dict:
        figures = valuation.customer_figures(orders, settings, now)
        churn = valuation.churn_risk(figures["monthly"], figures["first_order_at"], now, settings["churn"])
        customer = tx[CUSTOMERS].get(key) or before or {}
        return {
            "id": key,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "owner_id": customer.get("owner_id"),
            "shared_with": list(customer.get("shared_with") or []),
            "display_name": customer.get("display_name"),
            "deleted": bool(customer.get("deleted")),
            **figures,
            "churn_risk": churn["level"],
            "churn_reason": churn["reason"],
            "churn_evidence": churn["evidence"],
            "graded_at": valuation.iso(now),
        }

    def _announce_value(self, tx, before: dict, after: dict) -> None:
        if before.get("value_grade") != after["value_grade"]:
            self.emit(
                tx,
                events.CUSTOMER_GRADED,
                {
                    "subject_type": after["subject_type"],
                    "id": after["subject_id"],
                    "value_grade": after["value_grade"],
                    "rfm": after["rfm"],
                },
            )
        if before.get("churn_risk") != after["churn_risk"]:
            self.emit(
                tx,
                events.CHURN_RISK_CHANGED,
                {
                    "subject_type": after["subject_type"],
                    "id": after["subject_id"],
                    "churn_risk": after["churn_risk"],
                    "previous_churn_risk": before.get("churn_risk"),
                    "reason": after["churn_reason"],
                    "evidence": after["churn_evidence"],
                    "owner_id": after["owner_id"],
                    "display_name": after["display_name"],
                },
            )
        if before.get("value_grade") != after["value_grade"] or before.get("owner_id") != after["owner_id"]:
            self._plan_return_visit(tx, after)

    # grading passes: recency decays and an absent order is the churn signal, so figures age daily

    @timer(interval=GRADING_INTERVAL_SECONDS)
    def grade_on_schedule(self) -> None:
        try:
            counts = self._grading_pass(self._clock(), stale_only=True)
        except Exception:
            log.exception("the scheduled grading pass failed; the next one tries again")
            return
        if counts["evaluated"]:
            log.info("grading pass: %s", counts)

    @rpc
    def run_grading(self) -> dict:
        """Regrade every customer (admin): after a settings change, or to see today's figures at once. As many
        as fit in RUN_GRADING_SECONDS (about 2 s) now; the rest (`remaining`, `queued` true) at the next run
        of the grading timer, which regrades every customer graded before the last such request."""
        require_role(self.caller, (ADMIN,), "run the customer grading")
        now = self._clock()
        self._request_grading(valuation.iso(now))
        return self._grading_pass(now, stale_only=False, deadline=time.monotonic() + RUN_GRADING_SECONDS)

    def _request_grading(self, at: str) -> None:
        with self.store.transaction() as tx:
            state = tx[GRADING_STATE].get(GRADING_STATE_ID)
            if state is None:
                tx[GRADING_STATE].insert({"id": GRADING_STATE_ID, "requested_at": at})
            elif (state.get("requested_at") or "") < at:
                tx[GRADING_STATE].replace({**state, "requested_at": at}, state["version"])

    def _grading_cutoff(self, now: datetime, stale_only: bool) -> str:
        """Customers graded before this are regraded: now for a request; for the timer, the start of today
        or the last request (POST /grading-runs leaves what it did not finish to the timer), the later."""
        if not stale_only:
            return valuation.iso(now)
        day_start = valuation.iso(now.replace(hour=0, minute=0, second=0, microsecond=0))
        requested = (self.store[GRADING_STATE].get(GRADING_STATE_ID) or {}).get("requested_at") or ""
        return max(day_start, min(requested, valuation.iso(now)))

    def _grading_pass(self, now: datetime, stale_only: bool, deadline: float | None = None) -> dict:
        """Regrade the customers (with `stale_only`, those not graded since today began or since the last
        request), each in its own transaction, until `deadline` (time.monotonic) if given. Several instances
        may run it at once: a customer another one regraded meanwhile fails the version check (or, stale_only,
        is no longer stale) and is skipped, so each change is announced once. The counts, with `remaining`
        (still to regrade) and `queued` (the timer will) when a deadline stopped it."""
        counts = {"evaluated": 0, "grades_changed": 0, "churn_changed": 0, "skipped": 0}
        flt = {"graded_at": {"$lt": self._grading_cutoff(now, stale_only)}}
        settings = self._settings()
        seen: set[str] = set()
        while True:
            batch = self.store[CUSTOMER_STATS].find(flt, [("graded_at", 1)], GRADING_BATCH).items
            batch = [s for s in batch if s["id"] not in seen]
            if not batch:
                return {**counts, "remaining": 0, "queued": False} if deadline is not None else counts
            for candidate in batch:
                if deadline is not None and time.monotonic() >= deadline:
                    remaining = self.store[CUSTOMER_STATS].count(flt)
                    return {**counts, "remaining": remaining, "queued": remaining > 0}
                seen.add(candidate["id"])
                try:
                    with self.store.transaction() as tx:
                        current = tx[CUSTOMER_STATS].get(candidate["id"])
                        if current is None or current["version"] != candidate["version"]:
                            counts["skipped"] += 1
                            continue
                        before, after = self._regrade(tx, current["subject_type"], current["subject_id"], now, settings)
                except (PreconditionFailed, Conflict):
                    counts["skipped"] += 1
                    continue
                counts["evaluated"] += 1
                counts["grades_changed"] += before.get("value_grade") != after["value_grade"]
                counts["churn_changed"] += before.get("churn_risk") != after["churn_risk"]

    # reports

    def _stats_filter(self, query: dict) -> dict | None:
        subject_type = _choice(query, "subject_type", SUBJECT_TYPES, "contact")
        owner_id = query.get("owner_id")
        return and_filters(
            {"subject_type": subject_type, "deleted": False},
            owner_filter(reach_of(self.caller)),
            {"owner_id": owner_id} if owner_id else None,
        )

    @rpc
    def customer_value_report(self, query: dict) -> dict:
        """Grade distribution, the RFM rows (largest value first, paged) and the Pareto view of customers
        and of reps, within the caller's reach. Query: `subject_type` (contact | company, default contact),
        `owner_id`, `value_grade` (rows only), `limit`, `cursor`, `pareto_rows` (rows listed per Pareto view)."""
        require_role(self.caller, REPORT_READERS, "read sales reports")
        query = _known_parameters(query, VALUE_REPORT_PARAMETERS)
        settings = self._settings()
        base = self._stats_filter(query)
        grade = _choice(query, "value_grade", valuation.GRADES)
        limit = parse_limit(query.get("limit"))
        pareto_rows = parse_limit(query.get("pareto_rows"))
        stats = self.store[CUSTOMER_STATS]
        distribution = {g: stats.count(and_filters(base, {"value_grade": g})) for g in valuation.GRADES}
        distribution["none"] = stats.count(and_filters(base, {"value_grade": None}))
        page = stats.find(
            and_filters(base, {"value_grade": grade} if grade else None),
            [("monetary_minor", -1)],
            limit,
            query.get("cursor") or None,
        )
        names, values = {}, []
        for found in stats.iterate(base, [("monetary_minor", -1)], batch=1000):
            names[found["subject_id"]] = found.get("display_name")
            values.append((found["subject_id"], Decimal(found["monetary"])))
        customers = valuation.pareto(values)
        customers["rows"] = [{**r, "display_name": names[r["id"]]} for r in customers["rows"][:pareto_rows]]
        reps = self._rep_pareto(settings, query.get("owner_id"))
        reps["rows"] = reps["rows"][:pareto_rows]
        return {
            "currency": settings["report_currency"],
            "window_days": settings["value_grading"]["window_days"],
            "grades": distribution,
            "customers": {"data": [_stats_row(s) for s in page.items], "next_cursor": page.next_cursor},
            "pareto": {"customers": customers, "reps": reps},
        }

    def _rep_pareto(self, settings: dict, owner_id: str | None) -> dict:
        """Sales per rep (the orders' owners in the caller's reach) over the grading window, in the report currency."""
        since = self._clock() - timedelta(days=settings["value_grading"]["window_days"])
        flt = and_filters(
            {"ordered_at": {"$gte": valuation.iso(since)}},
            owner_filter(reach_of(self.caller), shared_field=None, pool=False),
            {"owner_id": owner_id} if owner_id else None,
        )
        orders = self.store[ORDERS].iterate(flt, [("ordered_at", 1)], batch=1000)
        return valuation.pareto(valuation.rep_totals(orders, settings, since).items())

    @rpc
    def churn_risk_report(self, query: dict) -> dict:
        """The customers at risk in the caller's reach, largest value first, with the evidence. Query:
        `churn_risk` (medium | high; default both), `subject_type` (default contact), `owner_id`, `limit`, `cursor`."""
        require_role(self.caller, REPORT_READERS, "read sales reports")
        query = _known_parameters(query, CHURN_REPORT_PARAMETERS)
        level = _choice(query, "churn_risk", CHURN_LEVELS)
        flt = and_filters(self._stats_filter(query), {"churn_risk": {"$in": [level] if level else list(CHURN_LEVELS)}})
        page = self.store[CUSTOMER_STATS].find(
            flt, [("monetary_minor", -1)], parse_limit(query.get("limit")), query.get("cursor") or None
        )
        rows = [
            {**_stats_row(s), "churn_reason": s.get("churn_reason"), "churn_evidence": s.get("churn_evidence")}
            for s in page.items
        ]
        return {"currency": self._settings()["report_currency"], "data": rows, "next_cursor": page.next_cursor}
