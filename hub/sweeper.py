"""The sweeper: re-enqueues committed work that no live job holds (Redis was down, a process died
between commit and enqueue, or a worker was killed mid-job). Runs in every worker, one at a time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, timedelta

import redis
import sqlalchemy as sa
from flask import Flask
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from hub import db
from hub.delivery.approval import expire_overdue
from hub.jobs import enqueue_routing, new_route_job_id, stuck_events
from hub.models import Connection, Event, Failure, utcnow
from hub.queue import get_redis

log = logging.getLogger(__name__)
LOCK_KEY = "hookhub:sweeper:lock"
HOUSEKEEPING_KEY = "hookhub:sweeper:housekeeping"
HOUSEKEEPING_INTERVAL = 600
ALIVE_KEY = "hookhub:alive:{}"
ALIVE_TTL = 15
FAILURE_RETENTION = timedelta(days=30)
FAILED_PAUSE = timedelta(seconds=30)
SCHEDULE_STALL = timedelta(minutes=3)   # a scheduled job this overdue has no scheduler moving it
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def mark_alive(client: redis.Redis, worker_name: str) -> None:
    client.set(ALIVE_KEY.format(worker_name), "1", ex=ALIVE_TTL)


def job_is_held(client: redis.Redis, job_id: str) -> bool:
    """True when a job with this id is waiting, running on a worker that is still alive, or failed
    less than FAILED_PAUSE ago. The work it was for is still pending (the caller checked), so a
    failed or abandoned job is run again — after a pause, so a poison event cannot spin."""
    try:
        job = Job.fetch(job_id, connection=client)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        # "queued" is only true while the id is in its queue: a job dequeued into RQ's intermediate
        # list just before a Redis outage keeps the status but no worker will ever run it.
        # Our workers dequeue only when a thread is free, so a job passes through the intermediate
        # list in an instant: one found there later was stranded.
        return client.lpos(Queue(job.origin, connection=client).key, job_id) is not None
    if status == JobStatus.SCHEDULED:
        # Held while a scheduler can still move it to its queue: RQ's scheduler runs every second,
        # and a stopped one is restarted within about a minute (hub.worker), so a job long overdue
        # is stranded. Its work is dispatched again under a new job id; the old job, should it run
        # after all, finds its deliveries taken by the new one and skips them (hub.delivery.engine).
        due = client.zscore(ScheduledJobRegistry(job.origin, connection=client).key, job_id)
        return due is not None and due > (utcnow() - SCHEDULE_STALL).timestamp()
    if status in WAITING:
        return True
    if status == JobStatus.STARTED:
        return bool(job.worker_name) and bool(client.exists(ALIVE_KEY.format(job.worker_name)))
    if status == JobStatus.FAILED and job.ended_at is not None:
        ended = job.ended_at if job.ended_at.tzinfo else job.ended_at.replace(tzinfo=UTC)
        return utcnow() - ended < FAILED_PAUSE
    return False


def sweep(app: Flask, *, force: bool = False) -> dict[str, int]:
    """One pass; returns what it did. Holds a Redis lock so only one worker sweeps at a time."""
    counts = {"events_requeued": 0, "failures_pruned": 0}
    with app.app_context():
        client = get_redis(app)
        interval = int(app.config["HOOKHUB_SWEEP_INTERVAL"])
        if not force and not client.set(LOCK_KEY, "1", nx=True, ex=max(1, interval - 1)):
            return counts
        session = db.session()
        for event_id, route_job in stuck_events():
            if route_job and job_is_held(client, route_job):
                continue
            job_id = new_route_job_id()
            session.execute(sa.update(Event).where(Event.id == event_id).values(route_job=job_id))
            session.commit()                          # recorded before the job exists, like the pump does
            enqueue_routing([event_id], job_id, app)
            counts["events_requeued"] += 1
        from hub.delivery.recovery import requeue_stuck_deliveries

        counts["deliveries_requeued"] = requeue_stuck_deliveries(app, client)
        # Housekeeping scans big tables: every HOUSEKEEPING_INTERVAL, not every sweep (the inbound
        # path frees an expired dedupe key by itself when it meets one).
        if force or client.set(HOUSEKEEPING_KEY, "1", nx=True, ex=HOUSEKEEPING_INTERVAL):
            result = session.execute(sa.delete(Failure).where(Failure.at < utcnow() - FAILURE_RETENTION))
            counts["failures_pruned"] = result.rowcount or 0
            counts["dedupe_keys_expired"] = expire_dedupe_keys(session, int(app.config["HOOKHUB_DEDUPE_WINDOW"]))
            counts["approvals_expired"] = expire_overdue(session)
            session.commit()
    if counts["events_requeued"] or counts.get("deliveries_requeued"):
        log.warning("sweeper re-enqueued %s", counts)
    return counts


def expire_dedupe_keys(session: sa.orm.Session, default_window: int) -> int:
    """Free the event ids whose dedupe window has passed, connection by connection."""
    expired = 0
    rows = session.execute(sa.select(Connection.id, Connection.provider_config).where(
        Connection.provider.is_not(None))).all()
    for connection_id, config in rows:
        window = (config or {}).get("dedupe_window")
        window = default_window if window is None else int(window)
        result = session.execute(sa.update(Event).where(
            Event.connection_id == connection_id, Event.dedupe_key.is_not(None),
            Event.received_at < utcnow() - timedelta(seconds=window)).values(dedupe_key=None))
        expired += result.rowcount or 0
    return expired


def start_background(app: Flask, worker_name: Callable[[], str], stop: threading.Event) -> threading.Thread:
    """Heartbeat this worker (under its current name) and sweep every HOOKHUB_SWEEP_INTERVAL
    seconds until ``stop`` is set."""
    interval = float(app.config["HOOKHUB_SWEEP_INTERVAL"])

    def loop() -> None:
        while not stop.is_set():
            try:
                mark_alive(get_redis(app), worker_name())
                sweep(app)
            except (redis.RedisError, sa.exc.SQLAlchemyError) as exc:
                log.warning("sweep skipped: %s", exc)
            except Exception:
                log.exception("sweep failed")
            stop.wait(min(interval, ALIVE_TTL / 3))

    thread = threading.Thread(target=loop, name="hookhub-sweeper", daemon=True)
    thread.start()
    return thread
