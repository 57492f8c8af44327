"""The service-desk nameko service: the class that assembles its entrypoints; each concern lives in
its own module (tickets, comments, SLA policies, business calendars, escalation, rosters,
satisfaction, reports, customers), pure rules beside them."""

from datetime import UTC, datetime

from crm_common.runtime.base import ServiceBase
from crm_common.runtime.rpc import ServiceRpc
from crm_common.runtime.store import Store

from .calendars import CalendarsRpc
from .comments import CommentsRpc
from .customers import CustomerHandlers
from .escalation import EscalationRpc
from .reports import ReportsRpc
from .roster import RosterRpc
from .satisfaction import SatisfactionRpc
from .sla_policies import SlaRpc
from .store import SPECS
from .tickets import TicketsRpc


class ServiceDeskService(
    TicketsRpc,
    CommentsRpc,
    SlaRpc,
    CalendarsRpc,
    EscalationRpc,
    RosterRpc,
    SatisfactionRpc,
    ReportsRpc,
    CustomerHandlers,
    ServiceBase,
):
    name = "service_desk"
    store = Store(SPECS)
    contacts = ServiceRpc("contacts")

    def _now(self) -> datetime:
        """The one clock of the service desk: SLA clocks, timers and stamps read it (tests replace it)."""
        return datetime.now(UTC)
