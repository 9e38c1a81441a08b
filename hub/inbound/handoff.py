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

from hub.db import get_database
from hub.models import Event, utcnow
from hub.queue import get_queue

log = logging.getLogger(__name__)
BATCH = 200
IDLE_POLL = 0.05          # seconds between looks at an empty outbox: the latency it adds, at most


def drain(app: Flask) -> int:
    """Claim up to BATCH waiting events and enqueue their routing jobs; returns how many."""
    from hub.jobs import route_job_spec

    database = get_database(app)
    with database.engine.begin() as connection:
        waiting = (sa.select(Event.id).where(Event.status == "accepted", Event.enqueued_at.is_(None))
                   .order_by(Event.received_at).limit(BATCH))
        ids = list(connection.scalars(sa.update(Event).where(Event.id.in_(waiting), Event.enqueued_at.is_(None))
                                      .values(enqueued_at=utcnow()).returning(Event.id)))
    if not ids:
        return 0
    queue = get_queue("ingest", app)
    try:
        queue.enqueue_many([route_job_spec(queue, event_id) for event_id in ids])
    except redis.RedisError:
        with database.engine.begin() as connection:    # give the claim back: the next pass retries
            connection.execute(sa.update(Event).where(Event.id.in_(ids)).values(enqueued_at=None))
        raise
    return len(ids)


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
