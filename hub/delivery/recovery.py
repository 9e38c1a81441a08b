"""Deliveries that no live job holds are dispatched again (the delivery engine's share of the sweep)."""

from __future__ import annotations

from datetime import timedelta

import redis
import sqlalchemy as sa
from flask import Flask

from hub import db
from hub.delivery.dispatch import deliver_job_id, dispatch
from hub.models import Delivery, utcnow


def requeue_stuck_deliveries(app: Flask, client: redis.Redis, limit: int = 500) -> int:
    from hub.sweeper import job_is_held

    cutoff = utcnow() - timedelta(seconds=10)
    rows = db.session().execute(sa.select(Delivery.id, Delivery.attempt_count).where(
        Delivery.status.in_(("queued", "sending")),
        sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at < cutoff),
        Delivery.updated_at < cutoff).limit(limit)).all()
    count = 0
    for delivery_id, attempts in rows:
        if not job_is_held(client, deliver_job_id(delivery_id, attempts)):
            dispatch(delivery_id, app, attempt=attempts)
            count += 1
    return count
