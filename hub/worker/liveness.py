"""Whether a job still holds its work: worker heartbeats in Redis, and RQ's view of the job. The
sweeper and the recovery of deliveries ask here before they dispatch anything again."""

from __future__ import annotations

from datetime import UTC, timedelta

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from hub.core.times import utcnow

ALIVE_KEY = "hookhub:alive:{}"
ALIVE_TTL = 15
FAILED_PAUSE = timedelta(seconds=30)
SCHEDULE_STALL = timedelta(minutes=3)   # a scheduled job this overdue has no scheduler moving it
WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def mark_alive(client: redis.Redis, worker_name: str) -> None:
    client.set(ALIVE_KEY.format(worker_name), "1", ex=ALIVE_TTL)


def job_is_held(client: redis.Redis, job_id: str) -> bool:
    """True when a job with this id is waiting, running on a worker that is still alive, or failed
    less than FAILED_PAUSE ago. The work it was for is still pending (the caller checked), so a
    failed or abandoned job is run again — after a pause, so a poison event cannot spin."""
    try:
        job = Job.fetch(job_id, connection=client)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status == JobStatus.QUEUED:
        # "queued" is only true while the id is in its queue: a job dequeued into RQ's intermediate
        # list just before a Redis outage keeps the status but no worker will ever run it.
        # Our workers dequeue only when a thread is free, so a job passes through the intermediate
        # list in an instant: one found there later was stranded.
        return client.lpos(Queue(job.origin, connection=client).key, job_id) is not None
    if status == JobStatus.SCHEDULED:
        # Held while a scheduler can still move it to its queue: RQ's scheduler runs every second,
        # a stopped one is restarted within seconds and a dead worker's lock is taken over once its
        # heartbeat lapses (hub.worker.runner), so a job long overdue is stranded. Its work is
        # dispatched again under a new job id; the old job, should it run after all, finds its
        # deliveries taken by the new one and skips them (hub.delivery.engine).
        due = client.zscore(ScheduledJobRegistry(job.origin, connection=client).key, job_id)
        return due is not None and due > (utcnow() - SCHEDULE_STALL).timestamp()
    if status in WAITING:
        return True
    if status == JobStatus.STARTED:
        return bool(job.worker_name) and bool(client.exists(ALIVE_KEY.format(job.worker_name)))
    if status == JobStatus.FAILED and job.ended_at is not None:
        ended = job.ended_at if job.ended_at.tzinfo else job.ended_at.replace(tzinfo=UTC)
        return utcnow() - ended < FAILED_PAUSE
    return False
