"""The search RPC's query (what the gateway forwards from GET /search) as a SearchQuery: every
parameter checked, a bad one a BadRequest that names it."""

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crm_common.errors import BadRequest
from crm_common.listing import parse_limit
from crm_common.search_index import FACETABLE, RANGEABLE, SearchQuery

from .domain import TYPES

# Keyword fields a filter may name: the countable ones, plus the customer a record belongs to.
FILTERABLE = (*FACETABLE, "contact_id", "company_id")
DEFAULT_FACETS = ("type", "owner_id", "stage_id", "status", "value_grade", "priority")
NUMERIC_RANGES = ("amount", "value_score")
MAX_FILTER_VALUES = 100
MAX_FILTER_VALUE_LENGTH = 200  # ids, statuses, grades: far shorter; Elasticsearch refuses huge terms
# Numbers past this are no amount or score anyone stores, and SQLite's integers and JSON's
# numbers both end not far beyond it.
MAX_NUMBER = 1e15
# created_from / created_to and updated_from / updated_to: shorthands for the two timestamps' ranges.
DATE_PARAMS = {"created_at": ("created_from", "created_to"), "updated_at": ("updated_from", "updated_to")}


def _json_object(query: dict, name: str) -> dict:
    raw = query.get(name)
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise BadRequest(f"{name} must be a JSON object") from None
    if not isinstance(raw, dict):
        raise BadRequest(f"{name} must be a JSON object")
    return raw


def _types(query: dict) -> list[str]:
    raw = query.get("types") or ""
    if not isinstance(raw, str):
        raise BadRequest("types must be a comma-separated list")
    types = [t for t in raw.split(",") if t]
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise BadRequest(f"types: unknown type(s) {', '.join(unknown)}; use {', '.join(TYPES)}")
    return types


def _is_number(value: Any) -> bool:
    """A finite JSON number within ±MAX_NUMBER (not a bool, not NaN or Infinity, which Python's
    JSON reads but neither index can compare)."""
    # NaN and Infinity fail the comparison; a huge int compares exactly (no float conversion).
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= MAX_NUMBER


def _filters(query: dict) -> dict[str, list]:
    filters: dict[str, list] = {}
    for field, value in _json_object(query, "filter").items():
        if field not in FILTERABLE:
            raise BadRequest(f"filter: cannot filter on {field!r}; filterable: {', '.join(FILTERABLE)}")
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > MAX_FILTER_VALUES:
            raise BadRequest(f"filter: {field} takes 1 to {MAX_FILTER_VALUES} values")
        if any(v is not None and not isinstance(v, str) and not _is_number(v) for v in values):
            raise BadRequest(f"filter: {field} takes text or number values (null: the field is missing)")
        if any(isinstance(v, str) and len(v) > MAX_FILTER_VALUE_LENGTH for v in values):
            raise BadRequest(f"filter: {field} values are at most {MAX_FILTER_VALUE_LENGTH} characters")
        filters[field] = values
    return filters


def _instant(raw: Any, name: str, upper: bool) -> str:
    """An ISO date stays a date (an upper bound moves to the next day: the whole day is included);
    a date-time becomes UTC in the stored form (…T09:00:00.000000Z), so that the strings compare."""
    if not isinstance(raw, str):
        raise BadRequest(f"{name} must be an ISO date or date-time")
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return (day + timedelta(days=1)).isoformat() if upper else day.isoformat()
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved out of range
        raise BadRequest(f"{name} must be an ISO date or date-time") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bound(raw: Any, field: str, upper: bool) -> Any:
    if raw is None:
        return None
    if field in NUMERIC_RANGES:
        if not _is_number(raw):
            raise BadRequest(f"range: {field} bounds must be numbers (up to {MAX_NUMBER:g}) or null")
        return raw
    return _instant(raw, f"range: {field}", upper)


def _ranges(query: dict) -> dict[str, tuple[Any, Any]]:
    ranges: dict[str, tuple[Any, Any]] = {}
    for field, bounds in _json_object(query, "range").items():
        if field not in RANGEABLE:
            raise BadRequest(f"range: cannot range over {field!r}; use {', '.join(RANGEABLE)}")
        if not isinstance(bounds, list) or len(bounds) != 2 or bounds == [None, None]:
            raise BadRequest(f"range: {field} takes [from, to] (either may be null, not both)")
        ranges[field] = (_bound(bounds[0], field, False), _bound(bounds[1], field, True))
    for field, (lower_name, upper_name) in DATE_PARAMS.items():
        lower, upper = query.get(lower_name), query.get(upper_name)
        if lower in (None, "") and upper in (None, ""):
            continue
        if field in ranges:
            raise BadRequest(f"{lower_name}/{upper_name}: {field} is already bounded in range")
        ranges[field] = (
            _instant(lower, lower_name, False) if lower not in (None, "") else None,
            _instant(upper, upper_name, True) if upper not in (None, "") else None,
        )
    return ranges


def _facets(query: dict) -> tuple[str, ...]:
    raw = query.get("facets")
    if raw in (None, ""):
        return DEFAULT_FACETS
    if not isinstance(raw, str):
        raise BadRequest("facets must be a comma-separated list")
    facets = tuple(dict.fromkeys(f for f in raw.split(",") if f))
    unknown = [f for f in facets if f not in FACETABLE]
    if unknown:
        raise BadRequest(f"facets: cannot count {', '.join(unknown)}; use {', '.join(FACETABLE)}")
    return facets


def encode_cursor(now: str, after: str) -> str:
    """The service's cursor: the adapter's keyset plus the first page's `now`, so that every page
    scores recency against the same moment and the keyset stays comparable."""
    return base64.urlsafe_b64encode(json.dumps([now, after]).encode()).decode().rstrip("=")


def _cursor(query: dict) -> tuple[str | None, str | None]:
    raw = query.get("cursor")
    if raw in (None, ""):
        return None, None
    try:
        now, after = json.loads(base64.urlsafe_b64decode((raw + "=" * (-len(raw) % 4)).encode()))
    except (ValueError, TypeError, AttributeError):
        raise BadRequest("cursor: invalid cursor") from None
    if not isinstance(now, str) or not isinstance(after, str):
        raise BadRequest("cursor: invalid cursor")
    try:
        _instant(now, "cursor", False)  # a moment both indexes can score recency against
    except BadRequest:
        raise BadRequest("cursor: invalid cursor") from None
    return now, after


def search_query(query: Any, access: list[str] | None, now: str) -> SearchQuery:
    """`query`: {q, types, limit, cursor, filter, range, created_from, created_to, updated_from,
    updated_to, facets}. `q` may be empty only when a filter or a range narrows the browse."""
    if not isinstance(query, dict):
        raise BadRequest("the search query must be an object")
    text = query.get("q")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise BadRequest("q must be text")
    types = _types(query)
    filters = _filters(query)
    ranges = _ranges(query)
    if not text.strip() and not filters and not ranges:
        raise BadRequest("q is required unless a filter or a range is given")
    if "type" in filters:  # the doc's own type, not one of its fields: it narrows `types`
        wanted = filters.pop("type")
        unknown = [t for t in wanted if t not in TYPES]
        if unknown:
            raise BadRequest(f"filter: unknown type(s) {', '.join(map(str, unknown))}; use {', '.join(TYPES)}")
        types = [t for t in types if t in wanted] if types else list(dict.fromkeys(wanted))
        if not types:
            raise BadRequest("filter: type and types share no type")
    cursor_now, after = _cursor(query)
    return SearchQuery(
        text.strip(),
        types or None,
        filters,
        ranges,
        _facets(query),
        parse_limit(query.get("limit")),
        after,
        access,
        cursor_now or now,
    )
