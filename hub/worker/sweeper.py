"""The sweeper: re-enqueues committed work that no live job holds (Redis was down, a process died
between commit and enqueue, or a worker was killed mid-job), and runs the housekeeping. A thread in
every worker, one sweeping at a time under a Redis lock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import redis
import sqlalchemy as sa
from flask import Flask

from hub.core.statuses import EventStatus
from hub.core.times import utcnow
from hub.delivery.routing import enqueue_routing, new_route_job_id
from hub.storage import db
from hub.storage.models import Event
from hub.storage.redis import get_redis
from hub.storage.redis_outage import is_routine_fault, redis_outage
from hub.worker.housekeeping import catch_up, housekeep
from hub.worker.liveness import ALIVE_KEY, ALIVE_TTL, job_is_held, mark_alive
from hub.worker.recovery import requeue_stuck_deliveries

__all__ = ["ALIVE_KEY", "job_is_held", "start_background", "stuck_events", "sweep"]

log = logging.getLogger(__name__)
LOCK_KEY = "hookhub:sweeper:lock"
HOUSEKEEPING_KEY = "hookhub:sweeper:housekeeping"
HOUSEKEEPING_INTERVAL = 600
#: Set while a retention pass left expired rows behind: each sweep then runs another retention
#: pass (hub.worker.housekeeping.catch_up) instead of waiting for the next housekeeping. A pass
#: deletes up to 20,000 rows per workspace: every HOOKHUB_SWEEP_INTERVAL (15 s) instead of every
#: HOUSEKEEPING_INTERVAL, ~1,300 rows/s per workspace rather than 33.
RETENTION_BACKLOG_KEY = "hookhub:sweeper:retention-backlog"


def stuck_events(limit: int = 500, older_than_seconds: float = 10.0) -> list[tuple[str, str | None]]:
    """(id, routing job) of accepted events a hand-off pump claimed a while ago that are still not
    routed (Redis lost the job, or the pump died before enqueueing). Unclaimed events are the pump's."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    rows = db.session().execute(sa.select(Event.id, Event.route_job).where(
        Event.status == EventStatus.ACCEPTED, Event.enqueued_at < cutoff).order_by(Event.received_at).limit(limit))
    return [(row.id, row.route_job) for row in rows]


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
        counts["deliveries_requeued"] = requeue_stuck_deliveries(app, client)
        # Housekeeping scans big tables: every HOUSEKEEPING_INTERVAL, not every sweep (the inbound
        # path frees an expired dedupe key by itself when it meets one).
        if force or client.set(HOUSEKEEPING_KEY, "1", nx=True, ex=HOUSEKEEPING_INTERVAL):
            counts.update(housekeep(app, session))
            session.commit()
        elif client.exists(RETENTION_BACKLOG_KEY):   # the last pass left expired rows: go on now
            counts.update(catch_up(session))
            session.commit()
        if "retention_unfinished" in counts:
            if counts["retention_unfinished"]:
                client.set(RETENTION_BACKLOG_KEY, "1", ex=HOUSEKEEPING_INTERVAL)
            else:
                client.delete(RETENTION_BACKLOG_KEY)
    if counts["events_requeued"] or counts.get("deliveries_requeued"):
        log.warning("sweeper re-enqueued %s", counts)
    return counts


def start_background(app: Flask, worker_name: Callable[[], str], stop: threading.Event) -> threading.Thread:
    """Heartbeat this worker (under its current name) and sweep every HOOKHUB_SWEEP_INTERVAL
    seconds until ``stop`` is set."""
    interval = float(app.config["HOOKHUB_SWEEP_INTERVAL"])
    outage = redis_outage(app)

    def loop() -> None:
        while not stop.is_set():
            try:
                mark_alive(get_redis(app), worker_name())
                outage.over()                 # Redis answered: an outage, if any, is over
                sweep(app)
            except redis.RedisError as exc:
                if is_routine_fault(exc):
                    outage.report("the sweeper", exc)
                else:
                    log.warning("sweep skipped: %s", exc)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("sweep skipped: %s", exc)
            except Exception:
                log.exception("sweep failed")
            stop.wait(min(interval, ALIVE_TTL / 3))

    thread = threading.Thread(target=loop, name="hookhub-sweeper", daemon=True)
    thread.start()
    return thread
