"""The service's document store as nameko extensions: one store per container, injected into workers."""

import threading

from nameko.extensions import DependencyProvider, SharedExtension

from ..config import store_url
from ..store import CollectionSpec, DocumentStore, open_store


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
    """Injects the DocumentStore; wakes the outbox relay after every worker so events leave promptly."""

    shared = SharedStore()

    def __init__(self, specs: tuple[CollectionSpec, ...]):
        self.specs = specs

    def setup(self) -> None:
        self.shared.declare(self.specs)

    def get_dependency(self, worker_ctx) -> DocumentStore:
        return self.shared.document_store()
