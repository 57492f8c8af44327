"""Typed errors that cross RPC and map to HTTP problem statuses at the gateway."""

import json
from typing import Any


class CrmError(Exception):
    """Base of every error a service may raise on purpose. Args must stay JSON-serialisable:
    nameko rebuilds the instance on the caller's side as `cls(*args)`."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str = "", *extra: Any):
        super().__init__(detail, *extra)
        self.detail = detail

    def problem(self) -> dict:
        return {"title": self.title, "status": self.status, "detail": self.detail}


class BadRequest(CrmError):
    status, title = 400, "Bad request"


class Unauthorized(CrmError):
    status, title = 401, "Unauthorized"


class Forbidden(CrmError):
    status, title = 403, "Forbidden"


class NotFound(CrmError):
    status, title = 404, "Not found"


class Conflict(CrmError):
    """A duplicate or a conflicting state; `matches` names the records it collides with."""

    status, title = 409, "Conflict"

    def __init__(self, detail: str = "", matches: list | str | None = None):
        # nameko turns every non-string scalar in an error's args into text (None -> "None",
        # 0.9 -> "0.9"), so the matches, whole records, cross RPC as one JSON text.
        if isinstance(matches, str):
            try:
                matches = json.loads(matches)
            except ValueError:
                matches = [matches]
        self.matches = list(matches or [])
        super().__init__(detail, json.dumps(self.matches, ensure_ascii=False))

    def problem(self) -> dict:
        return {**super().problem(), "matches": self.matches}


class PreconditionFailed(CrmError):
    status, title = 412, "Precondition failed"


class PayloadTooLarge(CrmError):
    status, title = 413, "Payload too large"


class ValidationFailed(CrmError):
    """Input that is well-formed but invalid; `errors` lists {field, message} pairs."""

    status, title = 422, "Validation failed"

    def __init__(self, detail: str = "", errors: list | None = None):
        super().__init__(detail, errors or [])
        self.errors = errors or []

    def problem(self) -> dict:
        return {**super().problem(), "errors": self.errors}


class TooManyRequests(CrmError):
    """Over a rate limit or locked out for a while; `retry_after` is in whole seconds."""

    status, title = 429, "Too many requests"

    def __init__(self, detail: str = "", retry_after: int = 1):
        super().__init__(detail, retry_after)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(CrmError):
    status, title = 503, "Service unavailable"


ALL_ERRORS: tuple[type[CrmError], ...] = (
    CrmError,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    ValidationFailed,
    TooManyRequests,
    ServiceUnavailable,
)
ERRORS_BY_PATH = {f"{cls.__module__}.{cls.__name__}": cls for cls in ALL_ERRORS}


def error_from_remote(exc_path: str | None, exc_args: list | None) -> CrmError | None:
    """Rebuild a typed error from nameko's serialised form; None when it is not one of ours."""
    cls = ERRORS_BY_PATH.get(exc_path or "")
    if cls is None:
        return None
    try:
        return cls(*(exc_args or []))
    except TypeError:
        return cls(str(exc_args))
