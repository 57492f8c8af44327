"""Business gauges of sales, set at each scrape (OpsEndpoints.refresh_metrics) from the forecast
rollups: a few thousand buckets at most, never the deals themselves."""

from decimal import Decimal

from prometheus_client import Gauge

from crm_common.store import DocumentStore

from .store import DEAL_ROLLUPS

PIPELINE_VALUE = Gauge("crm_pipeline_value", "Summed amount of the open deals, in their own currency", ["currency"])
PIPELINE_DEALS = Gauge("crm_pipeline_open_deals", "Open deals", ["currency"])
ROLLUP_PAGE = 5000


def pipeline_totals(store: DocumentStore) -> dict[str, tuple[int, Decimal]]:
    """{currency: (open deals, summed amount)} from the forecast buckets (open deals only)."""
    totals: dict[str, tuple[int, Decimal]] = {}
    for bucket in store[DEAL_ROLLUPS].iterate({"kind": "forecast"}, [("id", 1)], ROLLUP_PAGE):
        count, amount = totals.get(bucket["currency"], (0, Decimal(0)))
        totals[bucket["currency"]] = (count + bucket["count"], amount + Decimal(bucket["amount"]))
    return totals


def refresh_pipeline(store: DocumentStore) -> None:
    totals = pipeline_totals(store)
    # A currency whose last open deal closed drops to 0 rather than keeping a stale value.
    for sample in PIPELINE_VALUE.collect()[0].samples:
        totals.setdefault(sample.labels["currency"], (0, Decimal(0)))
    for currency, (count, amount) in totals.items():
        PIPELINE_VALUE.labels(currency).set(float(amount))
        PIPELINE_DEALS.labels(currency).set(count)
