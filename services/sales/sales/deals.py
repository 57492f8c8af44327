"""Pipelines and deals: the deal write path (stages, won and lost, rollups, rotting) and its reads (a mixin
of SalesService)."""

import logging

from nameko.rpc import rpc
from nameko.timer import timer

from crm_common.access import ADMIN, CUSTOMER_WRITERS, and_filters, reach_of, require_role
from crm_common.config import float_setting
from crm_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import utc_now
from crm_common.listing import parse_list_query
from crm_common.schema import validate

from . import domain, events, rollups, schemas
from .orders import DEAL_ORDER_FIELDS
from .store import DEAL_ROLLUPS, DEALS, PIPELINES

log = logging.getLogger(__name__)

ROTTING_POLL_SECONDS = float_setting("ROTTING_POLL_SECONDS", 60.0)
# Deals flagged per store query by the rotting timer; it queries again until none is left.
ROTTING_BATCH = 200
# Deals read per page, and buckets written per insert, when the rollups are rebuilt.
REBUILD_BATCH = 1000
# A rebuild catches up with the deals written from this long before it began (a write under way as
# it begins may carry an earlier updated_at); those it read at their current version cost nothing.
REBUILD_MARGIN_SECONDS = 60


class DealsRpc:
    """RPC entrypoints and timers of pipelines and deals."""

    # pipelines

    def _pipeline(self, pipeline_id: str, source=None) -> dict | None:
        """The pipeline (from `source`, a transaction, or the store); the default one is created the
        first time it is read."""
        source = source or self.store
        pipeline = source[PIPELINES].get(pipeline_id)
        if pipeline is None and pipeline_id == domain.DEFAULT_PIPELINE_ID:
            try:
                pipeline = source[PIPELINES].insert(domain.default_pipeline(utc_now()))
            except Conflict:  # another worker created it first
                pipeline = source[PIPELINES].get(pipeline_id)
        return pipeline

    def _existing_pipeline(self, source, pipeline_id: str) -> dict:
        pipeline = self._pipeline(pipeline_id, source)
        if pipeline is None:
            raise NotFound(f"pipeline {pipeline_id} not found")
        return pipeline

    @rpc
    def create_pipeline(self, data: dict) -> dict:
        require_role(self.caller, (ADMIN,), "create pipelines")
        fields = validate(data, schemas.PIPELINE_FIELDS, server_owned=schemas.PIPELINE_SERVER_OWNED)
        pipeline = domain.new_pipeline(fields, self.caller.user_id, utc_now())
        with self.store.transaction() as tx:
            return tx[PIPELINES].insert(pipeline)

    @rpc
    def list_pipelines(self, query: dict | None = None) -> dict:
        q = parse_list_query(
            query or {},
            filterable=schemas.PIPELINE_FILTERABLE,
            sortable=schemas.PIPELINE_SORTABLE,
            default_sort="name",
        )
        self._pipeline(domain.DEFAULT_PIPELINE_ID)
        page = self.store[PIPELINES].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def get_pipeline(self, pipeline_id: str) -> dict:
        return self._existing_pipeline(self.store, pipeline_id)

    def _stages_in_use(self, tx, pipeline: dict) -> set[str]:
        return {
            stage["id"]
            for stage in pipeline["stages"]
            if tx[DEALS].find({"pipeline_id": pipeline["id"], "stage_id": stage["id"]}, None, 1).items
        }

    @rpc
    def update_pipeline(self, pipeline_id: str, data: dict, expected_version: int | None = None) -> dict:
        """Rename it, change its business line or its stages (the whole list). A stage deals are in
        stays, with the same outcome; changed rotting days apply to the deals in the stage."""
        require_role(self.caller, (ADMIN,), "change pipelines")
        changes = validate(data, schemas.PIPELINE_FIELDS, partial=True, server_owned=schemas.PIPELINE_SERVER_OWNED)
        now = utc_now()
        with self.store.transaction() as tx:
            current = self._existing_pipeline(tx, pipeline_id)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"pipeline {pipeline_id} is at version {current['version']}")
            updated, changed = domain.apply_pipeline_changes(current, changes, now)
            if not changed:
                return current
            if "stages" in changed:
                refused = domain.stage_changes_refused(current, updated, self._stages_in_use(tx, current))
                if refused:
                    raise Conflict(refused)
            stored = tx[PIPELINES].replace(updated, current["version"])
            if "stages" in changed:
                self._follow_rotting_days(tx, current, stored)
        return stored

    def _follow_rotting_days(self, tx, before: dict, after: dict) -> None:
        """The open deals of a stage whose rotting days changed get their new rotting time (each a
        deal_updated with changes ["rotting_at"]); a deal flagged in this stage entry stays flagged."""
        for stage in after["stages"]:
            old = domain.stage_of(before, stage["id"])
            if old is None or old.get("rotting_days") == stage.get("rotting_days"):
                continue
            flt = {"pipeline_id": after["id"], "stage_id": stage["id"], "status": domain.OPEN}
            for deal in list(tx[DEALS].iterate(flt, [("id", 1)])):
                moved = domain.with_new_rotting_days(deal, after)
                if moved["rotting_at"] != deal.get("rotting_at"):
                    stored = tx[DEALS].replace(moved, deal["version"])
                    self._announce_deal(tx, stored, after, ["rotting_at"])

    @rpc
    def delete_pipeline(self, pipeline_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, (ADMIN,), "delete pipelines")
        with self.store.transaction() as tx:
            current = self._existing_pipeline(tx, pipeline_id)
            if pipeline_id == domain.DEFAULT_PIPELINE_ID:
                raise Conflict("the default pipeline cannot be deleted")
            if tx[DEALS].find({"pipeline_id": pipeline_id}, None, 1).items:
                raise Conflict(f"pipeline {current['name']} holds deals and cannot be deleted")
            if not tx[PIPELINES].delete(pipeline_id, expected_version):
                raise NotFound(f"pipeline {pipeline_id} not found")

    # deals

    def _visible_deal(self, source, deal_id: str) -> dict:
        """The deal, or NotFound, the same for a missing id and one out of the caller's reach."""
        deal = source[DEALS].get(deal_id)
        if deal is None or not domain.deal_in_reach(reach_of(self.caller), deal):
            raise NotFound(f"deal {deal_id} not found")
        return deal

    def _move_rollups(self, tx, before: dict | None, after: dict | None, pipeline: dict | None) -> None:
        """Take `before` out of the rollup buckets and put `after` in (either may be None)."""
        old = rollups.contributions(before, pipeline) if before else []
        new = rollups.contributions(after, pipeline) if after else []
        for bucket_id, delta in sorted(rollups.deltas(old, new).items()):
            current = tx[DEAL_ROLLUPS].get(bucket_id)
            bucket = rollups.applied(current, delta)
            if bucket is not None:
                tx[DEAL_ROLLUPS].put(bucket)
            elif current is not None:
                tx[DEAL_ROLLUPS].delete(bucket_id)

    def _announce_deal(self, tx, deal: dict, pipeline: dict, changed: list[str]) -> None:
        stage = domain.stage_name(pipeline, deal["stage_id"])
        self.emit(tx, events.DEAL_UPDATED, {**deal, "changes": changed, "stage_name": stage})

    def _deal_company(self, company_id: str | None, contact: dict) -> str | None:
        """The deal's company: the contact's when none is given. A company given must be visible to
        the caller (else the same 422 as a missing one) and, when the contact belongs to a company,
        be that one: a deal is with a person at their company."""
        if not company_id:
            return contact.get("company_id")
        if contact.get("company_id") and contact["company_id"] != company_id:
            message = "must be the contact's company (or left out)"
            raise ValidationFailed(f"company_id {message}", [{"field": "company_id", "message": message}])
        if self._visible_customer(self.store, "company", company_id) is None:
            raise ValidationFailed("unknown company", [{"field": "company_id", "message": "no such company"}])
        return company_id

    @rpc
    def create_deal(self, data: dict) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "create deals")
        fields = validate(data, schemas.DEAL_FIELDS, server_owned=schemas.SERVER_OWNED)
        domain.check_new_owner(self.caller, fields.get("owner_id", self.caller.user_id))
        if self._pipeline(fields.get("pipeline_id") or domain.DEFAULT_PIPELINE_ID) is None:
            raise ValidationFailed("unknown pipeline", [{"field": "pipeline_id", "message": "no such pipeline"}])
        try:
            # As the caller: a contact out of their reach is as unknown as a missing one.
            contact = self.contacts.get_contact(fields["contact_id"])
        except NotFound:
            raise ValidationFailed("unknown contact", [{"field": "contact_id", "message": "no such contact"}]) from None
        fields["company_id"] = self._deal_company(fields.get("company_id"), contact)
        with self.store.transaction() as tx:
            # Read again inside the transaction: its stages are those no concurrent change removed.
            pipeline = self._pipeline(fields.get("pipeline_id") or domain.DEFAULT_PIPELINE_ID, tx)
            if pipeline is None:
                raise ValidationFailed("unknown pipeline", [{"field": "pipeline_id", "message": "no such pipeline"}])
            deal = domain.new_deal(fields, pipeline, self.caller.user_id, utc_now())
            deal.update(self._surviving_customers(tx, deal))  # its contact was merged meanwhile
            stored = tx[DEALS].insert(deal)
            self._move_rollups(tx, None, stored, pipeline)
            if stored["status"] != domain.OPEN:
                self._sync_deal_order(tx, stored, None)
            self.emit(tx, events.DEAL_CREATED, stored)
        return stored

    @rpc
    def get_deal(self, deal_id: str) -> dict:
        return self._visible_deal(self.store, deal_id)

    @rpc
    def list_deals(self, query: dict) -> dict:
        q = parse_list_query(
            query, filterable=schemas.DEAL_FILTERABLE, sortable=schemas.DEAL_SORTABLE, booleans=("rotting",)
        )
        flt = and_filters(domain.deal_filter(reach_of(self.caller)), q.filter)
        page = self.store[DEALS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_deal(self, deal_id: str, data: dict, expected_version: int | None = None) -> dict:
        """Change a deal: fields, stage, won (`status` won), lost (`status` lost with `lost_reason`),
        reopened (`status` open); every change is a deal_updated, moves the rollups and, when the
        status changes or a won deal's amount, currency, line items, owner or sharing do, its order
        (orders.py)."""
        require_role(self.caller, CUSTOMER_WRITERS, "change deals")
        changes = validate(data, schemas.DEAL_UPDATE_FIELDS, partial=True, server_owned=schemas.SERVER_OWNED)
        with self.store.transaction() as tx:
            current = self._visible_deal(tx, deal_id)
            domain.check_owner_change(self.caller, current, changes)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"deal {deal_id} is at version {current['version']}")
            pipeline = self._pipeline(current["pipeline_id"], tx)
            if pipeline is None:  # a pipeline is never deleted while deals use it
                raise NotFound(f"pipeline {current['pipeline_id']} not found")
            updated, changed = domain.apply_deal_changes(current, changes, pipeline, utc_now())
            if not changed:
                return current
            stored = tx[DEALS].replace(updated, current["version"])
            self._move_rollups(tx, current, stored, pipeline)
            if stored["status"] != current["status"] or (
                stored["status"] == domain.WON and set(changed) & set(DEAL_ORDER_FIELDS)
            ):
                self._sync_deal_order(tx, stored, current["status"])
            self._announce_deal(tx, stored, pipeline, changed)
        return stored

    # rotting

    @timer(interval=ROTTING_POLL_SECONDS)
    def flag_rotting_deals(self) -> None:
        try:
            flagged = self._flag_rotting_deals(utc_now())
        except Exception:
            log.exception("flagging rotting deals failed; the next poll tries again")
            return
        if flagged:
            log.info("flagged %d rotting deal(s)", flagged)

    def _flag_rotting_deals(self, now: str) -> int:
        """Flag the open deals past their rotting time, each once per stage entry with a deal_rotting;
        several instances may run this at once: the version check lets one of them flag a deal."""
        flagged = 0
        due = {"status": domain.OPEN, "rotting": False, "rotting_at": {"$lte": now}}
        while True:
            batch = self.store[DEALS].find(due, [("rotting_at", 1)], ROTTING_BATCH).items
            acted = sum(self._flag_rotting(deal["id"], now) for deal in batch)
            flagged += acted
            if len(batch) < ROTTING_BATCH or not acted:
                return flagged

    def _flag_rotting(self, deal_id: str, now: str) -> bool:
        try:
            with self.store.transaction() as tx:
                deal = tx[DEALS].get(deal_id)
                if deal is None or not domain.is_rotting(deal, now):
                    return False
                stored = tx[DEALS].replace({**deal, "rotting": True}, deal["version"])
                pipeline = self._pipeline(stored["pipeline_id"], tx)
                stage = domain.stage_of(pipeline, stored["stage_id"]) if pipeline else None
                stage_name = stage["name"] if stage else stored["stage_id"]
                self.emit(tx, events.DEAL_UPDATED, {**stored, "changes": ["rotting"], "stage_name": stage_name})
                self.emit(
                    tx,
                    events.DEAL_ROTTING,
                    {
                        **stored,
                        "stage_name": stage_name,
                        "rotting_days": stage.get("rotting_days") if stage else None,
                    },
                )
            return True
        except (Conflict, PreconditionFailed):  # another instance flagged it, or the deal just moved
            return False

    # rollups

    @rpc
    def rebuild_deal_rollups(self) -> dict:
        """Recompute every rollup bucket from the deals (admins and the platform: after an upgrade,
        or a bench seeding deals straight into the store). Returns {deals, buckets}.

        The deals are read in pages outside any transaction (writers go on meanwhile); then one
        short transaction swaps the buckets and catches up with the deals written since the rebuild
        began (updated_at from REBUILD_MARGIN before it): each one read at another version than its
        current one has what was counted for it taken out and its current version put in. The
        reports never see half of it. A closed deal without closed_at (closed before it was kept)
        has it filled once from its stage history."""
        require_role(self.caller, (ADMIN,), "rebuild the deal rollups")
        started = domain.plus_seconds(utc_now(), -REBUILD_MARGIN_SECONDS)
        pipelines = {p["id"]: p for p in self.store[PIPELINES].iterate(None, [("id", 1)])}
        buckets: dict[str, dict] = {}
        counted: dict[str, tuple[int, list[dict]]] = {}  # deal id -> the version read, its contributions
        for deal in self.store[DEALS].iterate(None, [("id", 1)], batch=REBUILD_BATCH):
            if deal.get("status", domain.OPEN) != domain.OPEN and not deal.get("closed_at"):
                deal = self._fill_closed_at(deal)
            mine = rollups.contributions(deal, pipelines.get(deal["pipeline_id"]))
            rollups.add_to(buckets, mine)
            counted[deal["id"]] = (deal["version"], [rollups.compact(c) for c in mine])
        with self.store.transaction() as tx:
            for deal in list(tx[DEALS].iterate({"updated_at": {"$gte": started}}, [("id", 1)])):
                version, mine = counted.get(deal["id"], (None, []))
                if version == deal["version"]:
                    continue
                rollups.add_to(buckets, [rollups.negated(c) for c in mine])
                rollups.add_to(buckets, rollups.contributions(deal, pipelines.get(deal["pipeline_id"])))
                counted[deal["id"]] = (deal["version"], [])
            for old in list(tx[DEAL_ROLLUPS].iterate(None, [("id", 1)], batch=REBUILD_BATCH)):
                tx[DEAL_ROLLUPS].delete(old["id"])
            stored = [bucket for bucket in buckets.values() if bucket is not None]
            for start in range(0, len(stored), REBUILD_BATCH):
                tx[DEAL_ROLLUPS].insert_many(stored[start : start + REBUILD_BATCH])
        return {"deals": len(counted), "buckets": len(stored)}

    def _fill_closed_at(self, deal: dict) -> dict:
        """Store a closed deal's closed_at from its stage history (once; no event, updated_at kept)."""
        try:
            with self.store.transaction() as tx:
                current = tx[DEALS].get(deal["id"])
                if current is None or current.get("closed_at") or current.get("status") == domain.OPEN:
                    return current or deal
                return tx[DEALS].replace({**current, "closed_at": domain.closed_at(current)}, current["version"])
        except (Conflict, PreconditionFailed):  # written meanwhile: the catch-up counts it
            return deal
