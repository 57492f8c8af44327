"""Effectively-once RPCs: a keyed RPC worker writes once; a retry gets the first result (issue 9,
fault 5). Workers are driven as nameko's container drives them: dependencies injected, then the
method looked up on the worker's service instance and called."""

import time
import uuid

import pytest
from nameko.rpc import Rpc

from crm_common.errors import ServiceUnavailable, ValidationFailed
from crm_common.runtime.idempotency import (
    IDEMPOTENT_CALLS,
    IDEMPOTENT_CALLS_SPEC,
    call_id,
    prune_idempotent_calls,
)
from crm_common.runtime.rpc import OutgoingContext, SystemContext
from crm_common.runtime.store import Store
from crm_common.store import OUTBOX, CollectionSpec, Index, open_store

THINGS = "things"
SPECS = (CollectionSpec(THINGS, (Index(("name",)),)),)


class FakeShared:
    def __init__(self, store):
        self.store = store

    def document_store(self):
        return self.store


class FakeWorkerContext:
    def __init__(self, method: str, kwargs: dict, key: str | None = None, rpc: bool = True):
        self.context_data = {"request_id": "req-1", **({"idempotency_key": key} if key else {})}
        if rpc:
            self.entrypoint = Rpc.__new__(Rpc)
            self.entrypoint.method_name = method
        else:
            self.entrypoint = object()
        self.args, self.kwargs = (), kwargs
        self.service = Things()


class Things:
    """A service: `create` writes in a transaction (with an event), `touch` writes outside one."""

    runs = 0

    def create(self, name: str) -> dict:
        Things.runs += 1
        with self.store.transaction() as tx:
            doc = tx[THINGS].insert({"id": uuid.uuid4().hex, "name": name})
            tx[OUTBOX].insert({"id": uuid.uuid4().hex, "status": "pending", "record": doc["id"], "event": {}})
        return {"id": doc["id"], "name": name}

    def touch(self, name: str) -> str:
        Things.runs += 1
        return self.store[THINGS].insert({"id": uuid.uuid4().hex, "name": name})["id"]

    def create_then_fail(self, name: str) -> None:
        self.create(name)
        raise ValidationFailed("checked after the write", [{"field": "name", "message": "too late"}])

    def fail_before_writing(self, name: str) -> None:
        Things.runs += 1
        raise ValidationFailed("bad name", [{"field": "name", "message": "no"}])

    def read(self, name: str) -> int:
        Things.runs += 1
        return self.store[THINGS].count({"name": name})


@pytest.fixture
def store(tmp_path):
    provider = Store(SPECS)
    opened = open_store(f"sqlite:///{tmp_path}/svc.db", provider.specs)
    yield opened
    opened.close()


@pytest.fixture
def provider(store):
    provider = Store(SPECS)
    provider.shared = FakeShared(store)
    Things.runs = 0
    return provider


def prepare(provider, method: str, key: str | None = "k1", **kwargs) -> FakeWorkerContext:
    """nameko's _inject_dependencies: the worker's store is bound (and the method maybe replaced)."""
    ctx = FakeWorkerContext(method, kwargs, key)
    ctx.service.store = provider.get_dependency(ctx)
    return ctx


def run(ctx: FakeWorkerContext):
    """nameko's handler call: the method is looked up on the service instance after setup."""
    return getattr(ctx.service, ctx.entrypoint.method_name)(*ctx.args, **ctx.kwargs)


def call(provider, method: str, key: str | None = "k1", **kwargs):
    return run(prepare(provider, method, key, **kwargs))


def test_every_service_store_declares_the_idempotent_calls_collection():
    assert IDEMPOTENT_CALLS_SPEC in Store(SPECS).specs
    assert Store(SPECS + (IDEMPOTENT_CALLS_SPEC,)).specs.count(IDEMPOTENT_CALLS_SPEC) == 1


def test_the_first_call_writes_and_records_a_retry_returns_the_stored_result_without_writing(provider, store):
    first = call(provider, "create", name="a")
    records = store[IDEMPOTENT_CALLS].find().items
    assert len(records) == 1
    record = records[0]
    assert record["id"] == call_id("k1", "create", (), {"name": "a"})
    assert record["id"].startswith("k1:create:")
    assert record["state"] == "done" and record["method"] == "create" and record["result"] == first
    assert record["created_at"].endswith("Z")

    again = call(provider, "create", name="a")
    assert again == first
    assert Things.runs == 1
    assert store[THINGS].count() == 1
    assert store[OUTBOX].count() == 1


def test_the_record_commits_with_a_write_made_outside_a_transaction(provider, store):
    first = call(provider, "touch", name="t")
    assert call(provider, "touch", name="t") == first
    assert Things.runs == 1 and store[THINGS].count() == 1


def test_a_concurrent_duplicate_rolls_back_and_answers_a_retryable_503(provider, store):
    # Both workers looked up the record before either wrote (the first is slow, the retry fast).
    first, duplicate = prepare(provider, "create", name="c"), prepare(provider, "create", name="c")
    result = run(first)
    with pytest.raises(ServiceUnavailable, match="still being applied"):
        run(duplicate)
    assert store[THINGS].count() == 1  # the duplicate's insert and its outbox event rolled back
    assert store[OUTBOX].count() == 1
    assert call(provider, "create", name="c") == result


def test_a_record_without_an_outcome_answers_a_retryable_503_without_running(provider, store):
    record_id = call_id("k1", "create", (), {"name": "p"})
    store[IDEMPOTENT_CALLS].insert({"id": record_id, "state": "applied", "method": "create", "created_at": "x"})
    with pytest.raises(ServiceUnavailable) as raised:
        call(provider, "create", name="p")
    assert raised.value.status == 503
    assert Things.runs == 0 and store[THINGS].count() == 0


def test_a_typed_error_after_the_write_is_stored_and_replayed(provider, store):
    with pytest.raises(ValidationFailed):
        call(provider, "create_then_fail", name="e")
    with pytest.raises(ValidationFailed) as replayed:
        call(provider, "create_then_fail", name="e")
    assert replayed.value.errors == [{"field": "name", "message": "too late"}]
    assert Things.runs == 1 and store[THINGS].count() == 1


def test_calls_that_write_nothing_leave_no_record_and_run_again(provider, store):
    for _ in range(2):
        with pytest.raises(ValidationFailed):
            call(provider, "fail_before_writing", name="x")
        assert call(provider, "read", name="x") == 0
    assert Things.runs == 4
    assert store[IDEMPOTENT_CALLS].count() == 0


def test_different_methods_arguments_or_keys_do_not_collide(provider, store):
    call(provider, "create", name="m1")
    call(provider, "touch", name="m2")
    call(provider, "create", name="m3")
    call(provider, "create", key="k2", name="m4")
    assert Things.runs == 4 and store[IDEMPOTENT_CALLS].count() == 4


def test_without_a_key_or_outside_an_rpc_the_plain_store_is_used(provider, store):
    call(provider, "create", key=None, name="n1")
    call(provider, "create", key=None, name="n2")
    ctx = FakeWorkerContext("create", {"name": "n3"}, "k1", rpc=False)
    assert provider.get_dependency(ctx) is store
    assert store[IDEMPOTENT_CALLS].count() == 0


def test_a_store_failure_at_the_look_up_is_answered_not_run_blind(provider, store, monkeypatch):
    def down(doc_id):
        raise ServiceUnavailable("store unavailable: disk I/O error")

    monkeypatch.setattr(type(store[IDEMPOTENT_CALLS]), "get", lambda self, doc_id: down(doc_id))
    with pytest.raises(ServiceUnavailable, match="disk"):
        call(provider, "create", name="d")
    assert Things.runs == 0


def test_records_older_than_the_gateway_ttl_are_pruned(store, monkeypatch):
    monkeypatch.setenv("IDEMPOTENCY_TTL_SECONDS", "3600")
    now = time.time()

    def stamp(age: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - age)) + ".000000Z"

    for i, age in enumerate([7200, 4000, 3700, 100, 0]):
        store[IDEMPOTENT_CALLS].insert({"id": f"k{i}:m:x", "state": "done", "method": "m", "created_at": stamp(age)})
    assert prune_idempotent_calls(store, now, batch=2) == 3
    assert sorted(r["id"] for r in store[IDEMPOTENT_CALLS].find().items) == ["k3:m:x", "k4:m:x"]
    # a store opened without the runtime's collections is left alone
    assert prune_idempotent_calls(open_store("sqlite://:memory:", ()), now) == 0


def test_calls_to_other_services_do_not_carry_the_key():
    ctx = FakeWorkerContext("create", {}, "k1")
    ctx.context_data["caller"] = "{}"
    assert OutgoingContext(ctx).context_data == {"request_id": "req-1", "caller": "{}"}
    assert SystemContext(ctx).context_data == {"request_id": "req-1"}
    assert OutgoingContext(ctx).service is ctx.service
