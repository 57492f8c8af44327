"""The event envelope every service publishes, and its validation on the consuming side."""

from dataclasses import dataclass
from typing import Any

from .errors import ValidationFailed
from .ids import new_id, utc_now

SCHEMA_VERSION = 1
ENVELOPE_FIELDS = (
    "event_id",
    "event_type",
    "source",
    "occurred_at",
    "schema_version",
    "correlation_id",
    "actor",
    "payload",
)


@dataclass(frozen=True)
class Event:
    event_id: str
    event_type: str
    source: str
    occurred_at: str
    schema_version: int
    correlation_id: str | None
    actor: str | None
    payload: dict

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in ENVELOPE_FIELDS}


def new_event(
    event_type: str,
    source: str,
    payload: dict,
    *,
    actor: str | None = None,
    correlation_id: str | None = None,
    schema_version: int = SCHEMA_VERSION,
) -> Event:
    return Event(new_id(), event_type, source, utc_now(), schema_version, correlation_id, actor, payload)


def parse_event(body: Any, accepted_versions: tuple[int, ...] = (SCHEMA_VERSION, SCHEMA_VERSION - 1)) -> Event:
    """Accept schema_version n and n-1; anything else is a poison message for the caller to park."""
    if not isinstance(body, dict):
        raise ValidationFailed("event body is not an object")
    missing = [name for name in ENVELOPE_FIELDS if name not in body]
    if missing:
        raise ValidationFailed(f"event envelope lacks {', '.join(missing)}")
    if body["schema_version"] not in accepted_versions:
        raise ValidationFailed(f"unsupported schema_version {body['schema_version']!r}")
    if not isinstance(body["payload"], dict):
        raise ValidationFailed("event payload is not an object")
    return Event(**{name: body[name] for name in ENVELOPE_FIELDS})
