"""Connection changes, announced once: after the commit that changes a connection, listeners in
this process are told at once and every other process through a Redis channel, so that no cache
keeps the state from before (a reset key stops working everywhere)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from hub.storage.redis import get_redis

log = logging.getLogger(__name__)
#: The Redis pub/sub channel every process with a connection cache listens on.
CHANNEL = "hookhub:connections:changed"


class ConnectionChanges:
    """Announces that connections changed. ``redis_client`` is called when needed (it may start
    the embedded Redis); a Redis failure is logged, since caches also expire on their own."""

    def __init__(self, redis_client: Callable[[], redis.Redis]) -> None:
        self._redis = redis_client
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` in this process whenever a change is announced."""
        self._listeners.append(callback)

    def announce(self) -> None:
        for callback in list(self._listeners):
            callback()
        try:
            self._redis().publish(CHANNEL, "changed")
        except redis.RedisError as exc:
            log.warning("could not publish a connection change: %s", exc)

    def after_commit(self, session: Session) -> None:
        """Announce once ``session`` commits: before it, another process could cache the old state again."""
        sa.event.listen(session, "after_commit", lambda _s: self.announce(), once=True)


def init_app(app: Flask) -> None:
    app.extensions["hookhub.changes"] = ConnectionChanges(lambda: get_redis(app))


def get_changes(app: Flask | None = None) -> ConnectionChanges:
    return (app or current_app).extensions["hookhub.changes"]
