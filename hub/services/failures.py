"""Inbound rejections ("failed triggers"): recorded with their cause, capped per minute so that a
flood of garbage cannot fill the disk (beyond the cap they are only counted)."""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from sqlalchemy.exc import SQLAlchemyError

from hub.db import Database
from hub.models import Failure
from hub.payloads import storable

log = logging.getLogger(__name__)
COUNTER_KEY = "hookhub:failures:minute:{}"
DROPPED_KEY = "hookhub:failures:dropped"


def record_failure(database: Database, redis_client: redis.Redis | None, cap_per_minute: int,
                   **fields: Any) -> bool:
    """Store one rejection; returns False when it was only counted (over the cap or no database)."""
    if redis_client is not None:
        try:
            key = COUNTER_KEY.format(int(time.time() // 60))
            pipe = redis_client.pipeline()
            pipe.incr(key)
            pipe.expire(key, 120)
            count = pipe.execute()[0]
            if count > cap_per_minute:
                redis_client.incr(DROPPED_KEY)
                return False
        except redis.RedisError:
            pass  # without Redis, store every rejection: losing the record is worse
    try:
        with database.session() as session:
            session.add(Failure(**storable(fields)))   # a path may carry %00, which PostgreSQL refuses
        return True
    except SQLAlchemyError as exc:
        log.warning("could not record an inbound failure (%s): %s", fields.get("code"), exc)
        return False
