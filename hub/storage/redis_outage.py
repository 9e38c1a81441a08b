"""How a process tells its operator that Redis went away. A Redis restart or a Sentinel failover is
routine for the hub: accepted events and deliveries are committed in the database, clients reconnect
by themselves, and the sweeper dispatches again whatever a lost job held. So an outage is one
WARNING that says what happened and what recovers it, then quiet; one INFO line when Redis answers
again; and an ERROR only when Redis stays away long enough to need a human."""

from __future__ import annotations

import logging
import threading
import time

import redis
from flask import Flask

from hub.storage.extensions import app_object

log = logging.getLogger("hub.redis")
ALARM_AFTER = 300.0      # seconds of outage after which someone should look, and then every as many again
CALM_AFTER = 15.0        # seconds without a fault before an outage counts as over
#: Errors a server restart or failover causes (LOADING is a ConnectionError in redis-py; a demoted
#: master answers READONLY, a Sentinel without a master MASTERDOWN, a blocked client is UNBLOCKED).
ROUTINE_REPLIES = ("LOADING", "READONLY", "MASTERDOWN", "UNBLOCKED", "NOREPLICAS")


def is_routine_fault(exc: BaseException | None) -> bool:
    """True for the Redis errors a restart or a failover causes, as opposed to a bug or bad data."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)):
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).startswith(ROUTINE_REPLIES)


class RedisOutage:
    """The process's view of a Redis outage: :meth:`report` each fault, :meth:`over` whenever a
    command succeeds (the outage ends once no fault came for CALM_AFTER seconds: a failover or a
    restart brings a few faults spread over several seconds). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._last_fault = 0.0
        self._alarmed_at = 0.0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def report(self, where: str, fault: BaseException | str) -> None:
        now = time.monotonic()
        with self._lock:
            # A fault long after the last one starts a new outage (the last ended with no success
            # reported: a web process that saw no request meanwhile).
            first = self._since is None or now - self._last_fault > CALM_AFTER
            since = now if first else self._since
            if first:
                self._alarmed_at = 0.0
            self._since, self._last_fault = since, now
            alarm = not first and now - max(since, self._alarmed_at) >= ALARM_AFTER
            if alarm:
                self._alarmed_at = now
        if first:
            log.warning("Redis is unreachable or lost recent writes, as a restart or a failover does (%s: %s). "
                        "Nothing is lost: accepted events and deliveries are in the database. Clients reconnect by "
                        "themselves and the sweeper dispatches again whatever a lost job held; retries scheduled in "
                        "Redis wait until it answers. Nothing to do unless this lasts.", where, _one_line(fault))
        elif alarm:
            log.error("Redis has been unreachable for %.0f minutes (%s: %s): check redis-server (or Sentinel and "
                      "its master); events are still accepted, but nothing is routed or delivered until it answers",
                      (now - since) / 60, where, _one_line(fault))
        else:
            log.debug("Redis still unreachable (%s: %s)", where, _one_line(fault))

    def over(self) -> None:
        if self._since is None:         # the usual case, without taking the lock
            return
        now = time.monotonic()
        with self._lock:
            since = self._since
            if since is None or now - self._last_fault < CALM_AFTER:
                return
            self._since, self._alarmed_at = None, 0.0
        log.info("Redis answers again: the outage began %.0f s ago, its last fault was %.0f s ago; carrying on",
                 now - since, now - self._last_fault)


def redis_outage(app: Flask) -> RedisOutage:
    """The app's outage state (one per process)."""
    return app_object(app, "hookhub.redis_outage", RedisOutage)


def _one_line(fault: BaseException | str) -> str:
    text = str(fault).strip() or type(fault).__name__
    return text.splitlines()[0][:300]
