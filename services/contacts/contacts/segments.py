"""Segments: saved filters over contacts or companies (dynamic lists), their members and counts."""

import json

from nameko.rpc import rpc

from crm_common.access import ADMIN, CUSTOMER_WRITERS, SYSTEM, and_filters, reach_of, require_role
from crm_common.caller import Caller
from crm_common.errors import BadRequest, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id, utc_now
from crm_common.listing import api_filter_to_store, parse_list_query
from crm_common.schema import Field, validate
from crm_common.store.query import check_filter

from . import schemas
from .customers import SUBJECTS
from .store import SEGMENTS

ENTITIES = ("contact", "company")
# The filter is checked with the entity's own list grammar (custom_fields.*, value_grade, churn_risk...).
FILTERABLE = {"contact": schemas.CONTACT_FILTERABLE, "company": schemas.COMPANY_FILTERABLE}
SORTABLE = {"contact": schemas.CONTACT_SORTABLE, "company": schemas.COMPANY_SORTABLE}
MAX_FILTER_CHARS = 10_000
SEGMENT_FIELDS = {
    "name": Field("text", max_length=100, required=True),
    "description": Field("text", max_length=500),
    "entity": Field("choice", choices=ENTITIES, required=True, nullable=False),
    "shared": Field("bool", nullable=False),
}
SEGMENT_SERVER_OWNED = ("id", "version", "owner_id", "created_by", "created_at", "updated_at", "member_count")
SEGMENT_FILTERABLE = ("name", "entity", "owner_id", "shared", "created_at")
SEGMENT_SORTABLE = ("created_at", "updated_at", "name")


def check_segment_filter(entity: str, raw) -> dict:
    """The segment's filter in the API grammar, checked against the entity's filterable fields;
    ValidationFailed on the `filter` field when it is not one."""
    if not isinstance(raw, dict) or not raw:
        raise ValidationFailed("invalid filter", [{"field": "filter", "message": "must be a non-empty filter object"}])
    if len(json.dumps(raw, separators=(",", ":"))) > MAX_FILTER_CHARS:
        raise ValidationFailed(
            "invalid filter", [{"field": "filter", "message": f"must be at most {MAX_FILTER_CHARS} characters as JSON"}]
        )
    try:
        # Both grammars: the API's (fields, operators) and the store's (what each operator takes),
        # so a segment is never saved with a filter its members query would refuse.
        check_filter(api_filter_to_store(raw, FILTERABLE[entity]))
    except BadRequest as exc:
        raise ValidationFailed("invalid filter", [{"field": "filter", "message": exc.detail}]) from None
    return raw


def segment_visible(caller: Caller, segment: dict) -> bool:
    """A segment is seen by its owner, and by everyone once it is shared; admins see them all."""
    if set(caller.roles) & {ADMIN, SYSTEM}:
        return True
    return segment.get("owner_id") == caller.user_id or bool(segment.get("shared"))


def segment_filter(caller: Caller) -> dict | None:
    if set(caller.roles) & {ADMIN, SYSTEM}:
        return None
    return {"$or": [{"owner_id": caller.user_id}, {"shared": True}]}


class SegmentsRpc:
    """RPC entrypoints for segments (a mixin of ContactsService). Members are always cut down to
    the caller's reach: a shared segment shows each person only the customers they may see."""

    def _segment(self, source, segment_id: str) -> dict:
        segment = source[SEGMENTS].get(segment_id)
        if segment is None or not segment_visible(self.caller, segment):
            raise NotFound(f"segment {segment_id} not found")
        return segment

    def _segment_members_filter(self, segment: dict) -> dict | None:
        entity = segment["entity"]
        stored = api_filter_to_store(segment["filter"], FILTERABLE[entity])
        return and_filters(self._reach_filter(reach_of(self.caller), entity), stored)

    def _with_count(self, segment: dict) -> dict:
        flt = self._segment_members_filter(segment)
        return {**segment, "member_count": self.store[SUBJECTS[segment["entity"]]].count(flt)}

    def _changeable_segment(self, tx, segment_id: str, expected_version: int | None) -> dict:
        current = self._segment(tx, segment_id)
        if current["owner_id"] != self.caller.user_id and not set(self.caller.roles) & {ADMIN, SYSTEM}:
            raise Forbidden("only the segment's owner or an admin may change it")
        if expected_version is not None and current["version"] != expected_version:
            raise PreconditionFailed(f"segment {segment_id} is at version {current['version']}")
        return current

    @rpc
    def create_segment(self, data: dict) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "create segments")
        if not isinstance(data, dict):
            raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
        fields = validate(
            {k: v for k, v in data.items() if k != "filter"}, SEGMENT_FIELDS, server_owned=SEGMENT_SERVER_OWNED
        )
        if "filter" not in data:
            raise ValidationFailed("1 invalid field(s)", [{"field": "filter", "message": "is required"}])
        now = utc_now()
        segment = {
            "id": new_id(),
            "description": None,
            "shared": False,
            **fields,
            "filter": check_segment_filter(fields["entity"], data["filter"]),
            "owner_id": self.caller.user_id,
            "created_by": self.caller.user_id,
            "created_at": now,
            "updated_at": now,
        }
        with self.store.transaction() as tx:
            stored = tx[SEGMENTS].insert(segment)
        return self._with_count(stored)

    @rpc
    def get_segment(self, segment_id: str) -> dict:
        """The segment with `member_count`: how many of its members the caller may see, now."""
        return self._with_count(self._segment(self.store, segment_id))

    @rpc
    def list_segments(self, query: dict) -> dict:
        q = parse_list_query(query, filterable=SEGMENT_FILTERABLE, sortable=SEGMENT_SORTABLE, booleans=("shared",))
        page = self.store[SEGMENTS].find(and_filters(segment_filter(self.caller), q.filter), q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def update_segment(self, segment_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, CUSTOMER_WRITERS, "change segments")
        if not isinstance(data, dict):
            raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
        fields = validate(
            {k: v for k, v in data.items() if k != "filter"},
            SEGMENT_FIELDS,
            partial=True,
            server_owned=SEGMENT_SERVER_OWNED,
        )
        with self.store.transaction() as tx:
            current = self._changeable_segment(tx, segment_id, expected_version)
            if "entity" in fields and fields["entity"] != current["entity"]:
                # Its filter names the old entity's fields; a new list is a new segment.
                raise ValidationFailed(
                    "1 invalid field(s)", [{"field": "entity", "message": "cannot change; create another segment"}]
                )
            if "filter" in data:
                fields["filter"] = check_segment_filter(current["entity"], data["filter"])
            changed = {k: v for k, v in fields.items() if current.get(k) != v}
            if not changed:
                stored = current
            else:
                stored = tx[SEGMENTS].replace({**current, **changed, "updated_at": utc_now()}, current["version"])
        return self._with_count(stored)

    @rpc
    def delete_segment(self, segment_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, CUSTOMER_WRITERS, "delete segments")
        with self.store.transaction() as tx:
            current = self._changeable_segment(tx, segment_id, expected_version)
            tx[SEGMENTS].delete(segment_id, current["version"])

    @rpc
    def list_segment_members(self, segment_id: str, query: dict) -> dict:
        """The segment's records in the caller's reach, paged and filterable like their own list
        (campaigns call this as `system`, which reaches every record)."""
        segment = self._segment(self.store, segment_id)
        entity = segment["entity"]
        q = parse_list_query(query, filterable=FILTERABLE[entity], sortable=SORTABLE[entity])
        flt = and_filters(self._segment_members_filter(segment), q.filter)
        page = self.store[SUBJECTS[entity]].find(flt, q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def count_segment_members(self, segment_id: str) -> dict:
        segment = self._segment(self.store, segment_id)
        return {
            "segment_id": segment_id,
            "entity": segment["entity"],
            "count": self._with_count(segment)["member_count"],
        }
