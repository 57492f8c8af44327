"""JSON log lines carrying the request id from the gateway through RPC calls into events."""

import json
import logging
import sys
import threading
import time

_current = threading.local()  # green-thread local under eventlet's monkey patching


def set_request_id(request_id: str | None) -> None:
    _current.request_id = request_id


def current_request_id() -> str | None:
    return getattr(_current, "request_id", None)


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str):
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "component": self.component,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current_request_id(),
        }
        for key in ("event_id", "event_type", "method", "status", "duration_ms", "path"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(component: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "pika", "urllib3", "elastic_transport"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
