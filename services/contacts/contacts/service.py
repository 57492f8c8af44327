"""The contacts nameko service: the class that assembles its entrypoints; each concern lives in
its own module (customers, handlers, ...), rules in domain.py, storage in store.py."""

from crm_common.runtime.base import ServiceBase
from crm_common.runtime.store import Store

from .custom_fields import CustomFieldsRpc
from .customers import CustomersRpc
from .handlers import ProjectionHandlers
from .interactions import InteractionsRpc
from .merging import MatchingRpc
from .ownership import PoolRpc
from .personal_data import PersonalDataRpc
from .segments import SegmentsRpc
from .store import SPECS
from .transfers import TransfersRpc


class ContactsService(
    CustomersRpc,
    InteractionsRpc,
    CustomFieldsRpc,
    MatchingRpc,
    PoolRpc,
    SegmentsRpc,
    TransfersRpc,
    PersonalDataRpc,
    ProjectionHandlers,
    ServiceBase,
):
    name = "contacts"
    store = Store(SPECS)
