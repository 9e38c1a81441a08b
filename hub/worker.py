"""The RQ worker: builds the app once and runs every job inside its app context."""

from __future__ import annotations

import faulthandler
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import redis
from flask import Flask
from rq import SimpleWorker, get_current_job
from rq.timeouts import TimerDeathPenalty

from hub.queue import QUEUE_NAMES, get_queue, get_redis

log = logging.getLogger("hub.worker")


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

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):  # type: ignore[override]
        # Take a job only when a thread is free to start it: a job dequeued early would sit in RQ's
        # intermediate list looking "queued" while no one runs it (and other workers cannot take it).
        if self.concurrency > 1:
            while not self._slots.acquire(timeout=5):
                self.heartbeat()
        try:
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        except BaseException:
            if self.concurrency > 1:
                self._slots.release()
            raise
        if result is None and self.concurrency > 1:
            self._slots.release()
        return result

    def execute_job(self, job, queue) -> None:  # type: ignore[override]
        if self.concurrency == 1:
            return super().execute_job(job, queue)
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


def _stop_was_requested(worker: HubWorker) -> bool:
    # RQ sets _stop_requested only when a signal arrives mid-job; when idle it raises StopRequested
    # instead, and only the shutdown date tells the two endings of work() apart.
    return bool(worker._stop_requested or getattr(worker, "_shutdown_requested_date", None))


def run_worker(app: Flask, queues: list[str] | None = None, *, burst: bool = False,
               with_scheduler: bool = True) -> bool:
    """Work the queues until stopped; unless in burst mode, also heartbeat, sweep and pump the
    inbound hand-off in background threads. A work loop that ends because Redis went away is
    started again (with a new RQ worker) once Redis answers: a worker outlives an outage."""
    from hub.inbound.handoff import start_pump
    from hub.sweeper import start_background

    level = app.config.get("HOOKHUB_LOG_LEVEL", "INFO")
    configure_job_logging(level)
    faulthandler.register(signal.SIGUSR1, all_threads=True)   # `kill -USR1 <pid>` prints every stack
    stop = threading.Event()
    current: dict[str, str] = {}
    worked = False
    try:
        while True:
            worker = None
            try:
                worker = build_worker(app, queues)
                current["name"] = worker.name
                if not burst and "started" not in current:
                    current["started"] = "yes"
                    start_background(app, lambda: current["name"], stop)
                    start_pump(app, stop)
                worked = worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=level,
                                     log_format=LOG_FORMAT.replace("%(job_id)s", "-")) or worked
            except redis.RedisError as exc:
                log.error("worker lost Redis: %s", exc)
            if burst or stop.is_set() or (worker is not None and _stop_was_requested(worker)):
                return worked
            # RQ's handlers still point at the finished worker: a stop request now must end us.
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            log.warning("the work loop ended without a stop request (Redis outage?); restarting in 2 s")
            if stop.wait(2):
                return worked
    finally:
        stop.set()
