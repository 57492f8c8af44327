"""Pipelines and deals: the deal write path (stages, won and lost, rollups) and its reads (a mixin
of SalesService)."""

from nameko.rpc import rpc

from crm_common.access import CUSTOMER_WRITERS, and_filters, reach_of, require_role
from crm_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import utc_now
from crm_common.listing import parse_list_query
from crm_common.schema import validate

from . import domain, events, schemas
from .store import DEALS, PIPELINES


class DealsRpc:
    """RPC entrypoints and timers of pipelines and deals."""

    def _pipeline(self, pipeline_id: str) -> dict | None:
        pipeline = self.store[PIPELINES].get(pipeline_id)
        if pipeline is None and pipeline_id == domain.DEFAULT_PIPELINE_ID:
            try:
                pipeline = self.store[PIPELINES].insert(domain.default_pipeline(utc_now()))
            except Conflict:  # another worker created it first
                pipeline = self.store[PIPELINES].get(pipeline_id)
        return pipeline

    @rpc
    def list_pipelines(self) -> dict:
        self._pipeline(domain.DEFAULT_PIPELINE_ID)
        return {"data": self.store[PIPELINES].find(None, [("name", 1)], 200).items, "next_cursor": None}

    @rpc
    def get_pipeline(self, pipeline_id: str) -> dict:
        pipeline = self._pipeline(pipeline_id)
        if pipeline is None:
            raise NotFound(f"pipeline {pipeline_id} not found")
        return pipeline

    def _visible_deal(self, source, deal_id: str) -> dict:
        """The deal, or NotFound, the same for a missing id and one out of the caller's reach."""
        deal = source[DEALS].get(deal_id)
        if deal is None or not domain.deal_in_reach(reach_of(self.caller), deal):
            raise NotFound(f"deal {deal_id} not found")
        return deal

    @rpc
    def create_deal(self, data: dict) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "create deals")
        fields = validate(data, schemas.DEAL_FIELDS, server_owned=schemas.SERVER_OWNED)
        domain.check_new_owner(self.caller, fields.get("owner_id", self.caller.user_id))
        pipeline = self._pipeline(fields.get("pipeline_id") or domain.DEFAULT_PIPELINE_ID)
        if pipeline is None:
            raise ValidationFailed("unknown pipeline", [{"field": "pipeline_id", "message": "no such pipeline"}])
        try:
            # As the caller: a contact out of their reach is as unknown as a missing one.
            contact = self.contacts.get_contact(fields["contact_id"])
        except NotFound:
            raise ValidationFailed("unknown contact", [{"field": "contact_id", "message": "no such contact"}]) from None
        fields.setdefault("company_id", contact.get("company_id"))
        deal = domain.new_deal(fields, pipeline, self.caller.user_id, utc_now())
        with self.store.transaction() as tx:
            deal.update(self._surviving_customers(tx, deal))  # its contact was merged meanwhile
            stored = tx[DEALS].insert(deal)
            self.emit(tx, events.DEAL_CREATED, stored)
        return stored

    @rpc
    def get_deal(self, deal_id: str) -> dict:
        return self._visible_deal(self.store, deal_id)

    @rpc
    def list_deals(self, query: dict) -> dict:
        q = parse_list_query(query, filterable=schemas.DEAL_FILTERABLE, sortable=schemas.DEAL_SORTABLE)
        flt = and_filters(domain.deal_filter(reach_of(self.caller)), q.filter)
        page = self.store[DEALS].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_deal(self, deal_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "change deals")
        changes = validate(data, schemas.DEAL_UPDATE_FIELDS, partial=True, server_owned=schemas.SERVER_OWNED)
        with self.store.transaction() as tx:
            current = self._visible_deal(tx, deal_id)
            domain.check_owner_change(self.caller, current, changes)
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"deal {deal_id} is at version {current['version']}")
            pipeline = self._pipeline(current["pipeline_id"])
            if pipeline is None:  # a pipeline is never deleted while deals use it
                raise NotFound(f"pipeline {current['pipeline_id']} not found")
            updated, changed = domain.apply_deal_changes(current, changes, pipeline, utc_now())
            if not changed:
                return current
            stored = tx[DEALS].replace(updated, expected_version)
            stage = domain.stage_name(pipeline, stored["stage_id"])
            self.emit(tx, events.DEAL_UPDATED, {**stored, "changes": changed, "stage_name": stage})
        return stored
