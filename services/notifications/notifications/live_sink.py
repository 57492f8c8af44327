"""The durable queue that makes `notification_created` always routable.

The outbox relay publishes with mandatory routing and holds back an event no queue takes. The
consumers of `notification_created` are the gateway processes' exclusive queues, which exist only
while a gateway runs; without them every new notification would pile up in the outbox as
`unroutable`. `notifications.live-sink` is bound to it and keeps nothing (`x-max-length` 0: each
message is dropped as it arrives). The event is a live signal; the inbox is the record.
"""

import logging

import eventlet
import kombu
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange

from . import events

log = logging.getLogger(__name__)

SINK_QUEUE = "notifications.live-sink"


def sink_queue(service_name: str, config: dict) -> kombu.Queue:
    return kombu.Queue(
        SINK_QUEUE,
        exchange=get_event_exchange(service_name, config),
        routing_key=events.NOTIFICATION_CREATED,
        durable=True,
        auto_delete=False,
        queue_arguments={"x-max-length": 0},
    )


class LiveEventSink(DependencyProvider):
    """Declares the sink when the service starts (retrying while the broker is away)."""

    def start(self) -> None:
        self.container.spawn_managed_thread(self._declare)

    def _declare(self) -> None:
        queue = sink_queue(self.container.service_name, self.container.config)
        delay = 1.0
        while True:
            try:
                with kombu.Connection(self.container.config[AMQP_URI_CONFIG_KEY], connect_timeout=10) as connection:
                    queue(connection.default_channel).declare()
                return
            except Exception:
                log.warning("could not declare %s; trying again in %.0f s", SINK_QUEUE, delay, exc_info=True)
                eventlet.sleep(delay)
                delay = min(30.0, delay * 2)

    def get_dependency(self, worker_ctx) -> None:
        return None
