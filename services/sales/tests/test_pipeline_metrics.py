"""The pipeline value gauges: read from the forecast rollups at each scrape, per currency, and a
currency whose last open deal went reads 0 rather than its stale value; SQLite store, no broker."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from crm_common.store import DocumentStore, open_store
from sales.metrics import refresh_pipeline
from sales.store import DEAL_ROLLUPS, SPECS


def bucket(kind: str, key: str, currency: str, count: int, amount: str) -> dict:
    return {"id": f"{kind}|{key}|{currency}", "kind": kind, "currency": currency, "count": count, "amount": amount}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    opened = open_store(f"sqlite:///{tmp_path}/sales.db", SPECS)
    yield opened
    opened.close()


def value(currency: str) -> tuple[float | None, float | None]:
    return (
        REGISTRY.get_sample_value("crm_pipeline_value", {"currency": currency}),
        REGISTRY.get_sample_value("crm_pipeline_open_deals", {"currency": currency}),
    )


def test_the_pipeline_value_sums_the_open_deals_per_currency(store: DocumentStore) -> None:
    for row in (
        bucket("forecast", "2026-11|u1|p|s1", "CNY", 2, "1500.50"),
        bucket("forecast", "none|u2|p|s2", "CNY", 1, "499.50"),
        bucket("forecast", "2026-12|u1|p|s1", "USD", 1, "10"),
        bucket("outcome", "2026-10|u1|p|won", "CNY", 5, "99999"),  # closed deals are no pipeline
    ):
        store[DEAL_ROLLUPS].insert(row)
    refresh_pipeline(store)
    assert (value("CNY"), value("USD")) == ((2000.0, 3.0), (10.0, 1.0))

    store[DEAL_ROLLUPS].delete("forecast|2026-12|u1|p|s1|USD")
    refresh_pipeline(store)
    assert value("USD") == (0.0, 0.0)
