"""Rate limits shared by every process through Redis (the ``limits`` library, fixed windows), on
the app's own Redis client: the same connection pool, so a Sentinel failover or a ``rediss://``
URL works for the limits exactly as for the queues. (``limits`` has its own Sentinel scheme,
``redis+sentinel://host:26379/service``, with no database and reads from replicas by default: handing
it our pool keeps one spelling of the URL and one view of where the master is.)"""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import limits
import redis
from flask import Flask
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from hub.storage.extensions import app_object
from hub.storage.redis import get_redis
from hub.storage.redis_outage import RedisOutage, is_routine_fault, redis_outage

log = logging.getLogger(__name__)


def parse_limit(text: str) -> limits.RateLimitItem:
    """``"10/second"``, ``"100 per minute"``…; ValueError with a readable message otherwise."""
    try:
        return limits.parse(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit; write it like '10/second' or '600/minute'") from None


class RateLimiter:
    """``check(key, limit)`` → seconds to wait (0.0 when allowed), counting this request.
    ``exhausted(key, limit)`` asks the same without counting, and ``count(key, limit)`` counts
    without asking: together they limit failures (count each failure, refuse once exhausted).
    Fails open when Redis is down: refusing genuine traffic because the limiter is unavailable
    would be worse.

    A key found exhausted is remembered in the process until its window ends: a fixed window's
    count only grows until then, so the answer cannot change, and a flood from a refused client
    (failed authentications, say) costs no Redis round trip per request (three before)."""

    MAX_REMEMBERED = 10_000       # exhausted keys remembered at once (then forgotten all together)

    def __init__(self, client: redis.Redis, outage: RedisOutage | None = None) -> None:
        # "redis://" only names the storage type: the client's pool decides where commands go.
        self._strategy = FixedWindowRateLimiter(RedisStorage("redis://", connection_pool=client.connection_pool))
        self._outage = outage or RedisOutage()
        self._exhausted: dict[tuple[str, str], float] = {}   # (key, limit) -> when its window ends (epoch s)

    def check(self, key: str, limit_text: str) -> float:
        item = _cached_limit(limit_text)
        try:
            if self._strategy.hit(item, key):
                self._outage.over()
                return 0.0
            reset = self._strategy.get_window_stats(item, key).reset_time
        except Exception as exc:  # limits wraps the driver's errors in several types
            self._unavailable(exc, "allowing")
            return 0.0
        self._outage.over()
        return max(0.001, reset - time.time())

    def _unavailable(self, exc: Exception, meanwhile: str) -> None:
        # Once per outage, not once per request: a busy web process would log thousands of lines.
        if is_routine_fault(exc):
            self._outage.report(f"the rate limiter ({meanwhile} meanwhile)", exc)
        else:
            log.warning("rate limiter unavailable, %s: %s", meanwhile, exc)

    def exhausted(self, key: str, limit_text: str) -> float:
        """Seconds until ``key`` may be counted again (0.0 when it may now); counts nothing."""
        known = self._exhausted.get((key, limit_text))
        if known is not None:
            left = known - time.time()
            if left > 0:
                return left
            self._exhausted.pop((key, limit_text), None)
        item = _cached_limit(limit_text)
        try:
            if self._strategy.test(item, key):
                return 0.0
            reset = self._strategy.get_window_stats(item, key).reset_time
        except Exception as exc:
            self._unavailable(exc, "allowing")
            return 0.0
        if len(self._exhausted) >= self.MAX_REMEMBERED:
            self._exhausted.clear()
        self._exhausted[(key, limit_text)] = reset
        return max(0.001, reset - time.time())

    def count(self, key: str, limit_text: str) -> None:
        """Count one against ``key`` (a failure, say)."""
        try:
            self._strategy.hit(_cached_limit(limit_text), key)
        except Exception as exc:
            self._unavailable(exc, "not counting")


def get_rate_limiter(app: Flask) -> RateLimiter:
    """The app's limiter, on the app's Redis (made on first use: Redis may be embedded and lazy)."""
    outage = redis_outage(app)      # not inside the make function: app_object's lock is not re-entrant
    return app_object(app, "hookhub.rate_limiter", lambda: RateLimiter(get_redis(app), outage))


@lru_cache(maxsize=256)
def _cached_limit(text: str) -> limits.RateLimitItem:
    return parse_limit(text)
