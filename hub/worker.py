"""The RQ worker: builds the app once and runs every job inside its app context."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from rq import SimpleWorker, get_current_job
from rq.timeouts import TimerDeathPenalty

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
    """A SimpleWorker (no fork per job) whose jobs see ``current_app`` and run ``concurrency`` at a
    time in threads: deliveries wait on the network, so throughput comes from overlapping them.

    Timeouts use RQ's timer death penalty (SIGALRM only works in the main thread). A job a killed
    worker was running is recovered by the sweeper, whatever thread it was on."""

    app: Flask
    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args, concurrency: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.concurrency = max(1, concurrency)
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="hookhub-job")

    def perform_job(self, job, queue, execution):  # type: ignore[override]
        with self.app.app_context():
            return super().perform_job(job, queue, execution)

    def execute_job(self, job, queue) -> None:  # type: ignore[override]
        if self.concurrency == 1:
            return super().execute_job(job, queue)
        self._slots.acquire()          # back-pressure: dequeue no more than we can run
        execution = self.prepare_execution(job)

        def run() -> None:
            try:
                self.perform_job(job, queue, execution)
            except Exception:  # perform_job records failures itself; never lose the slot
                self.log.exception("job %s crashed outside RQ's handling", job.id)
            finally:
                self._slots.release()

        self._pool.submit(run)

    def work(self, *args, **kwargs) -> bool:  # type: ignore[override]
        try:
            return super().work(*args, **kwargs)
        finally:
            self._pool.shutdown(wait=True)   # a warm shutdown lets the jobs in flight finish


def build_worker(app: Flask, queues: list[str] | None = None, name: str | None = None,
                 concurrency: int | None = None) -> HubWorker:
    names = queues or list(QUEUE_NAMES)
    if concurrency is None:
        concurrency = int(app.config.get("HOOKHUB_WORKER_CONCURRENCY", 1))
    worker = HubWorker([get_queue(q, app) for q in names], connection=get_redis(app), name=name,
                       concurrency=concurrency)
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
