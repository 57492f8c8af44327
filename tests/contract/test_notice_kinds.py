"""The OpenAPI document lists the notice kinds the notifications service knows, in its order (the
gateway keeps its own copy: it is deployed without the services' code)."""

from gateway.openapi_notifications import NOTICE_KINDS
from notifications.notice_rules import KINDS


def test_the_documented_notice_kinds_are_the_catalog() -> None:
    assert NOTICE_KINDS == tuple(KINDS)
