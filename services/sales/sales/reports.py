"""Sales reports and quotas: quotas per rep and period, and the forecast, funnel and leaderboard,
read from the deal rollups only, never from the deals (a mixin of SalesService)."""

from datetime import UTC, datetime
from decimal import Decimal

from nameko.rpc import rpc

from crm_common.access import (
    ADMIN,
    MANAGER,
    SALES_REP,
    SYSTEM,
    VIEWER,
    and_filters,
    owner_filter,
    reach_of,
    require_role,
)
from crm_common.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from crm_common.ids import new_id, utc_now
from crm_common.listing import parse_list_query
from crm_common.schema import check_custom, validate

from . import reporting, schemas
from .store import DEAL_ROLLUPS, PIPELINES, QUOTAS

# Who reads reports and quotas (admins too): support agents have no sales figures to see.
REPORT_READERS = (MANAGER, SALES_REP, VIEWER)
# Who sets quotas besides admins: managers, for the members of the teams they manage.
QUOTA_WRITERS = (MANAGER,)
# Rollup buckets come in pages this large: a quarter of a large installation's is a few thousand.
ROLLUP_PAGE = 5000


def period_problem(period: str) -> str | None:
    if reporting.MONTH.match(period) or reporting.QUARTER.match(period):
        return None
    return "must be a month (YYYY-MM) or a quarter (YYYY-Qn)"


class ReportsRpc:
    """RPC entrypoints of quotas and the sales reports."""

    # Quotas

    def _visible_quota(self, source, quota_id: str) -> dict:
        """The quota, or NotFound, the same for a missing id and one whose owner is out of reach."""
        quota = source[QUOTAS].get(quota_id)
        if quota is None or not reach_of(self.caller).sees_owner(quota["owner_id"], (), poolable=False):
            raise NotFound(f"quota {quota_id} not found")
        return quota

    def _check_quota_owner(self, owner_id: str) -> None:
        if not set(self.caller.roles) & {ADMIN, SYSTEM} and owner_id not in self.caller.managed_user_ids:
            raise Forbidden("you may set quotas only for the members of the teams you manage")

    @rpc
    def create_quota(self, data: dict) -> dict:
        require_role(self.caller, QUOTA_WRITERS, "set quotas")
        fields = validate(data, schemas.QUOTA_FIELDS, server_owned=schemas.QUOTA_SERVER_OWNED)
        check_custom(lambda: period_problem(fields["period"]), "period")
        self._check_quota_owner(fields["owner_id"])
        now = utc_now()
        quota = {"id": new_id(), **fields, "created_by": self.caller.user_id, "created_at": now, "updated_at": now}
        with self.store.transaction() as tx:
            # The unique index on (owner_id, period) settles two concurrent creates; this names the match.
            taken = tx[QUOTAS].find({"owner_id": quota["owner_id"], "period": quota["period"]}, limit=1).items
            if taken:
                raise Conflict(f"{quota['owner_id']} already has a quota for {quota['period']}", taken)
            return tx[QUOTAS].insert(quota)

    @rpc
    def list_quotas(self, query: dict) -> dict:
        require_role(self.caller, REPORT_READERS, "read quotas")
        q = parse_list_query(
            query, filterable=schemas.QUOTA_FILTERABLE, sortable=schemas.QUOTA_SORTABLE, default_sort="-period"
        )
        reach = owner_filter(reach_of(self.caller), shared_field=None, pool=False)
        page = self.store[QUOTAS].find(and_filters(reach, q.filter), q.sort, q.limit, q.cursor)
        return {"data": page.items, "next_cursor": page.next_cursor}

    @rpc
    def get_quota(self, quota_id: str) -> dict:
        require_role(self.caller, REPORT_READERS, "read quotas")
        return self._visible_quota(self.store, quota_id)

    @rpc
    def update_quota(self, quota_id: str, data: dict, expected_version: int | None = None) -> dict:
        require_role(self.caller, QUOTA_WRITERS, "change quotas")
        held = data if isinstance(data, dict) else {}
        fixed = [{"field": n, "message": "is fixed once set"} for n in ("owner_id", "period") if n in held]
        if fixed:
            raise ValidationFailed("a quota's owner and period are fixed; delete it and set another", fixed)
        changes = validate(data, schemas.QUOTA_UPDATE_FIELDS, partial=True, server_owned=schemas.QUOTA_SERVER_OWNED)
        with self.store.transaction() as tx:
            current = self._visible_quota(tx, quota_id)
            self._check_quota_owner(current["owner_id"])
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"quota {quota_id} is at version {current['version']}")
            if all(current.get(name) == value for name, value in changes.items()):
                return current
            return tx[QUOTAS].replace({**current, **changes, "updated_at": utc_now()}, current["version"])

    @rpc
    def delete_quota(self, quota_id: str, expected_version: int | None = None) -> None:
        require_role(self.caller, QUOTA_WRITERS, "delete quotas")
        with self.store.transaction() as tx:
            current = self._visible_quota(tx, quota_id)
            self._check_quota_owner(current["owner_id"])
            if expected_version is not None and current["version"] != expected_version:
                raise PreconditionFailed(f"quota {quota_id} is at version {current['version']}")
            tx[QUOTAS].delete(quota_id, current["version"])

    # Reports

    def _report_query(
        self, query: dict, teams: dict | None, allowed: tuple[str, ...]
    ) -> tuple[reporting.ReportQuery, dict, frozenset[str] | None]:
        """The parsed query, the teams in the caller's reach and the owners the report adds up."""
        require_role(self.caller, REPORT_READERS, "read sales reports")
        parsed = reporting.parse_report_query(query, datetime.now(UTC).date(), allowed)
        reach = reach_of(self.caller)
        shown = reporting.visible_teams(teams if isinstance(teams, dict) else {}, reach)
        return parsed, shown, reporting.owner_scope(reach, parsed, shown)

    def _rollups(self, kind: str, periods: list[str], scope: frozenset[str] | None, pipeline_id: str | None):
        """The buckets of one kind for some months (index kind, period), of the owners in scope."""
        if scope is not None and not scope:
            return []
        flt: dict = {"kind": kind, "period": {"$in": periods}}
        if scope is not None:
            flt["owner_id"] = {"$in": sorted(scope)}
        if pipeline_id is not None:
            flt["pipeline_id"] = pipeline_id
        return list(self.store[DEAL_ROLLUPS].iterate(flt, [("kind", 1), ("period", 1)], ROLLUP_PAGE))

    def _owner_quotas(
        self, query: reporting.ReportQuery, scope: frozenset[str] | None, settings: dict
    ) -> dict[str, dict[str, Decimal]]:
        if scope is not None and not scope:
            return {}
        periods = [*query.months, *dict.fromkeys(reporting.quarter_of(m) for m in query.months)]
        flt: dict = {"period": {"$in": periods}}
        if scope is not None:
            flt["owner_id"] = {"$in": sorted(scope)}
        return reporting.quotas_by_owner(self.store[QUOTAS].iterate(flt, [("period", 1)]), settings)

    def _all_pipelines(self) -> dict[str, dict]:
        return {p["id"]: p for p in self.store[PIPELINES].iterate(None, [("name", 1)])}

    @rpc
    def forecast_report(self, query: dict, teams: dict | None = None) -> dict:
        parsed, shown, scope = self._report_query(query, teams, reporting.FORECAST_PARAMS)
        settings = self._settings()
        return reporting.forecast(
            parsed,
            self._rollups("forecast", [*parsed.months, reporting.UNSCHEDULED], scope, parsed.pipeline_id),
            self._rollups("outcome", list(parsed.months), scope, parsed.pipeline_id),
            self._all_pipelines(),
            self._owner_quotas(parsed, scope, settings),
            shown,
            settings,
        )

    @rpc
    def funnel_report(self, query: dict, teams: dict | None = None) -> dict:
        parsed, _, scope = self._report_query(query, teams, reporting.FUNNEL_PARAMS)
        return reporting.funnel(
            parsed,
            self._rollups("funnel", list(parsed.months), scope, parsed.pipeline_id),
            self._rollups("outcome", list(parsed.months), scope, parsed.pipeline_id),
            self._all_pipelines(),
            self._settings(),
        )

    @rpc
    def leaderboard_report(self, query: dict, teams: dict | None = None) -> dict:
        parsed, _, scope = self._report_query(query, teams, reporting.LEADERBOARD_PARAMS)
        settings = self._settings()
        return reporting.leaderboard(
            parsed,
            self._rollups("outcome", list(parsed.months), scope, parsed.pipeline_id),
            self._owner_quotas(parsed, scope, settings),
            settings,
        )
