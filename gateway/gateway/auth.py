"""Who is calling: every /api/v1 request is authenticated here, then rate-limited, before any RPC.

The verified principal is kept on `flask.g` for the request; the caller context built from it
goes with every RPC call, and the owning service decides what that caller may see.
"""

from flask import Flask, current_app, g, request

from crm_common.access import ADMIN
from crm_common.caller import Caller
from crm_common.errors import Forbidden, TooManyRequests

from .identity.sessions import Authenticator
from .ratelimit import ANONYMOUS, RateLimiter

# Endpoints reachable without a credential; everything else under /api/v1 needs one.
# The unsubscribe link of a message carries its own signed token instead.
PUBLIC_ENDPOINTS = frozenset(
    {"identity.issue_token", "identity.refresh_token", "api.openapi", "api.docs", "api.unsubscribe"}
)
SIGN_IN_ENDPOINTS = ("identity.issue_token", "identity.refresh_token")
# Public endpoints that reach a store or a service spend from the client address's `anonymous` bucket.
ADDRESS_LIMITED_ENDPOINTS = (*SIGN_IN_ENDPOINTS, "api.unsubscribe")
API_BLUEPRINTS = ("api", "identity")


def current_caller() -> Caller:
    return g.principal.caller


def require_admin() -> None:
    if ADMIN not in g.principal.caller.roles:
        raise Forbidden("only an admin may do this")


def _authenticate() -> None:
    if request.blueprint not in API_BLUEPRINTS or request.endpoint is None:
        return  # operations endpoints, and unknown paths (404/405 need no credential)
    limiter: RateLimiter = current_app.extensions["rate_limiter"]
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.endpoint in ADDRESS_LIMITED_ENDPOINTS:
            _spend(limiter, f"ip:{request.remote_addr}", limiter.limit_for((ANONYMOUS,)))
        return
    authenticator: Authenticator = current_app.extensions["authenticator"]
    g.principal = authenticator.authenticate(
        request.headers.get("Authorization"), request.headers.get("X-API-Key"), g.request_id
    )
    who = g.principal
    _spend(limiter, who.rate_key, limiter.limit_for(who.caller.roles, who.rate_limit))


def _spend(limiter: RateLimiter, key: str, limit) -> None:
    decision = limiter.take(key, limit)
    g.rate_headers = decision.headers()
    if not decision.allowed:
        raise TooManyRequests(f"over the rate limit of {limit.burst} requests", decision.retry_after)


def _rate_headers(response):
    for name, value in g.get("rate_headers", {}).items():
        response.headers[name] = value
    return response


def register(app: Flask) -> None:
    app.before_request(_authenticate)
    app.after_request(_rate_headers)
