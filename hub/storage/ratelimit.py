"""Rate limits shared by every process through Redis (the ``limits`` library, fixed windows)."""

from __future__ import annotations

import logging
import time
from functools import lru_cache

import limits
from flask import Flask
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter

from hub.storage.extensions import app_object
from hub.storage.redis import get_redis_url

log = logging.getLogger(__name__)


def parse_limit(text: str) -> limits.RateLimitItem:
    """``"10/second"``, ``"100 per minute"``…; ValueError with a readable message otherwise."""
    try:
        return limits.parse(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit; write it like '10/second' or '600/minute'") from None


def storage_uri(redis_url: str) -> str:
    """The ``limits`` spelling of a redis-py URL (``unix://`` becomes ``redis+unix://``)."""
    return "redis+unix://" + redis_url[len("unix://"):] if redis_url.startswith("unix://") else redis_url


class RateLimiter:
    """``check(key, limit)`` → seconds to wait (0.0 when allowed), counting this request.
    ``exhausted(key, limit)`` asks the same without counting, and ``count(key, limit)`` counts
    without asking: together they limit failures (count each failure, refuse once exhausted).
    Fails open when Redis is down: refusing genuine traffic because the limiter is unavailable
    would be worse."""

    def __init__(self, redis_url: str) -> None:
        self._strategy = FixedWindowRateLimiter(RedisStorage(storage_uri(redis_url)))

    def check(self, key: str, limit_text: str) -> float:
        item = _cached_limit(limit_text)
        try:
            if self._strategy.hit(item, key):
                return 0.0
            reset = self._strategy.get_window_stats(item, key).reset_time
        except Exception as exc:  # limits wraps the driver's errors in several types
            log.warning("rate limiter unavailable, allowing: %s", exc)
            return 0.0
        return max(0.001, reset - time.time())

    def exhausted(self, key: str, limit_text: str) -> float:
        """Seconds until ``key`` may be counted again (0.0 when it may now); counts nothing."""
        item = _cached_limit(limit_text)
        try:
            if self._strategy.test(item, key):
                return 0.0
            reset = self._strategy.get_window_stats(item, key).reset_time
        except Exception as exc:
            log.warning("rate limiter unavailable, allowing: %s", exc)
            return 0.0
        return max(0.001, reset - time.time())

    def count(self, key: str, limit_text: str) -> None:
        """Count one against ``key`` (a failure, say)."""
        try:
            self._strategy.hit(_cached_limit(limit_text), key)
        except Exception as exc:
            log.warning("rate limiter unavailable, not counted: %s", exc)


def get_rate_limiter(app: Flask) -> RateLimiter:
    """The app's limiter, on the app's Redis (made on first use: Redis may be embedded and lazy)."""
    return app_object(app, "hookhub.rate_limiter", lambda: RateLimiter(get_redis_url(app)))


@lru_cache(maxsize=256)
def _cached_limit(text: str) -> limits.RateLimitItem:
    return parse_limit(text)
