"""Hand a queued delivery to the deliver queue (now, or at its next attempt time)."""

from __future__ import annotations

import logging
from datetime import datetime

import redis
from flask import Flask

from hub.queue import get_queue

log = logging.getLogger(__name__)


def deliver_job_id(delivery_id: str, attempt: int = 0) -> str:
    return f"deliver-{delivery_id}-{attempt}"


def dispatch(delivery_id: str, app: Flask, *, at: datetime | None = None, attempt: int = 0) -> None:
    """Enqueue the delivery job; a Redis failure is logged (the sweeper re-dispatches)."""
    queue = get_queue("deliver", app)
    kwargs = dict(args=(delivery_id,), job_id=deliver_job_id(delivery_id, attempt), result_ttl=0,
                  failure_ttl=86400, timeout=120)
    try:
        if at is None:
            queue.enqueue_call("hub.delivery.engine.deliver", **kwargs)
        else:
            queue.enqueue_at(at, "hub.delivery.engine.deliver", **kwargs)
    except redis.RedisError as exc:
        log.warning("delivery %s not enqueued (%s); the sweeper will dispatch it", delivery_id, exc)
