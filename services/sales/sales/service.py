"""The sales nameko service: entrypoints only; rules live in domain.py, storage in store.py."""

from nameko.rpc import rpc

from crm_common.errors import Conflict, NotFound, ValidationFailed
from crm_common.ids import utc_now
from crm_common.listing import parse_list_query
from crm_common.runtime.base import ServiceBase
from crm_common.runtime.rpc import ServiceRpc
from crm_common.runtime.store import Store
from crm_common.schema import validate

from . import domain, events, schemas
from .store import DEALS, PIPELINES, SPECS


class SalesService(ServiceBase):
    name = "sales"
    store = Store(SPECS)
    contacts = ServiceRpc("contacts")

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

    @rpc
    def create_deal(self, data: dict) -> dict:
        fields = validate(data, schemas.DEAL_FIELDS, server_owned=schemas.SERVER_OWNED)
        pipeline = self._pipeline(fields.get("pipeline_id") or domain.DEFAULT_PIPELINE_ID)
        if pipeline is None:
            raise ValidationFailed("unknown pipeline", [{"field": "pipeline_id", "message": "no such pipeline"}])
        try:
            contact = self.contacts.get_contact(fields["contact_id"])
        except NotFound:
            raise ValidationFailed("unknown contact", [{"field": "contact_id", "message": "no such contact"}]) from None
        fields.setdefault("company_id", contact.get("company_id"))
        deal = domain.new_deal(fields, pipeline, self.caller.user_id, utc_now())
        with self.store.transaction() as tx:
            stored = tx[DEALS].insert(deal)
            self.emit(tx, events.DEAL_CREATED, stored)
        return stored

    @rpc
    def get_deal(self, deal_id: str) -> dict:
        deal = self.store[DEALS].get(deal_id)
        if deal is None:
            raise NotFound(f"deal {deal_id} not found")
        return deal

    @rpc
    def list_deals(self, query: dict) -> dict:
        q = parse_list_query(query, filterable=schemas.DEAL_FILTERABLE, sortable=schemas.DEAL_SORTABLE)
        page = self.store[DEALS].find(q.filter, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}
