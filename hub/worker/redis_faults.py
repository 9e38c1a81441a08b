"""RQ logs a lost Redis as ERROR lines and tracebacks ("could not connect to Redis instance",
"found an unhandled exception, quitting", a failed job's traceback naming ConnectionError), although
for the hub a Redis restart or failover is routine (see :mod:`hub.storage.redis_outage`). This
filter, on the worker's log handler, hands those records to the process's outage report instead:
one WARNING per outage. Anything else RQ says passes unchanged."""

from __future__ import annotations

import logging

from hub.storage.redis_outage import RedisOutage, is_routine_fault

#: How RQ words a lost Redis when it logs no exception object (or only its formatted traceback). A job
#: whose record Redis lost (a restart without the append-only file, writes the old master took
#: after a failover) fails RQ's own bookkeeping with the last three; its work is in the database.
RQ_REDIS_FAULT_TEXT = ("could not connect to Redis instance", "Redis connection timeout",
                       "redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError",
                       "redis.exceptions.ReadOnlyError", "redis.exceptions.BusyLoadingError",
                       "rq.exceptions.InvalidJobOperation: Failed to retrieve status for job",
                       "rq.exceptions.NoSuchJobError", "not found in Redis")


class RoutineRedisFaults(logging.Filter):
    """Drops RQ's WARNING-and-above records about a lost Redis after reporting them to ``outage``."""

    def __init__(self, outage: RedisOutage) -> None:
        super().__init__()
        self.outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not (record.name == "rq" or record.name.startswith("rq.")):
            return True
        exc = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if is_routine_fault(exc):
            self.outage.report(record.name, exc)
            return False
        if exc is None and any(text in message for text in RQ_REDIS_FAULT_TEXT):
            named = [line for line in message.splitlines() if any(text in line for text in RQ_REDIS_FAULT_TEXT)]
            self.outage.report(record.name, named[-1].strip())
            return False
        return True
