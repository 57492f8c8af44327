"""Token-bucket rate limits per credential, counted in the gateway store so that every worker and
every replica draws from the same bucket.

When the counter store cannot be reached, each gateway process falls back to a bucket of its own
(the limit then holds per process, not per credential) and counts the fallback in
`crm_rate_limit_fallbacks_total`: a store outage degrades accuracy, never availability.
"""

import math
import os
import threading
import time
from dataclasses import dataclass

from prometheus_client import Counter

from crm_common.access import ROLES
from crm_common.config import ConfigError
from crm_common.errors import ServiceUnavailable
from crm_common.store import DocumentStore

from .identity.store import RATE_BUCKETS

ANONYMOUS = "anonymous"  # requests before sign-in (the token endpoints), limited per client address
FALLBACKS = Counter("crm_rate_limit_fallbacks", "Rate-limit decisions taken per process: counter store unavailable")


@dataclass(frozen=True)
class Limit:
    per_second: float
    burst: int


DEFAULT_LIMITS = {
    "admin": Limit(50, 500),
    "manager": Limit(20, 300),
    "sales_rep": Limit(20, 300),
    "support_agent": Limit(20, 300),
    "viewer": Limit(10, 150),
    ANONYMOUS: Limit(1, 20),
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: Limit
    remaining: int
    retry_after: int  # seconds until one request is allowed again

    def headers(self) -> dict[str, str]:
        window = math.ceil(self.limit.burst / self.limit.per_second)
        refill = math.ceil((self.limit.burst - self.remaining) / self.limit.per_second)
        return {
            "RateLimit-Limit": str(self.limit.burst),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(refill),
            "RateLimit-Policy": f"{self.limit.burst};w={window}",
        }


def load_limits() -> dict[str, Limit]:
    """GATEWAY_RATE_LIMITS overrides defaults: `role=per_second/burst,...`, e.g. `viewer=5/50,anonymous=1/10`."""
    limits = dict(DEFAULT_LIMITS)
    raw = os.environ.get("GATEWAY_RATE_LIMITS", "")
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            role, spec = part.split("=")
            rate, burst = spec.split("/")
            limit = Limit(float(rate), int(burst))
        except ValueError:
            raise ConfigError(f"GATEWAY_RATE_LIMITS: cannot read {part!r}; write role=per_second/burst") from None
        if role not in (*ROLES, ANONYMOUS) or limit.per_second <= 0 or limit.burst < 1:
            raise ConfigError(f"GATEWAY_RATE_LIMITS: {part!r} names an unknown role or a non-positive limit")
        limits[role] = limit
    return limits


class RateLimiter:
    def __init__(self, store: DocumentStore, limits: dict[str, Limit]):
        self.store, self.limits = store, limits
        self._local: dict[str, dict] = {}
        self._local_lock = threading.Lock()

    def limit_for(self, roles: tuple[str, ...], override: dict | None = None) -> Limit:
        """An API key's own limit wins; otherwise the most generous of the caller's roles."""
        if override:
            return Limit(float(override["per_second"]), int(override["burst"]))
        return max(
            (self.limits[r] for r in roles if r in self.limits),
            key=lambda lim: lim.per_second,
            default=self.limits[ANONYMOUS],
        )

    def take(self, key: str, limit: Limit) -> Decision:
        now = time.time()
        try:
            with self.store.transaction() as tx:
                bucket = _spend(tx[RATE_BUCKETS].get(key), key, limit, now)
                tx[RATE_BUCKETS].put(bucket)
        except ServiceUnavailable:
            FALLBACKS.inc()
            with self._local_lock:
                bucket = _spend(self._local.get(key), key, limit, now)
                self._local[key] = bucket
        tokens = bucket["tokens"]
        return Decision(
            bucket["allowed"],
            limit,
            max(0, math.floor(tokens)),
            0 if bucket["allowed"] else max(1, math.ceil((1 - tokens) / limit.per_second)),
        )


def _spend(bucket: dict | None, key: str, limit: Limit, now: float) -> dict:
    """Refill for the time elapsed, then take one token if there is one."""
    if bucket is None:
        tokens = float(limit.burst)
    else:
        tokens = min(float(limit.burst), bucket["tokens"] + (now - bucket["at"]) * limit.per_second)
    allowed = tokens >= 1
    return {"id": key, "tokens": tokens - 1 if allowed else tokens, "at": now, "allowed": allowed}
