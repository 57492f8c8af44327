"""The service's document store as nameko extensions: one store per container, injected into workers."""

import logging
import threading

from nameko.extensions import DependencyProvider, SharedExtension
from nameko.rpc import Rpc

from ..config import store_url
from ..store import CollectionSpec, DocumentStore, open_store
from .idempotency import CONTEXT_KEY, IDEMPOTENT_CALLS, IDEMPOTENT_CALLS_SPEC, IdempotentCall, KeyedStore, call_id

log = logging.getLogger(__name__)


class SharedStore(SharedExtension):
    """Opens the service's store once per container; entrypoints and providers share it."""

    def __init__(self, *args, **kwargs) -> None:
        # State lives from construction: nameko sets extensions up in no guaranteed order.
        super().__init__(*args, **kwargs)
        self._store: DocumentStore | None = None
        self._lock = threading.Lock()
        self.specs: tuple[CollectionSpec, ...] = ()

    def declare(self, specs: tuple[CollectionSpec, ...]) -> None:
        self.specs = specs

    def document_store(self) -> DocumentStore:
        """Open on first use (a method, not a property: nameko inspects extension attributes)."""
        with self._lock:
            if self._store is None:
                self._store = open_store(store_url(self.container.service_name), self.specs)
            return self._store

    def stop(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class Store(DependencyProvider):
    """Injects the DocumentStore. An RPC worker whose context carries an `idempotency_key` (a POST
    with an Idempotency-Key at the gateway) gets a KeyedStore instead and runs at most once per key:
    see runtime/idempotency.py. Every store declares the `idempotent_calls` collection for that."""

    shared = SharedStore()

    def __init__(self, specs: tuple[CollectionSpec, ...]):
        specs = tuple(specs)
        if all(spec.name != IDEMPOTENT_CALLS for spec in specs):
            specs += (IDEMPOTENT_CALLS_SPEC,)
        self.specs = specs

    def setup(self) -> None:
        self.shared.declare(self.specs)

    def setup_worker_idempotency(self, worker_ctx) -> IdempotentCall | None:
        """For a keyed RPC worker: the call, with the method replaced by a replay of the stored
        outcome when there is one; None for every other worker."""
        key = worker_ctx.context_data.get(CONTEXT_KEY)
        if not key or not isinstance(worker_ctx.entrypoint, Rpc):
            return None
        method_name = worker_ctx.entrypoint.method_name
        service = worker_ctx.service
        store = self.shared.document_store()
        call = IdempotentCall(store, call_id(key, method_name, worker_ctx.args, worker_ctx.kwargs), method_name)
        # nameko looks the method up on the worker's own service instance after worker_setup, so
        # an instance attribute replaces it for this worker only.
        try:
            existing = call.existing()
        except Exception as exc:  # the store is down: answer that, do not run blind
            setattr(service, method_name, IdempotentCall.refuse(exc))
            return call
        if existing is not None:
            log.info("answering the stored outcome of idempotent call %s", call.record_id)
            setattr(service, method_name, IdempotentCall.replay(existing))
            return call
        method = getattr(service, method_name)
        setattr(service, method_name, lambda *args, **kwargs: call.run(method, *args, **kwargs))
        return call

    def get_dependency(self, worker_ctx) -> DocumentStore:
        store = self.shared.document_store()
        call = self.setup_worker_idempotency(worker_ctx)
        return store if call is None else KeyedStore(store, call)
