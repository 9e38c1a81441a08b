"""Per-connection pacing shared by every worker through Redis: a cooldown a channel asked for,
the rate limit, and the concurrency cap. Each answers "wait N seconds", never sleeps."""

from __future__ import annotations

import logging
import random

import redis
from flask import Flask

from hub.plugin import Channel
from hub.storage.models import Connection
from hub.storage.ratelimit import get_rate_limiter
from hub.storage.redis import get_redis

log = logging.getLogger(__name__)
COOLDOWN_KEY = "hookhub:cooldown:{}"
INFLIGHT_KEY = "hookhub:inflight:{}"


def acquire(app: Flask, conn: Connection, channel: Channel) -> float:
    """0.0 when the delivery may go now (a concurrency slot is then held until :func:`release`),
    else the seconds to wait."""
    client = get_redis(app)
    config = conn.channel_config or {}
    try:
        cooldown_ms = client.pttl(COOLDOWN_KEY.format(conn.id))
        if cooldown_ms and cooldown_ms > 0:
            return cooldown_ms / 1000.0
        limit = config.get("rate_limit") or channel.default_rate_limit
        if limit:
            wait = get_rate_limiter(app).check(f"outbound:{conn.id}", limit)
            if wait:
                return wait + random.uniform(0, 0.05)   # spread the herd over the next window
        cap = config.get("max_concurrency")
        if cap:
            key = INFLIGHT_KEY.format(conn.id)
            in_flight = client.incr(key)
            client.expire(key, 300)                     # a killed worker's slot frees itself
            if in_flight > int(cap):
                client.decr(key)
                return 0.2 + random.uniform(0, 0.3)
    except redis.RedisError as exc:
        log.warning("pacing unavailable for %s, sending anyway: %s", conn.id, exc)
    return 0.0


def release(app: Flask, conn: Connection) -> None:
    if not (conn.channel_config or {}).get("max_concurrency"):
        return
    try:
        get_redis(app).decr(INFLIGHT_KEY.format(conn.id))
    except redis.RedisError:
        pass


def cool_down(app: Flask, conn: Connection, seconds: float) -> None:
    """Send nothing more to ``conn`` for ``seconds`` (a vendor's rate-limit bucket ran dry)."""
    try:
        get_redis(app).set(COOLDOWN_KEY.format(conn.id), "1", px=max(1, int(seconds * 1000)))
    except redis.RedisError:
        pass
