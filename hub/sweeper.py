"""The sweeper: re-enqueues committed work that no live job holds (Redis was down, a process died
between commit and enqueue, or a worker was killed mid-job). Runs in every worker, one at a time."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import redis
import sqlalchemy as sa
from flask import Flask
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from hub import db
from hub.jobs import enqueue_route, route_job_id, stuck_events
from hub.models import Failure, utcnow
from hub.queue import get_redis

log = logging.getLogger(__name__)
LOCK_KEY = "hookhub:sweeper:lock"
ALIVE_KEY = "hookhub:alive:{}"
ALIVE_TTL = 15
FAILURE_RETENTION = timedelta(days=30)
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def mark_alive(client: redis.Redis, worker_name: str) -> None:
    client.set(ALIVE_KEY.format(worker_name), "1", ex=ALIVE_TTL)


def job_is_held(client: redis.Redis, job_id: str) -> bool:
    """True when a job with this id is waiting, or running on a worker that is still alive."""
    try:
        job = Job.fetch(job_id, connection=client)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status in WAITING:
        return True
    if status == JobStatus.STARTED:
        return bool(job.worker_name) and bool(client.exists(ALIVE_KEY.format(job.worker_name)))
    return status == JobStatus.FAILED  # exhausted retries: left for an admin, not re-run in a loop


def sweep(app: Flask, *, force: bool = False) -> dict[str, int]:
    """One pass; returns what it did. Holds a Redis lock so only one worker sweeps at a time."""
    counts = {"events_requeued": 0, "failures_pruned": 0}
    with app.app_context():
        client = get_redis(app)
        interval = int(app.config["HOOKHUB_SWEEP_INTERVAL"])
        if not force and not client.set(LOCK_KEY, "1", nx=True, ex=max(1, interval - 1)):
            return counts
        for event_id in stuck_events():
            if not job_is_held(client, route_job_id(event_id)):
                enqueue_route(event_id, app)
                counts["events_requeued"] += 1
        from hub.delivery.recovery import requeue_stuck_deliveries

        counts["deliveries_requeued"] = requeue_stuck_deliveries(app, client)
        session = db.session()
        result = session.execute(sa.delete(Failure).where(Failure.at < utcnow() - FAILURE_RETENTION))
        session.commit()
        counts["failures_pruned"] = result.rowcount or 0
    if counts["events_requeued"] or counts.get("deliveries_requeued"):
        log.warning("sweeper re-enqueued %s", counts)
    return counts


def start_background(app: Flask, worker_name: str, stop: threading.Event) -> threading.Thread:
    """Heartbeat this worker and sweep every HOOKHUB_SWEEP_INTERVAL seconds until ``stop`` is set."""
    interval = float(app.config["HOOKHUB_SWEEP_INTERVAL"])

    def loop() -> None:
        while not stop.is_set():
            try:
                mark_alive(get_redis(app), worker_name)
                sweep(app)
            except (redis.RedisError, sa.exc.SQLAlchemyError) as exc:
                log.warning("sweep skipped: %s", exc)
            except Exception:
                log.exception("sweep failed")
            stop.wait(min(interval, ALIVE_TTL / 3))

    thread = threading.Thread(target=loop, name="hookhub-sweeper", daemon=True)
    thread.start()
    return thread
