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

from hub.core.logs import ContextFilter, configure
from hub.inbound.handoff import start_pump
from hub.storage.queue import QUEUE_NAMES, current_job_id, get_queue
from hub.storage.redis import get_redis, new_redis_client
from hub.storage.redis_outage import RedisOutage, is_routine_fault, redis_outage
from hub.worker.liveness import ALIVE_KEY
from hub.worker.redis_faults import RoutineRedisFaults
from hub.worker.sweeper import start_background

log = logging.getLogger(__name__)
SCHEDULER_CHECK = 5.0     # seconds between checks that this worker's scheduler process still runs
SCHEDULER_LOST_REDIS = 75   # the scheduler process's exit code when Redis went away (EX_TEMPFAIL)
_DELETE_IF_OWNER = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
PR_SET_PDEATHSIG = 1


class JobIdFilter(ContextFilter):
    """Stamps ``job_id`` (the RQ job this thread runs) and ``request_id`` on every log record."""

    def __init__(self) -> None:
        super().__init__(current_job_id)


LOG_FORMAT = "%(asctime)s %(levelname)s [job %(job_id)s] %(name)s: %(message)s"


def configure_job_logging(level: str = "INFO", outage: RedisOutage | None = None, fmt: str = "text") -> None:
    """Every line of this process (RQ's, its scheduler's, ours) to stderr, as text or JSON."""
    configure(level, fmt, job_id=current_job_id, filters=[RoutineRedisFaults(outage)] if outage else (),
              text_format=LOG_FORMAT)


class HubScheduler(RQScheduler):
    """RQ's scheduler process (it moves due retries onto their queue), tied to its worker: when the
    worker dies, even by SIGKILL, the kernel sends the scheduler SIGTERM, so no orphan keeps
    running (and holding the scheduler lock) after its worker is gone.

    Its Redis client comes from the hub's connection factory (RQ would rebuild one from the
    worker's pool settings, which cannot follow a Sentinel failover), and a lost Redis ends it
    quietly with SCHEDULER_LOST_REDIS: its worker starts it again once Redis answers."""

    redis_factory = None    # () -> redis.Redis, set by the worker

    def acquire_locks(self, auto_start=False):
        """RQ's own, after freeing each lock whose owner's worker is gone: its owner token is its
        worker's name (see HubWorker._start_scheduler), and a worker without a ``hookhub:alive``
        heartbeat for ALIVE_TTL seconds is dead, so its lock need not run out its minute.
        A scheduler that was alive after all finds its lock taken at its next heartbeat and
        stands down (RQ's own takeover handling)."""
        for queue in self._queue_names:
            key = self.get_locking_key(queue)
            owner = self.connection.get(key)
            owner = owner.decode() if isinstance(owner, bytes) else owner
            if owner and owner != self.name and not self.connection.exists(ALIVE_KEY.format(owner)):
                if self.connection.eval(_DELETE_IF_OWNER, 1, key, owner):
                    log.info("took over the RQ scheduler lock of %s, whose worker is gone", owner)
        return super().acquire_locks(auto_start=auto_start)

    @property
    def connection(self):
        if self._connection is None and self.redis_factory is not None:
            self._connection = self.redis_factory()
        return super().connection

    def start(self):
        self._worker_pid = os.getpid()
        return super().start()

    def work(self):
        # Linux sends the signal when the *thread* that forked us ends: the worker's main thread,
        # or its watchdog thread, which ends only when the worker stops its scheduler anyway.
        _terminate_with_parent()
        if os.getppid() != self._worker_pid:   # the worker died before prctl took effect
            return
        try:
            super().work()
        except redis.RedisError as exc:
            if not is_routine_fault(exc):
                raise
            self.log.debug("scheduler: Redis went away (%s); exiting for the worker to start it again", exc)
            logging.shutdown()
            os._exit(SCHEDULER_LOST_REDIS)   # past RQ's wrapper, which would log a traceback


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
    # (once its lock is free: a dead worker's lock is taken over once its heartbeat has lapsed).
    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=DEFAULT_LOGGING_DATE_FORMAT,
                         log_format=DEFAULT_LOGGING_FORMAT) -> None:
        """RQ's own, with our scheduler class and the watchdog."""
        self.scheduler = HubScheduler(self.queues, connection=self.connection, serializer=self.serializer,
                                      name=self.name,   # the lock's owner token: see HubScheduler.acquire_locks
                                      logging_level=logging_level if logging_level is not None else self.log.level,
                                      date_format=date_format, log_format=log_format)
        self.scheduler.redis_factory = lambda: new_redis_client(self.app)
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
                        if process.exitcode == SCHEDULER_LOST_REDIS:
                            log.info("the RQ scheduler process, stopped when Redis went away, runs again")
                        else:
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
            except Exception as exc:  # perform_job records failures itself; never lose the slot
                if is_routine_fault(exc):   # RQ's bookkeeping met a lost Redis: the job's work is committed
                    redis_outage(self.app).report(f"recording the end of job {job.id}", exc)
                else:
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
    outage = redis_outage(app)
    configure_job_logging(level, outage, app.config.get("HOOKHUB_LOG_FORMAT", "text"))
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
                if is_routine_fault(exc):
                    outage.report("the worker's work loop", exc)
                else:
                    log.error("the work loop failed on a Redis error: %s", exc)
            if burst or stop.is_set() or (worker is not None and _stop_was_requested(worker)):
                return worked
            # RQ's handlers still point at the finished worker: a stop request now must end us.
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            (log.info if outage.ongoing else log.warning)(
                "the work loop ended without a stop request%s; starting it again in 2 s",
                " (Redis is away)" if outage.ongoing else "")
            if stop.wait(2):
                return worked
    finally:
        stop.set()
