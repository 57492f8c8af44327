"""gunicorn settings for the gateway (`gunicorn -c python:gateway.gunicorn_conf ...`).

Several worker processes serve the API; Prometheus' multiprocess mode lets one scrape see all of
them. Set PROMETHEUS_MULTIPROC_DIR to a writable folder; it is emptied whenever the server starts.
"""

import os
import shutil

from prometheus_client import multiprocess


def on_starting(server) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)


def child_exit(server, worker) -> None:
    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    # Each live event stream holds one of the gthread worker's threads: gateway.event_stream never
    # lets streams take more than half of them (see its module docstring).
    from gateway import event_stream

    event_stream.worker_threads = worker.cfg.threads
