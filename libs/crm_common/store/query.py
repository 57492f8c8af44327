"""The store-neutral query grammar: filter validation, keyset pagination and cursors.

Filter grammar (a subset of MongoDB's, the same for every adapter):
  {"field": value}                      equality; value None matches null or missing
  {"field": {"$op": value, ...}}        $eq $ne $gt $gte $lt $lte $in $nin $exists $contains $containsAny
  {"$and": [f, ...]}, {"$or": [f, ...]}, {"$not": f}
Fields are dotted paths of identifiers; values are JSON scalars (lists for $in / $nin / $containsAny).
$in / $nin compare a scalar field with a list (on an array field the adapters disagree: do not).
$contains means "array holds the element" for arrays and "case-insensitive substring" for strings.
$containsAny means "array holds at least one of these (non-null) elements", exactly; a field that
is not an array never matches it, and neither does an empty list.
"""

import base64
import json
import re
from typing import Any

from ..errors import BadRequest

FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
OPERATORS = COMPARISONS + ("$in", "$nin", "$exists", "$contains", "$containsAny")
SCALARS = (str, int, float, bool, type(None))


def check_field(name: str) -> str:
    if not isinstance(name, str) or not FIELD_PATH.match(name):
        raise BadRequest(f"invalid field name {name!r}")
    return name


def check_filter(filter: Any) -> dict:
    """Validate a filter tree; raise BadRequest naming the first problem found."""
    if not isinstance(filter, dict):
        raise BadRequest("a filter must be an object")
    for key, value in filter.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise BadRequest(f"{key} takes a non-empty list of filters")
            for sub in value:
                check_filter(sub)
        elif key == "$not":
            check_filter(value)
        elif key.startswith("$"):
            raise BadRequest(f"unknown filter operator {key!r}")
        else:
            check_field(key)
            if isinstance(value, dict):
                _check_operators(key, value)
            elif not isinstance(value, SCALARS):
                raise BadRequest(f"value of {key!r} must be a scalar")
    return filter


def _check_operators(field: str, ops: dict) -> None:
    if not ops:
        raise BadRequest(f"empty operator object for {field!r}")
    for op, value in ops.items():
        if op not in OPERATORS:
            raise BadRequest(f"unknown operator {op!r} on {field!r}")
        if op in ("$in", "$nin"):
            if not isinstance(value, list) or not all(isinstance(v, SCALARS) for v in value):
                raise BadRequest(f"{op} on {field!r} takes a list of scalars")
        elif op == "$containsAny":
            if not isinstance(value, list) or not all(isinstance(v, SCALARS) and v is not None for v in value):
                raise BadRequest(f"$containsAny on {field!r} takes a list of non-null scalars")
        elif op == "$exists":
            if not isinstance(value, bool):
                raise BadRequest(f"$exists on {field!r} takes true or false")
        elif op == "$contains":
            if isinstance(value, (dict, list)) or value is None:
                raise BadRequest(f"$contains on {field!r} takes a scalar")
        elif not isinstance(value, SCALARS):
            raise BadRequest(f"{op} on {field!r} takes a scalar")


def normalise_sort(sort: list[tuple[str, int]] | None) -> list[tuple[str, int]]:
    """Append `id` as the final tie-break so that keyset pagination is total."""
    fields = [(check_field(f), 1 if d >= 0 else -1) for f, d in (sort or []) if f != "id"]
    id_direction = next((d for f, d in (sort or []) if f == "id"), fields[-1][1] if fields else 1)
    return fields + [("id", 1 if id_direction >= 0 else -1)]


def encode_cursor(doc: dict, sort: list[tuple[str, int]]) -> str:
    values = [_lookup(doc, f) for f, _ in sort]
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: list[tuple[str, int]]) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise BadRequest("invalid cursor") from None
    if not isinstance(values, list) or len(values) != len(sort) or not all(isinstance(v, SCALARS) for v in values):
        raise BadRequest("invalid cursor")
    return values


def after_cursor(sort: list[tuple[str, int]], values: list) -> dict:
    """The filter selecting rows strictly after `values` in `sort` order (nulls sort first)."""
    alternatives = []
    for i, (field, direction) in enumerate(sort):
        ties = [_equal(f, v) for (f, _), v in zip(sort[:i], values[:i], strict=True)]
        value = values[i]
        if direction > 0:
            beyond = {field: {"$ne": None}} if value is None else {field: {"$gt": value}}
        else:
            beyond = None if value is None else {"$or": [{field: {"$lt": value}}, {field: None}]}
        if beyond is not None:
            alternatives.append({"$and": ties + [beyond]} if ties else beyond)
    return {"$or": alternatives} if alternatives else {"id": {"$in": []}}


def _equal(field: str, value: Any) -> dict:
    return {field: None} if value is None else {field: {"$eq": value}}


def _lookup(doc: dict, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value if isinstance(value, SCALARS) else None
