"""nameko building blocks every CRM service is assembled from: store, outbox, reliable events, ops."""

from nameko.exceptions import deserialize_to_instance

from ..errors import ALL_ERRORS

# Calls between services re-raise the callee's typed error (NotFound stays NotFound), not RemoteError.
for _error in ALL_ERRORS:
    deserialize_to_instance(_error)

# A reply the broker cannot take (it is restarting) is logged, not fatal to the service.
from . import replies  # noqa: E402,F401
