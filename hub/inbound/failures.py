"""Inbound rejections ("failed triggers"): recorded with their cause, capped per minute so that a
flood of garbage cannot fill the disk (beyond the cap they are only counted)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis
from sqlalchemy.exc import SQLAlchemyError

from hub.core.payloads import storable
from hub.storage.db import Database
from hub.storage.models import Failure

log = logging.getLogger(__name__)
COUNTER_KEY = "hookhub:failures:minute:{}"
DROPPED_KEY = "hookhub:failures:dropped"


class FailureRecorder:
    """Stores the rejections of one app. ``redis_client`` is a callable (Redis is reached lazily);
    without Redis every rejection is stored, since losing the record is worse than the disk."""

    def __init__(self, database: Database, redis_client: Callable[[], redis.Redis],
                 config: Mapping[str, Any]) -> None:
        self.database = database
        self._redis = redis_client
        self._config = config          # HOOKHUB_FAILURES_PER_MINUTE, read at each rejection
        self._over_minute: int | None = None   # the minute this process found over the cap

    def record(self, **fields: Any) -> bool:
        """Store one rejection; returns False when it was only counted (over the cap or no database)."""
        if self._over_cap():
            return False
        try:
            with self.database.session() as session:
                session.add(Failure(**storable(fields)))   # a path may carry %00, which PostgreSQL refuses
            return True
        except SQLAlchemyError as exc:
            log.warning("could not record an inbound failure (%s): %s", fields.get("code"), exc)
            return False

    def _over_cap(self) -> bool:
        minute = int(time.time() // 60)
        try:
            client = self._redis()
            if self._over_minute == minute:     # the minute's count only grows: over it stays
                client.incr(DROPPED_KEY)
                return True
            key = COUNTER_KEY.format(minute)
            pipe = client.pipeline()
            pipe.incr(key)
            pipe.expire(key, 120)
            if pipe.execute()[0] > int(self._config["HOOKHUB_FAILURES_PER_MINUTE"]):
                self._over_minute = minute
                client.incr(DROPPED_KEY)
                return True
        except Exception as exc:  # Redis unreachable (or the embedded one cannot start): store it anyway
            log.debug("failure cap unavailable: %s", exc)
        return False
