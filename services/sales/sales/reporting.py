"""Sales report figures from the deal rollups (pure): report queries and periods, quotas by period, the
forecast, the funnel and the leaderboard. Rollup documents in, JSON-ready answers out; money summed
exactly as Decimal in the report currency and rounded to cents only in the answer."""

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from crm_common.access import Reach
from crm_common.errors import BadRequest

from . import domain, money
from .money import ZERO

GRANULARITIES = ("month", "quarter")
GROUPINGS = ("owner", "team", "pipeline", "period")
# A report spans at most three years: the buckets read grow with the months asked for.
MAX_MONTHS = 36
# The forecast bucket of deals with no expected close date.
UNSCHEDULED = "none"
# Open deals in stages of these forecast categories count in commit, and in best case.
COMMIT_CATEGORIES = ("commit", "closed")
BEST_CASE_CATEGORIES = ("best_case",)

MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
QUARTER = re.compile(r"^([0-9]{4})-Q([1-4])$")
DAYS = Decimal("0.1")

FORECAST_PARAMS = ("period", "from", "to", "pipeline_id", "owner_id", "team_id", "group_by")
FUNNEL_PARAMS = ("period", "from", "to", "pipeline_id", "owner_id", "team_id")
LEADERBOARD_PARAMS = ("period", "from", "to", "pipeline_id", "owner_id", "team_id")


# Periods


def month_index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def month_of(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def quarter_of(month: str) -> str:
    year, number = month.split("-")
    return f"{year}-Q{(int(number) - 1) // 3 + 1}"


def quarter_months(quarter: str) -> tuple[str, str, str]:
    year, number = quarter.split("-Q")
    first = (int(number) - 1) * 3 + 1
    return tuple(f"{year}-{m:02d}" for m in range(first, first + 3))  # type: ignore[return-value]


def report_period(month: str, granularity: str) -> str:
    """The row a bucket's month falls into: the month itself, or its quarter (`2024-Q2`)."""
    return quarter_of(month) if granularity == "quarter" else month


# Queries


@dataclass(frozen=True)
class ReportQuery:
    granularity: str
    months: tuple[str, ...]  # every month of the range, oldest first
    pipeline_id: str | None = None
    owner_id: str | None = None
    team_id: str | None = None
    group_by: str = "period"

    @property
    def periods(self) -> list[str]:
        return list(dict.fromkeys(report_period(m, self.granularity) for m in self.months))


def _month_param(raw: dict, name: str) -> int | None:
    value = raw.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not MONTH.match(value):
        raise BadRequest(f"{name} must be a month written YYYY-MM")
    return month_index(value)


def _text_param(raw: dict, name: str) -> str | None:
    value = raw.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequest(f"{name} must be an id of at most 64 characters")
    return value


def parse_report_query(raw: dict | None, today: date, allowed: tuple[str, ...]) -> ReportQuery:
    """The query parameters of a report: `period` (month | quarter, default quarter), `from` / `to`
    (YYYY-MM; a quarter report widens them to whole quarters; default the current period), the
    filters `pipeline_id`, `owner_id`, `team_id` and, for the forecast, `group_by`."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise BadRequest("a report query must be an object")
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown report parameter {unknown[0]!r}; use {', '.join(allowed)}")
    granularity = raw.get("period") or "quarter"
    if granularity not in GRANULARITIES:
        raise BadRequest(f"period must be one of {', '.join(GRANULARITIES)}")
    group_by = raw.get("group_by") or "period"
    if group_by not in GROUPINGS:
        raise BadRequest(f"group_by must be one of {', '.join(GROUPINGS)}")
    first, last = _month_param(raw, "from"), _month_param(raw, "to")
    if first is None:
        first = last if last is not None else today.year * 12 + today.month - 1
    if last is None:
        last = first
    if granularity == "quarter":
        first, last = first - first % 3, last - last % 3 + 2
    if last < first:
        raise BadRequest("to must not be before from")
    if last - first + 1 > MAX_MONTHS:
        raise BadRequest(f"a report spans at most {MAX_MONTHS} months")
    return ReportQuery(
        granularity,
        tuple(month_of(i) for i in range(first, last + 1)),
        _text_param(raw, "pipeline_id"),
        _text_param(raw, "owner_id"),
        _text_param(raw, "team_id"),
        group_by,
    )


# Who is in the report


def visible_teams(teams: dict | None, reach: Reach) -> dict[str, dict]:
    """The teams with a member in the caller's reach, each with only those members."""
    shown = {}
    for team_id, team in (teams or {}).items():
        members = [m for m in team.get("member_ids") or () if reach.everything or m in reach.owner_ids]
        if members:
            shown[team_id] = {"name": team.get("name") or team_id, "member_ids": sorted(set(members))}
    return shown


def owner_scope(reach: Reach, query: ReportQuery, teams: dict[str, dict]) -> frozenset[str] | None:
    """The owners whose figures the report adds up (None: everyone), from the caller's reach and
    the `owner_id` / `team_id` filters (`teams` as from `visible_teams`). Buckets carry no sharing,
    so a report shows what the owners in reach own, never deals merely shared with the caller."""
    scope = None if reach.everything else frozenset(reach.owner_ids)
    if query.team_id is not None:
        if query.team_id not in teams:
            raise BadRequest(f"team_id {query.team_id}: no such team in your reach")
        members = frozenset(teams[query.team_id]["member_ids"])
        scope = members if scope is None else scope & members
    if query.owner_id is not None:
        scope = frozenset({query.owner_id}) if scope is None else scope & {query.owner_id}
    return scope


# Quotas


def quotas_by_owner(quotas: Iterable[dict], settings: dict) -> dict[str, dict[str, Decimal]]:
    """owner_id -> period (`YYYY-MM` or `YYYY-Qn`) -> quota in the report currency."""
    found: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for quota in quotas:
        value = money.converted(money.amount(quota["amount"]), quota["currency"], settings)
        found[quota["owner_id"]][quota["period"]] = value
    return found


def quota_for(periods: dict[str, Decimal], months: Iterable[str]) -> Decimal | None:
    """An owner's quota over some months: per quarter, its quarterly quota when every month of it is
    asked for, else the monthly quotas of the months asked for (a quarterly quota is never split).
    None when no quota applies."""
    by_quarter: dict[str, set[str]] = defaultdict(set)
    for month in months:
        by_quarter[quarter_of(month)].add(month)
    found: list[Decimal] = []
    for quarter, asked in by_quarter.items():
        if len(asked) == 3 and quarter in periods:
            found.append(periods[quarter])
        else:
            found.extend(periods[month] for month in asked if month in periods)
    return sum(found, ZERO) if found else None


def _sum_quotas(owner_quotas: dict[str, dict[str, Decimal]], owners: Iterable[str], months) -> Decimal | None:
    found = [q for owner in owners if (q := quota_for(owner_quotas.get(owner, {}), months)) is not None]
    return sum(found, ZERO) if found else None


# Output


def share(part: Decimal | int, whole: Decimal | int | None) -> str | None:
    """part / whole as money.ratio (`"0.7500"`); None when whole is zero or missing."""
    if not whole:
        return None
    return money.ratio(Decimal(part) / Decimal(whole))


def _average(total: Decimal | int, count: int, places: Decimal) -> str | None:
    if not count:
        return None
    return str((Decimal(total) / count).quantize(places, rounding=ROUND_HALF_EVEN))


def _money_or_none(value: Decimal | None) -> str | None:
    return None if value is None else money.text(value)


# Forecast


@dataclass
class _Forecast:
    pipeline: Decimal = ZERO  # open amount
    weighted: Decimal = ZERO
    commit_open: Decimal = ZERO
    best_case_open: Decimal = ZERO
    closed_won: Decimal = ZERO
    open_count: int = 0
    won_count: int = 0

    def answer(self, quota: Decimal | None) -> dict:
        commit = self.closed_won + self.commit_open
        return {
            "pipeline": money.text(self.pipeline),
            "weighted": money.text(self.weighted),
            "commit": money.text(commit),
            "best_case": money.text(commit + self.best_case_open),
            "closed_won": money.text(self.closed_won),
            "open_count": self.open_count,
            "won_count": self.won_count,
            "quota": _money_or_none(quota),
            "attainment": share(self.closed_won, quota),
        }


def stage_table(pipelines: dict[str, dict]) -> dict[tuple[str, str], dict]:
    """(pipeline_id, stage_id) -> the stage as the pipeline defines it now."""
    return {(pid, s["id"]): s for pid, p in pipelines.items() for s in p.get("stages") or ()}


def forecast_category(stage: dict) -> str:
    """The stage's forecast category; a stage kept without one falls into one by its probability."""
    category = stage.get("forecast_category")
    return category if category in domain.FORECAST_CATEGORIES else domain.forecast_category(stage["probability"])


def _group_keys(query: ReportQuery, bucket: dict, teams_of: dict[str, list[str]], period: str) -> list[str]:
    if query.group_by == "owner":
        return [bucket["owner_id"]]
    if query.group_by == "team":
        return teams_of.get(bucket["owner_id"], [])
    if query.group_by == "pipeline":
        return [bucket["pipeline_id"]]
    return [period]


def forecast(
    query: ReportQuery,
    forecast_buckets: Iterable[dict],
    outcome_buckets: Iterable[dict],
    pipelines: dict[str, dict],
    owner_quotas: dict[str, dict[str, Decimal]],
    teams: dict[str, dict],
    settings: dict,
) -> dict:
    """Per group and period: the open pipeline, weighted by each stage's win probability now, commit
    (won in the period plus open deals in commit stages) and best case (commit plus open deals in
    best-case stages), closed won, and against the quota, attainment. Open deals count in the
    period of their expected close date (those without one under `unscheduled`), won deals in the
    month they were won. The buckets must already be those of the owners in the report's scope."""
    stages = stage_table(pipelines)
    teams_of: dict[str, list[str]] = defaultdict(list)
    for team_id, team in teams.items():
        for member in team["member_ids"]:
            teams_of[member].append(team_id)
    wanted = set(query.months)
    periods = query.periods
    rows: dict[str, dict[str, _Forecast]] = defaultdict(lambda: defaultdict(_Forecast))
    totals: dict[str, _Forecast] = defaultdict(_Forecast)
    unscheduled = _Forecast()

    for bucket in forecast_buckets:
        if not bucket.get("count"):
            continue
        # Forecast buckets hold open deals only, at their stage's probability as the pipeline sets it now.
        stage = stages.get((bucket["pipeline_id"], bucket["stage_id"]), {"probability": 0})
        probability = stage.get("probability") or 0
        value = money.converted(money.amount(bucket["amount"]), bucket["currency"], settings)
        category = forecast_category(stage)
        if bucket["period"] == UNSCHEDULED:
            targets = [unscheduled]
        elif bucket["period"] in wanted:
            period = report_period(bucket["period"], query.granularity)
            groups = _group_keys(query, bucket, teams_of, period)
            targets = [totals[period], *(rows[g][period] for g in groups)]
        else:
            continue
        for figures in targets:
            figures.pipeline += value
            figures.weighted += value * probability / 100
            figures.open_count += bucket["count"]
            if category in COMMIT_CATEGORIES:
                figures.commit_open += value
            elif category in BEST_CASE_CATEGORIES:
                figures.best_case_open += value

    for bucket in outcome_buckets:
        if bucket.get("status") != "won" or not bucket.get("count") or bucket["period"] not in wanted:
            continue
        value = money.converted(money.amount(bucket["amount"]), bucket["currency"], settings)
        period = report_period(bucket["period"], query.granularity)
        for figures in [totals[period], *(rows[g][period] for g in _group_keys(query, bucket, teams_of, period))]:
            figures.closed_won += value
            figures.won_count += bucket["count"]

    months_of: dict[str, list[str]] = defaultdict(list)
    for month in query.months:
        months_of[report_period(month, query.granularity)].append(month)

    def quota(group: str | None, period: str) -> Decimal | None:
        if group is None:
            return _sum_quotas(owner_quotas, owner_quotas, months_of[period])
        if query.group_by == "owner":
            return quota_for(owner_quotas.get(group, {}), months_of[period])
        if query.group_by == "team":
            return _sum_quotas(owner_quotas, teams[group]["member_ids"], months_of[period])
        return None

    total_rows = [{"period": p, **totals[p].answer(quota(None, p))} for p in periods]
    if query.group_by == "period":
        answer_rows = total_rows
    else:
        # Owners (and teams) with a quota but nothing in the range still get their rows: attainment zero.
        groups = set(rows)
        if query.group_by == "owner":
            groups |= set(owner_quotas)
        elif query.group_by == "team":
            groups |= {t for t, team in teams.items() if any(m in owner_quotas for m in team["member_ids"])}
        key = f"{query.group_by}_id"
        answer_rows = []
        for group in sorted(groups):
            named = {key: group}
            if query.group_by == "team":
                named["name"] = teams[group]["name"]
            elif query.group_by == "pipeline":
                named["name"] = (pipelines.get(group) or {}).get("name", group)
            for period in periods:
                answer_rows.append({**named, "period": period, **rows[group][period].answer(quota(group, period))})
    return {
        **_heading(query, settings),
        "group_by": query.group_by,
        "rows": answer_rows,
        "totals": total_rows,
        "unscheduled": {
            "pipeline": money.text(unscheduled.pipeline),
            "weighted": money.text(unscheduled.weighted),
            "open_count": unscheduled.open_count,
        },
    }


# Outcomes: won and lost deals


@dataclass
class _Outcomes:
    won_amount: Decimal = ZERO
    won_count: int = 0
    lost_count: int = 0
    won_cycle_days: int = 0

    def add(self, bucket: dict, settings: dict) -> None:
        if bucket.get("status") == "won":
            self.won_amount += money.converted(money.amount(bucket["amount"]), bucket["currency"], settings)
            self.won_count += bucket["count"]
            self.won_cycle_days += bucket.get("cycle_days") or 0
        elif bucket.get("status") == "lost":
            self.lost_count += bucket["count"]

    def answer(self) -> dict:
        return {
            "won_count": self.won_count,
            "lost_count": self.lost_count,
            "won_amount": money.text(self.won_amount),
            "win_rate": share(self.won_count, self.won_count + self.lost_count),
            "average_deal_size": None if not self.won_count else money.text(self.won_amount / self.won_count),
            "average_cycle_days": _average(self.won_cycle_days, self.won_count, DAYS),
        }


def _heading(query: ReportQuery, settings: dict) -> dict:
    """What every deal report states first: its currency, granularity and range."""
    return {
        "currency": settings["report_currency"],
        "period": query.granularity,
        "from": query.months[0],
        "to": query.months[-1],
    }


# Funnel


def funnel_stages(pipeline: dict) -> list[dict]:
    """The stages a deal moves forward through, in pipeline order (domain.funnel_order)."""
    reachable = set(domain.funnel_order(pipeline))
    return [s for s in pipeline["stages"] if s["id"] in reachable]


def funnel(
    query: ReportQuery,
    funnel_buckets: Iterable[dict],
    outcome_buckets: Iterable[dict],
    pipelines: dict[str, dict],
    settings: dict,
) -> dict:
    """Per pipeline, of the deals created in the range: how many reached each stage (a deal reached
    every stage up to the furthest it got to), the conversion from each stage to the next, and how
    many are open, won, lost. Of the deals closed in the range: win rate, average won deal size and
    average sales cycle of won deals (days from creation to the win)."""
    wanted = set(query.months)
    cohorts: dict[str, dict] = defaultdict(lambda: {"furthest": defaultdict(int), "status": defaultdict(int)})
    outcomes: dict[str, _Outcomes] = defaultdict(_Outcomes)
    total_outcomes = _Outcomes()
    for bucket in funnel_buckets:
        if bucket.get("count") and bucket["period"] in wanted:
            cohort = cohorts[bucket["pipeline_id"]]
            cohort["furthest"][bucket["furthest_stage_id"]] += bucket["count"]
            cohort["status"][bucket["status"]] += bucket["count"]
    for bucket in outcome_buckets:
        if bucket.get("count") and bucket["period"] in wanted:
            outcomes[bucket["pipeline_id"]].add(bucket, settings)
            total_outcomes.add(bucket, settings)

    shown = set(cohorts) | set(outcomes) | ({query.pipeline_id} if query.pipeline_id in pipelines else set())
    answer = []
    created = 0
    for pipeline_id in sorted(shown, key=lambda p: ((pipelines.get(p) or {}).get("name", p), p)):
        pipeline = pipelines.get(pipeline_id) or {"id": pipeline_id, "name": pipeline_id, "stages": []}
        cohort = cohorts[pipeline_id]
        stages = funnel_stages(pipeline)
        position = {s["id"]: i for i, s in enumerate(stages)}
        reached = [0] * len(stages)
        for stage_id, count in cohort["furthest"].items():
            if stage_id in position:
                for i in range(position[stage_id] + 1):
                    reached[i] += count
        deals = sum(cohort["status"].values())
        created += deals
        answer.append(
            {
                "pipeline_id": pipeline_id,
                "name": pipeline.get("name", pipeline_id),
                "deals": deals,
                "open": cohort["status"]["open"],
                "won": cohort["status"]["won"],
                "lost": cohort["status"]["lost"],
                "stages": [
                    {
                        "stage_id": stage["id"],
                        "name": stage.get("name", stage["id"]),
                        "probability": stage.get("probability"),
                        "reached": reached[i],
                        "conversion_to_next": share(reached[i + 1], reached[i]) if i + 1 < len(stages) else None,
                    }
                    for i, stage in enumerate(stages)
                ],
                **outcomes[pipeline_id].answer(),
            }
        )
    return {
        **_heading(query, settings),
        "pipelines": answer,
        "totals": {"deals": created, **total_outcomes.answer()},
    }


# Leaderboard


def leaderboard(
    query: ReportQuery,
    outcome_buckets: Iterable[dict],
    owner_quotas: dict[str, dict[str, Decimal]],
    settings: dict,
) -> dict:
    """Per owner, of the deals closed in the range: won amount and count, win rate, average won deal
    size, average sales cycle, quota over the range and attainment; ranked by won amount, then won
    count (equal figures share a rank)."""
    wanted = set(query.months)
    owners: dict[str, _Outcomes] = defaultdict(_Outcomes)
    for bucket in outcome_buckets:
        if bucket.get("count") and bucket["period"] in wanted:
            owners[bucket["owner_id"]].add(bucket, settings)
    # An owner with a quota and nothing closed yet is on the board too.
    board = {owner: owners.get(owner) or _Outcomes() for owner in set(owners) | set(owner_quotas)}
    ordered = sorted(board.items(), key=lambda item: (-item[1].won_amount, -item[1].won_count, item[0]))
    rows = []
    previous, rank = None, 0
    for position, (owner, outcome) in enumerate(ordered, start=1):
        if (outcome.won_amount, outcome.won_count) != previous:
            rank, previous = position, (outcome.won_amount, outcome.won_count)
        quota = quota_for(owner_quotas.get(owner, {}), query.months)
        rows.append(
            {
                "rank": rank,
                "owner_id": owner,
                **outcome.answer(),
                "quota": _money_or_none(quota),
                "attainment": share(outcome.won_amount, quota),
            }
        )
    return {
        **_heading(query, settings),
        "data": rows,
    }
