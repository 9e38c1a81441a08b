"""The RQ worker process: builds the app once, runs every job inside its app context, several at a
time in threads, and keeps RQ's scheduler process alive."""

from __future__ import annotations

import ctypes
import faulthandler
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import redis
from flask import Flask
from rq import SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

from hub.inbound.handoff import start_pump
from hub.storage.queue import QUEUE_NAMES, current_job_id, get_queue
from hub.storage.redis import get_redis
from hub.worker.sweeper import start_background

log = logging.getLogger(__name__)
SCHEDULER_CHECK = 5.0     # seconds between checks that this worker's scheduler process still runs
PR_SET_PDEATHSIG = 1


class JobIdFilter(logging.Filter):
    """Stamps ``job_id`` on every log record (``-`` outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = current_job_id() or "-"
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s [job %(job_id)s] %(name)s: %(message)s"


def configure_job_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(JobIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class HubScheduler(RQScheduler):
    """RQ's scheduler process (it moves due retries onto their queue), tied to its worker: when the
    worker dies, even by SIGKILL, the kernel sends the scheduler SIGTERM, so no orphan keeps
    running (and holding the scheduler lock) after its worker is gone."""

    def start(self):
        self._worker_pid = os.getpid()
        return super().start()

    def work(self):
        # Linux sends the signal when the *thread* that forked us ends: the worker's main thread,
        # or its watchdog thread, which ends only when the worker stops its scheduler anyway.
        _terminate_with_parent()
        if os.getppid() != self._worker_pid:   # the worker died before prctl took effect
            return
        super().work()


def _terminate_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the scheduler may outlive a killed worker
        log.debug("parent-death signal unavailable; the scheduler may outlive a killed worker")


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
        self._scheduler_guard = threading.Lock()
        self._watch_stop = threading.Event()

    # RQ's scheduler process exits on any Redis error, and RQ only tries to start it again in its
    # maintenance pass (every 10 minutes, and not while the worker blocks waiting for jobs): a Redis
    # blip would hold every scheduled retry that long. A watchdog thread restarts it within seconds
    # (once its lock is free: a dead scheduler's lock expires after about a minute).
    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=DEFAULT_LOGGING_DATE_FORMAT,
                         log_format=DEFAULT_LOGGING_FORMAT) -> None:
        """RQ's own, with our scheduler class and the watchdog."""
        self.scheduler = HubScheduler(self.queues, connection=self.connection, serializer=self.serializer,
                                      logging_level=logging_level if logging_level is not None else self.log.level,
                                      date_format=date_format, log_format=log_format)
        self.scheduler.acquire_locks()
        if burst:
            if self.scheduler.acquired_locks:
                try:
                    self.scheduler.register_birth()
                    self.scheduler.enqueue_scheduled_jobs()
                finally:
                    self.scheduler.release_locks()
                    self.scheduler.register_death()
            return
        if self.scheduler.acquired_locks:
            self.scheduler.start()
        threading.Thread(target=self._watch_scheduler, name="hookhub-scheduler-watch", daemon=True).start()

    def _watch_scheduler(self) -> None:
        while not self._watch_stop.wait(SCHEDULER_CHECK):
            with self._scheduler_guard:
                scheduler = self.scheduler
                if self._watch_stop.is_set() or scheduler is None:
                    return
                process = scheduler._process
                if process is not None and process.is_alive():
                    continue
                try:
                    if scheduler.acquire_locks(auto_start=True) and process is not None:
                        log.warning("the RQ scheduler process had stopped (exit code %s); started it again",
                                    process.exitcode)
                except redis.RedisError as exc:
                    log.debug("scheduler check: Redis unavailable (%s)", exc)

    def stop_scheduler(self) -> None:  # type: ignore[override]
        self._watch_stop.set()
        with self._scheduler_guard:
            super().stop_scheduler()

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
            self._watch_stop.set()
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


def _warn_if_pool_too_small(app: Flask) -> None:
    """Job threads beyond the PostgreSQL pool wait up to 30 s for a connection, then fail."""
    needed = int(app.config.get("HOOKHUB_WORKER_CONCURRENCY", 1)) + 2     # + sweeper and hand-off pump
    allowed = int(app.config.get("HOOKHUB_DATABASE_CONNECTIONS", needed))
    if str(app.config.get("HOOKHUB_DATABASE_URL", "")).startswith("postgres") and allowed < needed:
        log.warning("HOOKHUB_DATABASE_CONNECTIONS=%s is below the %s this worker may use at once "
                    "(HOOKHUB_WORKER_CONCURRENCY + 2): job threads will wait for connections", allowed, needed)


def _stop_was_requested(worker: HubWorker) -> bool:
    # RQ sets _stop_requested only when a signal arrives mid-job; when idle it raises StopRequested
    # instead, and only the shutdown date tells the two endings of work() apart.
    return bool(worker._stop_requested or getattr(worker, "_shutdown_requested_date", None))


def run_worker(app: Flask, queues: list[str] | None = None, *, burst: bool = False,
               with_scheduler: bool = True) -> bool:
    """Work the queues until stopped; unless in burst mode, also heartbeat, sweep and pump the
    inbound hand-off in background threads. A work loop that ends because Redis went away is
    started again (with a new RQ worker) once Redis answers: a worker outlives an outage."""
    level = app.config.get("HOOKHUB_LOG_LEVEL", "INFO")
    configure_job_logging(level)
    faulthandler.register(signal.SIGUSR1, all_threads=True)   # `kill -USR1 <pid>` prints every stack
    _warn_if_pool_too_small(app)
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
