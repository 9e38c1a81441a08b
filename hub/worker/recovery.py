"""Deliveries that no live job holds are dispatched again (the delivery engine's share of the sweep)."""

from __future__ import annotations

from datetime import timedelta

import redis
import sqlalchemy as sa
from flask import Flask

from hub.core.statuses import ACTIVE_DELIVERY
from hub.core.times import utcnow
from hub.delivery.dispatch import dispatch_now
from hub.runtime.plugin_host import get_host
from hub.storage import db
from hub.storage.models import Connection, Delivery
from hub.worker.liveness import job_is_held


def requeue_stuck_deliveries(app: Flask, client: redis.Redis, limit: int = 500) -> int:
    """Queued or sending deliveries of active connections whose job is gone or held by a dead worker
    (SIGKILL mid-send): dispatched again, keeping their webhook-id. A delivery whose channel this
    worker does not have is left for a worker that has it (the engine would only hold it again)."""
    session = db.session()
    cutoff = utcnow() - timedelta(seconds=5)
    channels = list(get_host(app).channels)
    candidates = session.scalars(sa.select(Delivery).join(Connection, Connection.id == Delivery.connection_id).where(
        Delivery.status.in_(ACTIVE_DELIVERY), Connection.active.is_(True), Connection.channel.in_(channels),
        sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at < cutoff),
        Delivery.updated_at < cutoff).limit(limit)).all()
    held: dict[str, bool] = {}       # deliveries share batch jobs: ask Redis once per job
    for job_id in {d.job_id for d in candidates if d.job_id}:
        held[job_id] = job_is_held(client, job_id)
    stuck = [d for d in candidates if not (d.job_id and held[d.job_id])]
    return dispatch_now(app, session, stuck) if stuck else 0
