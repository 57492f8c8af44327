"""Input validation at a service's edge: typed fields, unknown and server-owned fields refused."""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .errors import ValidationFailed

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()\-.]{3,30}$")
DECIMAL = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,6})?$")  # no exponent, sign, spaces or underscores
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")  # Python also reads 20240101 and 2024-W01-1: not stored as sent
# An `object` field (preferences, conditions): small, flat, storable by every adapter.
MAX_OBJECT_KEYS, MAX_OBJECT_TEXT, MAX_OBJECT_LIST = 50, 1000, 50
INT64 = 2**63  # MongoDB stores integers in 8 bytes at most


def number_problem(value: Any, integer: bool = False) -> str | None:
    """A JSON number every store keeps as sent: no bool, NaN or infinity, integers within 64 bits."""
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return "must be an integer" if integer else "must be a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, int) and not -INT64 <= value < INT64:
        return "must fit in 64 bits"
    return None


def _object_value_problem(key: str, item: Any, in_list: bool = False) -> str | None:
    """An `object` field's value: a scalar, or a short list of non-null scalars."""
    if isinstance(item, list) and not in_list:
        if len(item) > MAX_OBJECT_LIST:
            return f"value of {key!r} must hold at most {MAX_OBJECT_LIST} items"
        return next((p for i in item if (p := _object_value_problem(key, i, in_list=True))), None)
    if isinstance(item, bool) or (item is None and not in_list):
        return None
    if isinstance(item, str):
        return f"value of {key!r} must be at most {MAX_OBJECT_TEXT} characters" if len(item) > MAX_OBJECT_TEXT else None
    if isinstance(item, (int, float)):
        problem = number_problem(item)
        return f"value of {key!r} {problem}" if problem else None
    return f"value of {key!r} must be a scalar or a list of scalars"


@dataclass(frozen=True)
class Field:
    # text, email, phone, int, number, decimal, bool, date, datetime, choice, choices, tags, ids, id,
    # object (scalars by identifier), emails, phones (lists of them), records (objects of `fields`)
    kind: str
    required: bool = False
    max_length: int = 200
    choices: tuple[str, ...] = ()
    nullable: bool = True
    max_items: int = 50
    fields: dict = field(default_factory=dict)  # the fields of each item of a `records` list


def _text(value: Any, spec: Field) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > spec.max_length:
        return f"must be at most {spec.max_length} characters"
    if spec.required and not value.strip():
        return "must not be blank"
    return None


def field_problem(value: Any, spec: Field) -> str | None:
    """What is wrong with `value` for a field of this spec, or None."""
    if value is None:
        return None if spec.nullable and not spec.required else "must not be null"
    kind = spec.kind
    if kind in ("text", "id"):
        return _text(value, spec)
    if kind == "email":
        return _text(value, spec) or (None if EMAIL.match(value) else "must be an email address")
    if kind == "phone":
        return _text(value, spec) or (None if PHONE.match(value) else "must be a phone number")
    if kind == "choice":
        return None if value in spec.choices else f"must be one of {', '.join(spec.choices)}"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind in ("int", "number"):
        return number_problem(value, integer=kind == "int")
    if kind in ("emails", "phones"):
        if not isinstance(value, list):
            return f"must be a list of {kind}"
        if len(value) > spec.max_items:
            return f"must hold at most {spec.max_items} items"
        item = Field(kind[:-1], max_length=spec.max_length, nullable=False)
        return next((f"item {i + 1} {p}" for i, v in enumerate(value) if (p := field_problem(v, item))), None)
    if kind == "records":
        if not isinstance(value, list):
            return "must be a list of objects"
        if len(value) > spec.max_items:
            return f"must hold at most {spec.max_items} items"
        for i, item in enumerate(value):
            try:
                validate(item, spec.fields)
            except ValidationFailed as exc:
                first = exc.errors[0]
                return f"item {i + 1}: {first['field']} {first['message']}".replace(" : ", ": ")
        return None
    if kind == "decimal":
        if not isinstance(value, str):
            return 'must be a decimal string such as "1234.50" (never a float)'
        if not DECIMAL.match(value):
            return 'must be a plain decimal string such as "1234.50" (digits, one optional point)'
        return None
    if kind in ("date", "datetime"):
        if not isinstance(value, str):
            return f"must be an ISO 8601 {kind} string"
        if kind == "date" and not ISO_DATE.match(value):
            return "must be an ISO 8601 date (YYYY-MM-DD)"
        try:
            (date.fromisoformat if kind == "date" else datetime.fromisoformat)(value.replace("Z", "+00:00"))
        except ValueError:
            return f"must be an ISO 8601 {kind}"
        return None
    if kind == "tags":
        if not isinstance(value, list) or not all(isinstance(t, str) and 0 < len(t) <= 50 for t in value):
            return "must be a list of short strings"
        return None if len(value) <= 50 else "must hold at most 50 tags"
    if kind == "ids":
        if not isinstance(value, list) or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in value):
            return "must be a list of ids"
        return None if len(value) <= 500 else "must hold at most 500 ids"
    if kind == "choices":
        if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
            return f"must be a list of {', '.join(spec.choices)}"
        unknown = [i for i in value if i not in spec.choices]
        return f"must only hold {', '.join(spec.choices)}" if unknown else None
    if kind == "object":
        if not isinstance(value, dict):
            return "must be an object"
        if len(value) > MAX_OBJECT_KEYS:
            return f"must hold at most {MAX_OBJECT_KEYS} keys"
        for key, item in value.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", key):
                return f"has an invalid key {key!r}"
            problem = _object_value_problem(key, item)
            if problem:
                return problem
        return None
    raise AssertionError(kind)


def validate(data: Any, fields: dict[str, Field], *, partial: bool = False, server_owned: tuple[str, ...] = ()) -> dict:
    """Return the accepted fields, or raise ValidationFailed listing every problem at once."""
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object", [{"field": "", "message": "must be an object"}])
    errors = []
    for name in data:
        if name in server_owned:
            errors.append({"field": name, "message": "is set by the server and cannot be written"})
        elif name not in fields:
            errors.append({"field": name, "message": "is not a known field"})
    for name, spec in fields.items():
        if name in data:
            problem = field_problem(data[name], spec)
            if problem:
                errors.append({"field": name, "message": problem})
        elif spec.required and not partial:
            errors.append({"field": name, "message": "is required"})
    if errors:
        raise ValidationFailed(f"{len(errors)} invalid field(s)", errors)
    return {name: data[name] for name in fields if name in data}


def check_custom(check: Callable[[], str | None], field: str) -> None:
    problem = check()
    if problem:
        raise ValidationFailed(problem, [{"field": field, "message": problem}])
