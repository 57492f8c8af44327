"""The sales nameko service: the class that assembles its entrypoints; each concern lives in its own
module (deals, orders, tasks, grading, scoring, reports, customers, settings, CSAT follow-ups), pure
rules beside them."""

from crm_common.runtime.base import ServiceBase
from crm_common.runtime.rpc import ServiceRpc
from crm_common.runtime.store import Store

from .csat_followups import CsatFollowUps
from .customers import CustomerHandlers
from .deals import DealsRpc
from .grading import GradingRpc
from .metrics import refresh_pipeline
from .orders import OrdersRpc
from .reports import ReportsRpc
from .scoring import ScoringRpc
from .settings import SettingsRpc
from .store import SPECS
from .tasks import TasksRpc


class SalesService(
    DealsRpc,
    OrdersRpc,
    TasksRpc,
    GradingRpc,
    ScoringRpc,
    ReportsRpc,
    SettingsRpc,
    CustomerHandlers,
    CsatFollowUps,
    ServiceBase,
):
    name = "sales"
    store = Store(SPECS)
    contacts = ServiceRpc("contacts")

    def refresh_metrics(self) -> None:
        refresh_pipeline(self.store)
