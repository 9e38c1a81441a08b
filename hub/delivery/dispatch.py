"""Hand deliveries to the deliver queue. Each job id is recorded on the delivery (committed before
the enqueue), so the sweeper can tell whether a live job still holds it."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from hub.models import Delivery
from hub.queue import get_queue

log = logging.getLogger(__name__)


def assign_job(delivery: Delivery, why: str = "") -> str:
    """A fresh job id for the delivery's next run (set it before the commit that precedes enqueue)."""
    delivery.job_id = f"deliver-{delivery.id}-{delivery.attempt_count}{why}-{time.time_ns() % 10**9}"
    return delivery.job_id


def enqueue(app: Flask, delivery_id: str, job_id: str, at: datetime | None = None) -> None:
    """Enqueue (or schedule) one delivery job; a Redis failure is left to the sweeper."""
    queue = get_queue("deliver", app)
    if at is not None and at.microsecond:
        # RQ's scheduler keeps whole seconds, rounded down: round up so a job never runs early.
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    kwargs = dict(args=(delivery_id,), job_id=job_id, result_ttl=0, failure_ttl=86400, timeout=120)
    try:
        if at is None:
            queue.enqueue_call("hub.delivery.engine.deliver", **kwargs)
        else:
            queue.enqueue_at(at, "hub.delivery.engine.deliver", **kwargs)
    except redis.RedisError as exc:
        log.warning("delivery %s not enqueued (%s); the sweeper will dispatch it", delivery_id, exc)


def dispatch_now(app: Flask, session: Session, deliveries: Iterable[Delivery]) -> int:
    """Assign jobs, commit, then enqueue: for new, retried, replayed or resumed deliveries."""
    pending = [(d.id, assign_job(d)) for d in deliveries]
    session.commit()
    for delivery_id, job_id in pending:
        enqueue(app, delivery_id, job_id)
    return len(pending)


def dispatch_new(app: Flask, session: Session, deliveries: Iterable[Delivery]) -> int:
    """Deliveries just created by routing or replay: through the approval gate, then dispatched."""
    from hub.delivery.approval import gate
    from hub.plugin_host import get_host
    from hub.services.connections import ConnectionService
    from hub.vault import get_vault

    deliveries = list(deliveries)
    gate(session, deliveries, ConnectionService(session, get_host(app), get_vault(app), public_url="").view)
    return dispatch_now(app, session, [d for d in deliveries if d.status == "queued"])


def resume_connection(app: Flask, session: Session, connection_id: str) -> int:
    """Dispatch the queued deliveries of a connection that was just re-activated."""
    held = session.scalars(sa.select(Delivery).where(
        Delivery.connection_id == connection_id, Delivery.status == "queued")).all()
    return dispatch_now(app, session, held)
