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


def _check(value: Any, spec: Field) -> str | None:
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
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else "must be a number"
    if kind in ("emails", "phones"):
        if not isinstance(value, list):
            return f"must be a list of {kind}"
        if len(value) > spec.max_items:
            return f"must hold at most {spec.max_items} items"
        item = Field(kind[:-1], max_length=spec.max_length, nullable=False)
        return next((f"item {i + 1} {p}" for i, v in enumerate(value) if (p := _check(v, item))), None)
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
        for key, item in value.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", key):
                return f"has an invalid key {key!r}"
            if not isinstance(item, (str, int, float, bool, type(None), list)) or (
                isinstance(item, list) and not all(isinstance(i, (str, int, float, bool)) for i in item)
            ):
                return f"value of {key!r} must be a scalar or a list of scalars"
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
            problem = _check(data[name], spec)
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
