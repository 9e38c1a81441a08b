"""Hand deliveries to their queue: ``deliver``, or ``lifecycle`` for those made from the hub's own
lifecycle events (after the ordinary ones: a worker takes from its queues in order, so a storm of
lifecycle deliveries never delays the deliveries they report on). Each job id is recorded on the
delivery (committed before the enqueue), so the sweeper can tell whether a live job still holds it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
from flask import Flask
from rq import Queue
from sqlalchemy.orm import Session

from hub.core.statuses import DeliveryStatus
from hub.delivery.approval import gate
from hub.runtime.views import view_cache
from hub.storage.models import Delivery
from hub.storage.queue import get_queue

log = logging.getLogger(__name__)


DELIVER_BATCH = 50       # deliveries per job: RQ's own cost per job is paid once for them all
DELIVER_JOB = "hub.delivery.engine.deliver_many"
JOB_TIMEOUT, FAILURE_TTL = 3600, 86400


def assign_job(delivery: Delivery, why: str = "") -> str:
    """A fresh job id for the delivery's next run (set it before the commit that precedes enqueue)."""
    delivery.job_id = f"deliver-{uuid.uuid4().hex}{why}"
    return delivery.job_id


def queue_of(delivery: Delivery) -> str:
    """A lifecycle event's delivery goes to ``lifecycle``; one already tried to ``retry``, which a
    worker takes from only when ``deliver`` is empty; a fresh one to ``deliver``."""
    if delivery.purpose == "lifecycle":
        return "lifecycle"
    return "retry" if delivery.attempt_count else "deliver"


def enqueue(app: Flask, delivery_ids: list[str], job_id: str, at: datetime | None = None,
            queue_name: str = "deliver") -> None:
    """Enqueue (or schedule) one job for ``delivery_ids``; a Redis failure is left to the sweeper."""
    queue = get_queue(queue_name, app)
    if at is not None and at.microsecond:
        # RQ's scheduler keeps whole seconds, rounded down: round up so a job never runs early.
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    try:
        if at is None:
            queue.enqueue_many([_job(queue, delivery_ids, job_id)])
        else:
            queue.enqueue_at(at, DELIVER_JOB, args=(delivery_ids,), job_id=job_id, job_timeout=JOB_TIMEOUT,
                             result_ttl=0, failure_ttl=FAILURE_TTL)
    except redis.RedisError as exc:
        log.warning("deliveries %s not enqueued (%s); the sweeper will dispatch them", delivery_ids[:3], exc)


def dispatch_now(app: Flask, session: Session, deliveries: Iterable[Delivery]) -> int:
    """Assign jobs (one per DELIVER_BATCH deliveries), commit, then enqueue them in one round trip:
    for new, retried, replayed or resumed deliveries."""
    deliveries = list(deliveries)
    batches: dict[str, list[tuple[str, list[str]]]] = {}
    for name in sorted({queue_of(d) for d in deliveries}):
        mine = [d for d in deliveries if queue_of(d) == name]
        for start in range(0, len(mine), DELIVER_BATCH):
            chunk = mine[start:start + DELIVER_BATCH]
            job_id = assign_job(chunk[0])
            for delivery in chunk:
                delivery.job_id = job_id
            batches.setdefault(name, []).append((job_id, [d.id for d in chunk]))
    session.commit()
    for name, jobs in batches.items():
        queue = get_queue(name, app)
        try:
            queue.enqueue_many([_job(queue, ids, job_id) for job_id, ids in jobs])
        except redis.RedisError as exc:
            log.warning("%d deliveries not enqueued (%s); the sweeper will dispatch them", len(deliveries), exc)
    return len(deliveries)


def _job(queue: Queue, delivery_ids: list[str], job_id: str) -> Any:
    return queue.prepare_data(DELIVER_JOB, args=(delivery_ids,), job_id=job_id, timeout=JOB_TIMEOUT, result_ttl=0,
                              failure_ttl=FAILURE_TTL)


def dispatch_new(app: Flask, session: Session, deliveries: Iterable[Delivery]) -> int:
    """Deliveries just created by routing or replay: through the approval gate, then dispatched."""
    deliveries = list(deliveries)
    requests = gate(app, session, deliveries, view_cache(app, session))
    return dispatch_now(app, session, [d for d in deliveries if d.status == DeliveryStatus.QUEUED] + requests)


def resume_connection(app: Flask, session: Session, connection_id: str) -> int:
    """Dispatch the queued deliveries of a connection that was just re-activated."""
    held = session.scalars(sa.select(Delivery).where(
        Delivery.connection_id == connection_id, Delivery.status == DeliveryStatus.QUEUED)).all()
    return dispatch_now(app, session, held)
