"""From a committed event to its routing job without touching Redis in the request: the events
table is the outbox. A pump in every worker claims accepted events that no pump has taken yet
(``enqueued_at`` is empty), enqueues their routing jobs in one pipelined batch, and gives the
claim back if Redis refuses. An event claimed by a pump that died before enqueueing is still
``accepted`` in the database, and the sweeper enqueues it."""

from __future__ import annotations

import logging
import threading

import redis
import sqlalchemy as sa
from flask import Flask

from hub.core.statuses import EventStatus
from hub.core.times import utcnow
from hub.delivery.routing import new_route_job_id, route_job_spec
from hub.storage.db import get_database
from hub.storage.models import Event
from hub.storage.queue import get_queue

log = logging.getLogger(__name__)
BATCH = 200              # events claimed per pass
ROUTE_BATCH = 50         # events per routing job: RQ's own cost per job is paid once for them all
IDLE_POLL = 0.05          # seconds between looks at an empty outbox: the latency it adds, at most


def drain(app: Flask) -> int:
    """Claim up to BATCH waiting events, ROUTE_BATCH to a routing job, and enqueue those jobs in
    one round trip; returns how many events."""
    database = get_database(app)
    batches: list[tuple[str, list[str]]] = []
    with database.engine.begin() as connection:
        for _ in range(BATCH // ROUTE_BATCH):
            job_id = new_route_job_id()
            # SKIP LOCKED (PostgreSQL; SQLite has no row locks and ignores it): events another
            # worker's pump is claiming right now are left to it, not waited for — that pump's
            # transaction could hold them until its commit, and they would be claimed by it anyway.
            waiting = (sa.select(Event.id).where(Event.status == EventStatus.ACCEPTED, Event.enqueued_at.is_(None))
                       .order_by(Event.received_at).limit(ROUTE_BATCH).with_for_update(skip_locked=True))
            ids = list(connection.scalars(sa.update(Event).where(Event.id.in_(waiting), Event.enqueued_at.is_(None))
                                          .values(enqueued_at=utcnow(), route_job=job_id).returning(Event.id)))
            if ids:
                batches.append((job_id, ids))
            if len(ids) < ROUTE_BATCH:
                break
    if not batches:
        return 0
    queue = get_queue("ingest", app)
    try:
        queue.enqueue_many([route_job_spec(queue, ids, job_id) for job_id, ids in batches])
    except redis.RedisError:
        with database.engine.begin() as connection:    # give the claim back: the next pass retries
            connection.execute(sa.update(Event).where(Event.route_job.in_([job for job, _ in batches]))
                               .values(enqueued_at=None, route_job=None))
        raise
    return sum(len(ids) for _, ids in batches)


def start_pump(app: Flask, stop: threading.Event) -> threading.Thread:
    """Drain the outbox until ``stop`` is set: at once while there is a backlog, else every
    IDLE_POLL seconds; waiting a second after an error (Redis or the database away)."""
    def loop() -> None:
        while not stop.is_set():
            try:
                if drain(app) < BATCH:
                    stop.wait(IDLE_POLL)
            except (redis.RedisError, sa.exc.SQLAlchemyError) as exc:
                log.warning("handoff pump waiting for Redis or the database: %s", exc)
                stop.wait(1.0)
            except Exception:
                log.exception("handoff pump failed")
                stop.wait(1.0)

    thread = threading.Thread(target=loop, name="hookhub-handoff", daemon=True)
    thread.start()
    return thread
