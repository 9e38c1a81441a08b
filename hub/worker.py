"""The RQ worker: builds the app once and runs every job inside its app context."""

from __future__ import annotations

import logging

from flask import Flask
from rq import SimpleWorker, get_current_job

from hub.queue import QUEUE_NAMES, get_queue, get_redis


class JobIdFilter(logging.Filter):
    """Stamps ``job_id`` on every log record (``-`` outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = get_current_job()
        record.job_id = job.id if job is not None else "-"
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s [job %(job_id)s] %(name)s: %(message)s"


def configure_job_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(JobIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class HubWorker(SimpleWorker):
    """A SimpleWorker (no fork per job) whose jobs see ``current_app``."""

    app: Flask

    def perform_job(self, job, queue, execution):  # type: ignore[override]
        with self.app.app_context():
            return super().perform_job(job, queue, execution)


def build_worker(app: Flask, queues: list[str] | None = None, name: str | None = None) -> HubWorker:
    names = queues or list(QUEUE_NAMES)
    worker = HubWorker([get_queue(q, app) for q in names], connection=get_redis(app), name=name)
    worker.app = app
    return worker


def run_worker(app: Flask, queues: list[str] | None = None, *, burst: bool = False,
               with_scheduler: bool = True) -> bool:
    """Work the queues; unless in burst mode, also heartbeat and sweep in a background thread."""
    import threading

    from hub.sweeper import mark_alive, start_background

    configure_job_logging(app.config.get("HOOKHUB_LOG_LEVEL", "INFO"))
    worker = build_worker(app, queues)
    mark_alive(get_redis(app), worker.name)
    stop = threading.Event()
    if not burst:
        start_background(app, worker.name, stop)
    try:
        return worker.work(burst=burst, with_scheduler=with_scheduler,
                           logging_level=app.config.get("HOOKHUB_LOG_LEVEL", "INFO"),
                           log_format=LOG_FORMAT.replace("%(job_id)s", "-"))
    finally:
        stop.set()
