"""Per-connection pacing shared by every worker through Redis: a cooldown a channel asked for,
the rate limit, and the concurrency cap. Each answers "wait N seconds", never sleeps.

A ``max_concurrency`` slot is a lease: the connection's sorted set holds one member per send in
flight (the delivery id) scored with the moment its lease ends, in Redis's own clock. Taking a slot
first drops the ended leases, so a worker killed mid-send holds its slot only until its lease ends
— the send's timeout plus ``HOOKHUB_CONCURRENCY_LEASE_GRACE`` — however many deliveries keep asking
meanwhile. Each step is one Lua script, atomic on the server."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import redis
from flask import Flask

from hub.plugin import Channel
from hub.storage.extensions import app_object
from hub.storage.models import Connection
from hub.storage.ratelimit import get_rate_limiter
from hub.storage.redis import get_redis

log = logging.getLogger(__name__)
COOLDOWN_KEY = "hookhub:cooldown:{}"
SLOTS_KEY = "hookhub:slots:{}"           # sorted set: delivery id → end of its lease (ms, Redis time)

# KEYS[1] the connection's leases; ARGV holder, cap, lease (ms). 0 when the holder has a slot (taken
# or renewed), else the milliseconds until the earliest lease ends.
TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)
"""
# KEYS[1] the connection's leases; ARGV holder, lease (ms). The holder's lease ends ``lease`` from
# now (taken again if it had already ended); 1 when it was still held.
RENEW_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
if held and tonumber(held) > now then return 1 end
return 0
"""


@dataclass(frozen=True)
class Slot:
    """A concurrency slot held by ``holder`` on a connection's leases, for ``lease_ms`` at a time."""

    key: str
    holder: str
    lease_ms: int


@dataclass(frozen=True)
class Pacing:
    """``wait`` seconds before the delivery may go (0.0: now), and the slot it then holds."""

    wait: float = 0.0
    slot: Slot | None = None


def acquire(app: Flask, conn: Connection, channel: Channel, holder: str,
            cooldowns: dict[str, int] | None = None) -> Pacing:
    """May ``holder`` (a delivery) be sent to ``conn`` now? When the connection caps its
    concurrency, a go comes with a :class:`Slot`, held until :func:`release` or its lease ends.

    ``cooldowns`` (a dict kept for one batch of deliveries being prepared) remembers each
    connection's cooldown as read for the first of them: a cooldown starts when an answer asks for
    it, and no answer arrives while a batch is prepared, so one read serves the batch (it was a
    Redis round trip per delivery, ~6 % of a worker's time delivering to one endpoint)."""
    client = get_redis(app)
    config = conn.channel_config or {}
    try:
        cooldown_ms = cooldowns.get(conn.id) if cooldowns is not None else None
        if cooldown_ms is None:
            cooldown_ms = client.pttl(COOLDOWN_KEY.format(conn.id))
            if cooldowns is not None:
                cooldowns[conn.id] = cooldown_ms
        if cooldown_ms and cooldown_ms > 0:
            return Pacing(cooldown_ms / 1000.0)
        limit = config.get("rate_limit") or channel.default_rate_limit
        if limit:
            wait = get_rate_limiter(app).check(f"outbound:{conn.id}", limit)
            if wait:
                return Pacing(wait + random.uniform(0, 0.05))   # spread the herd over the next window
        cap = config.get("max_concurrency")
        if cap:
            slot = Slot(SLOTS_KEY.format(conn.id), holder, lease_ms(app, config))
            if _scripts(app)[0](keys=[slot.key], args=[holder, int(cap), slot.lease_ms], client=client):
                return Pacing(0.2 + random.uniform(0, 0.3))   # slots free as sends finish: ask again soon
            return Pacing(0.0, slot)
    except redis.RedisError as exc:
        log.warning("pacing unavailable for %s, sending anyway: %s", conn.id, exc)
    return Pacing()


def renew(app: Flask, slot: Slot | None) -> None:
    """The send is starting now: its lease runs a full term from here (a send may wait for a free
    thread of the send pool after its slot was taken)."""
    if slot is None:
        return
    try:
        if not _scripts(app)[1](keys=[slot.key], args=[slot.holder, slot.lease_ms], client=get_redis(app)):
            log.debug("the concurrency lease of %s had ended before its send started; taken again", slot.holder)
    except redis.RedisError:
        pass   # the lease runs on; at worst it ends before this send does


def release(app: Flask, slot: Slot | None) -> None:
    if slot is None:
        return
    try:
        get_redis(app).zrem(slot.key, slot.holder)
    except redis.RedisError:
        pass   # the lease ends by itself


def lease_ms(app: Flask, channel_config: dict) -> int:
    """How long a slot is held at most: the send's own timeout plus HOOKHUB_CONCURRENCY_LEASE_GRACE
    (rendering, signing and recording the outcome happen inside the lease too)."""
    try:
        timeout = float(channel_config.get("timeout") or app.config["HOOKHUB_OUTBOUND_TIMEOUT"])
    except (TypeError, ValueError):   # a ${param.…} the view resolves later
        timeout = float(app.config["HOOKHUB_OUTBOUND_TIMEOUT"])
    return int((timeout + float(app.config["HOOKHUB_CONCURRENCY_LEASE_GRACE"])) * 1000)


def cool_down(app: Flask, conn: Connection, seconds: float) -> None:
    """Send nothing more to ``conn`` for ``seconds`` (a vendor's rate-limit bucket ran dry)."""
    try:
        get_redis(app).set(COOLDOWN_KEY.format(conn.id), "1", px=max(1, int(seconds * 1000)))
    except redis.RedisError:
        pass


def _scripts(app: Flask) -> tuple:
    client = get_redis(app)
    return app_object(app, "hookhub.pacing_scripts",
                      lambda: (client.register_script(TAKE_SLOT), client.register_script(RENEW_SLOT)))
