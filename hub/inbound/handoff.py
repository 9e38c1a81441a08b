"""From a committed event to its routing job without paying for an RQ enqueue in the request:
the request pushes the event id on a Redis list (one round trip); a pump in every worker moves
ids into the RQ ``ingest`` queue in pipelined batches. Whatever is lost in between (Redis down,
a crash) is still an accepted event in the database, which the sweeper enqueues."""

from __future__ import annotations

import logging
import threading

import redis
from flask import Flask

from hub.queue import get_queue, get_redis

log = logging.getLogger(__name__)
HANDOFF_KEY = "hookhub:ingest:handoff"
BATCH = 200


def hand_off(client: redis.Redis, event_id: str) -> None:
    client.lpush(HANDOFF_KEY, event_id)


def drain(app: Flask, *, block: float = 0.0) -> int:
    """Move waiting ids into routing jobs; returns how many. Waits up to ``block`` seconds for one."""
    from hub.jobs import route_job_spec

    client = get_redis(app)
    ids: list[bytes] = []
    if block:
        first = client.brpop([HANDOFF_KEY], timeout=block)
        if first is None:
            return 0
        ids.append(first[1])
    more = client.rpop(HANDOFF_KEY, BATCH - len(ids))
    ids.extend(more or [])
    if not ids:
        return 0
    queue = get_queue("ingest", app)
    queue.enqueue_many([route_job_spec(queue, i.decode()) for i in ids])
    return len(ids)


def start_pump(app: Flask, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            try:
                drain(app, block=1.0)
            except redis.RedisError as exc:
                log.warning("handoff pump waiting for Redis: %s", exc)
                stop.wait(1.0)
            except Exception:
                log.exception("handoff pump failed")
                stop.wait(1.0)

    thread = threading.Thread(target=loop, name="hookhub-handoff", daemon=True)
    thread.start()
    return thread
