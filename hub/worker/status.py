"""What the workers are doing now, as Redis knows it: how many jobs wait in each queue, how many are
scheduled (retries due later) or running, and how many workers are alive (their heartbeat keys).
Hub-wide, not per workspace: the queues are shared."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import redis
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from hub.storage.queue import QUEUE_NAMES
from hub.worker.liveness import ALIVE_KEY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueDepth:
    name: str
    waiting: int        # in the queue, for the next free worker thread
    scheduled: int      # retries and other jobs due later
    running: int


@dataclass(frozen=True)
class WorkerStatus:
    """``available`` is False when Redis did not answer (then nothing else is known)."""

    available: bool
    queues: list[QueueDepth] = field(default_factory=list)
    live_workers: int = 0

    @property
    def waiting(self) -> int:
        return sum(queue.waiting for queue in self.queues)


def worker_status(client: redis.Redis) -> WorkerStatus:
    """A few Redis reads per queue and one scan of the heartbeat keys (one per live worker)."""
    try:
        queues = []
        for name in QUEUE_NAMES:
            queue = Queue(name, connection=client)
            queues.append(QueueDepth(name, queue.count, ScheduledJobRegistry(queue=queue).count,
                                     StartedJobRegistry(queue=queue).count))
        workers = sum(1 for _ in client.scan_iter(match=ALIVE_KEY.format("*"), count=100))
    except redis.RedisError as exc:
        log.warning("worker status: Redis did not answer: %s", exc)
        return WorkerStatus(available=False)
    return WorkerStatus(available=True, queues=queues, live_workers=workers)
