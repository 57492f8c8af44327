"""Declares the durable event queues of service classes before any service runs.

The relay publishes with mandatory routing, which only proves that *some* queue took an event: on
a first deployment a consumer that has never started has no queue yet and would miss events
published before it. Declaring every consumer's queue first (what nameko itself declares at start:
same names, same arguments) closes that window. `make run` and the tests do it; in production run
it as a job before a release:  python -m crm_common.runtime.topology contacts.service:ContactsService ...
"""

import importlib
import inspect
import os
import sys

import kombu
from nameko.events import EventHandler
from nameko.standalone.events import get_event_exchange

from ..config import DEFAULT_AMQP_URI


def event_queues(service_cls: type) -> list[kombu.Queue]:
    """The queues nameko declares for the service's service-pool event handlers."""
    queues = []
    for method_name, method in inspect.getmembers(service_cls, callable):
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if isinstance(entrypoint, EventHandler):
                exchange = get_event_exchange(entrypoint.source_service, {})
                name = f"evt-{entrypoint.source_service}-{entrypoint.event_type}--{service_cls.name}.{method_name}"
                queues.append(
                    kombu.Queue(
                        name,
                        exchange=exchange,
                        routing_key=entrypoint.event_type,
                        durable=True,
                        auto_delete=False,
                        exclusive=False,
                    )
                )
    return queues


def load_service(target: str) -> type:
    module_name, class_name = target.split(":", 1)
    return getattr(importlib.import_module(module_name), class_name)


def declare_topology(amqp_uri: str, targets: list[str]) -> int:
    """Declare exchanges, queues and bindings for every `module:Class`; returns the queue count."""
    queues = [queue for target in targets for queue in event_queues(load_service(target))]
    with kombu.Connection(amqp_uri, connect_timeout=10) as connection:
        channel = connection.default_channel
        for queue in queues:
            queue(channel).declare()
    return len(queues)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    count = declare_topology(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI), sys.argv[1:])
    print(f"declared {count} event queues")
