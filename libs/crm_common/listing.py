"""List queries as the API states them (limit, cursor, sort, equality params, composable filter),
turned into the store grammar with the owning service's allowed fields."""

from dataclasses import dataclass
from typing import Any

from .errors import BadRequest
from .store.query import SCALARS, check_field

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
API_OPERATORS = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "exists")
# Bounds on a filter's shape: deeper or larger trees are refused before they reach a store (SQLite's
# parser and Python's recursion both give out on a few hundred levels).
MAX_FILTER_DEPTH = 8
MAX_FILTER_CLAUSES = 100


@dataclass
class ListQuery:
    filter: dict | None
    sort: list[tuple[str, int]]
    limit: int
    cursor: str | None


def parse_limit(raw: Any) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise BadRequest("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def parse_sort(raw: Any, allowed: tuple[str, ...], default: str) -> list[tuple[str, int]]:
    spec = raw or default
    if not isinstance(spec, str):
        raise BadRequest("sort must be a comma-separated list of fields")
    sort = []
    for part in spec.split(","):
        part = part.strip()
        field = part.lstrip("-+")
        if field not in allowed:
            raise BadRequest(f"cannot sort by {field!r}; sortable: {', '.join(allowed)}")
        sort.append((field, -1 if part.startswith("-") else 1))
    return sort


def api_filter_to_store(node: Any, allowed: tuple[str, ...]) -> dict:
    """{"and": [...]} / {"or": [...]} / {"not": f} / {"field": value | {"op": value}} -> store grammar.
    Fields are checked against `allowed` (a prefix like "custom_fields." admits any key below it);
    at most MAX_FILTER_DEPTH levels and MAX_FILTER_CLAUSES field clauses."""
    clauses = [0]
    converted = _to_store(node, allowed, 1, clauses)
    if clauses[0] > MAX_FILTER_CLAUSES:
        raise BadRequest(f"a filter may hold at most {MAX_FILTER_CLAUSES} field conditions")
    return converted


def _to_store(node: Any, allowed: tuple[str, ...], depth: int, clauses: list[int]) -> dict:
    if depth > MAX_FILTER_DEPTH:
        raise BadRequest(f"a filter may nest at most {MAX_FILTER_DEPTH} levels")
    if not isinstance(node, dict) or not node:
        raise BadRequest("a filter must be a non-empty object")
    out: dict = {}
    for key, value in node.items():
        if key in ("and", "or"):
            if not isinstance(value, list) or not value:
                raise BadRequest(f"'{key}' takes a non-empty list of filters")
            out["$" + key] = [_to_store(sub, allowed, depth + 1, clauses) for sub in value]
        elif key == "not":
            out["$not"] = _to_store(value, allowed, depth + 1, clauses)
        else:
            clauses[0] += 1
            if clauses[0] > MAX_FILTER_CLAUSES:
                raise BadRequest(f"a filter may hold at most {MAX_FILTER_CLAUSES} field conditions")
            check_field(key)
            if key not in allowed and not any(a.endswith(".") and key.startswith(a) for a in allowed):
                raise BadRequest(f"cannot filter on {key!r}")
            if isinstance(value, dict):
                if not value:
                    raise BadRequest(f"empty operator object for {key!r}")
                ops = {}
                for op, arg in value.items():
                    if op not in API_OPERATORS:
                        raise BadRequest(f"unknown operator {op!r}; use one of {', '.join(API_OPERATORS)}")
                    ops["$" + op] = arg
                out[key] = ops
            elif isinstance(value, SCALARS):
                out[key] = value
            else:
                raise BadRequest(f"value of {key!r} must be a scalar or an operator object")
    return out


BOOLEAN_PARAMS = {"true": True, "false": False}


def parse_list_query(
    raw: dict,
    *,
    filterable: tuple[str, ...],
    sortable: tuple[str, ...],
    default_sort: str = "-created_at",
    booleans: tuple[str, ...] = (),
) -> ListQuery:
    """`raw` is what the gateway forwards: {"limit", "cursor", "sort", "filter", "where": {field: value}}.
    Equality parameters arrive as text; those named in `booleans` must read true or false."""
    if not isinstance(raw, dict):
        raise BadRequest("list query must be an object")
    where = raw.get("where") or {}
    if not isinstance(where, dict):
        raise BadRequest("where must be an object of equality parameters")
    clauses = []
    for field, value in where.items():
        if field in booleans:
            if not isinstance(value, str) or value not in BOOLEAN_PARAMS:
                raise BadRequest(f"{field} must be true or false")
            value = BOOLEAN_PARAMS[value]
        clauses.append(api_filter_to_store({field: value}, filterable))
    if raw.get("filter") is not None:
        clauses.append(api_filter_to_store(raw["filter"], filterable))
    combined = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
    cursor = raw.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise BadRequest("cursor must be a string")
    return ListQuery(
        combined, parse_sort(raw.get("sort"), sortable, default_sort), parse_limit(raw.get("limit")), cursor or None
    )
