"""Processed-event marks are kept for the retention period, then forgotten."""

import time

from crm_common.runtime.events import prune_processed
from crm_common.store import PROCESSED_EVENTS, open_store


def _mark(age_days: float, handler: str = "on_contact_created") -> str:
    stamp = int((time.time() - age_days * 86400) * 1e9)
    return f"{stamp:016x}0123456789:{handler}"


def test_marks_older_than_the_retention_are_pruned_and_recent_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCESSED_EVENTS_RETENTION_DAYS", "14")
    store = open_store(f"sqlite:///{tmp_path}/svc.db", ())
    old = [_mark(30), _mark(15, "on_deal_created")] + [_mark(20 + i / 100) for i in range(5)]
    recent = [_mark(13), _mark(0.01)]
    for mark in old + recent:
        store[PROCESSED_EVENTS].insert({"id": mark, "processed_at": "t"})

    assert prune_processed(store, time.time(), batch=2) == len(old)
    remaining = [doc["id"] for doc in store[PROCESSED_EVENTS].find(None, None, 50).items]
    assert sorted(remaining) == sorted(recent)
