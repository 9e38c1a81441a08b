"""The RQ queues, named for their work, and which job the current code runs for."""

from __future__ import annotations

from contextvars import ContextVar

from flask import Flask
from rq import Queue, get_current_job

from hub.storage.redis import get_redis

#: Queues named for their work, in the order a worker takes from them: routing accepted events,
#: sending deliveries, housekeeping, then deliveries that have been tried before (retries, an
#: admin's retry), and last the deliveries of the hub's own lifecycle events. A worker takes from a
#: queue only when those before it are empty, so a storm of failing deliveries waits behind fresh
#: ones instead of in front of them.
QUEUE_NAMES = ("ingest", "deliver", "maintenance", "retry", "lifecycle")
#: The job a helper thread (a send) works for: RQ knows the current job only on the job's thread.
WORKING_FOR: ContextVar[str | None] = ContextVar("hookhub_working_for", default=None)


def current_job_id() -> str | None:
    """The RQ job this code runs for, on the job's thread or on a helper thread working for it."""
    job = get_current_job()
    return job.id if job is not None else WORKING_FOR.get()


def get_queue(name: str, app: Flask | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(app))
