"""Who is calling: the seam where authentication builds the caller context.

Identity, tokens and API keys are not built yet: until they are, every request acts as the
development administrator below. Nothing here may be deployed beyond a laptop.
"""

from flask import g

from crm_common.caller import Caller

DEVELOPMENT_ADMIN = "usr-dev-admin"


def current_caller() -> Caller:
    return Caller(DEVELOPMENT_ADMIN, ("admin",), (), g.request_id)
