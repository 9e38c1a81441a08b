"""How a worker words a Redis outage (the e2e tests restart and fail over a real Redis; this one
feeds RQ's own log records through the worker's filter): one WARNING that says what happened and
what recovers it, nothing more while it lasts, one INFO line once Redis has been answering a while;
an RQ error that is not about Redis passes unchanged."""

import logging

import pytest
import redis

from hub.storage import redis_outage as outage_module
from hub.storage.redis_outage import RedisOutage, is_routine_fault
from hub.worker.redis_faults import RoutineRedisFaults


def rq_record(message: str, exc: BaseException | None = None, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("rq.worker", level, __file__, 1, message, None, (type(exc), exc, None) if exc else None)


@pytest.mark.parametrize("exc, routine", [
    (redis.ConnectionError("Error 111 connecting"), True),
    (redis.TimeoutError("Timeout reading from socket"), True),
    (redis.exceptions.BusyLoadingError("LOADING Redis is loading the dataset in memory"), True),
    (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), True),
    (redis.ResponseError("UNBLOCKED force unblock from blocking operation"), True),
    (redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), False),
    (ValueError("a bug"), False),
])
def test_routine_faults_are_those_a_restart_or_failover_causes(exc, routine):
    assert is_routine_fault(exc) is routine


def test_rq_errors_about_a_lost_redis_become_one_warning(caplog):
    outage = RedisOutage()
    quiet = RoutineRedisFaults(outage)
    records = [
        rq_record("Worker w1: could not connect to Redis instance: Error 111. retrying in 1 seconds..."),
        rq_record("Worker w1: found an unhandled exception, quitting...", redis.ConnectionError("Connection reset")),
        rq_record("Worker w1: job deliver-1: exception raised while executing (deliver_many)\nTraceback (most "
                  "recent call last):\n  ...\nrq.exceptions.InvalidJobOperation: Failed to retrieve status for job: x"),
    ]
    with caplog.at_level(logging.DEBUG, logger="hub.redis"):
        assert [quiet.filter(r) for r in records] == [False, False, False]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    assert "Nothing is lost" in warnings[0].getMessage() and "sweeper" in warnings[0].getMessage()
    assert outage.ongoing


def test_other_rq_records_pass_unchanged():
    quiet = RoutineRedisFaults(RedisOutage())
    assert quiet.filter(rq_record("Worker w1: job x: exception raised while executing\nValueError: a bug"))
    assert quiet.filter(rq_record("Worker w1: job x", redis.ResponseError("WRONGTYPE Operation")))
    assert quiet.filter(rq_record("Worker w1: could not connect to Redis instance", level=logging.INFO))
    other = logging.LogRecord("hub.delivery", logging.ERROR, __file__, 1, "could not connect to Redis instance",
                              None, None)
    assert quiet.filter(other)


def test_the_outage_ends_after_a_calm_period_and_alarms_only_when_it_lasts(caplog, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(outage_module.time, "monotonic", lambda: clock[0])
    outage = RedisOutage()
    with caplog.at_level(logging.INFO, logger="hub.redis"):
        outage.report("the sweeper", redis.ConnectionError("refused"))
        clock[0] += 5
        outage.over()                                   # a command succeeded, but a fault came moments ago
        assert outage.ongoing
        clock[0] += outage_module.CALM_AFTER
        outage.over()                                   # calm long enough: over
        assert not outage.ongoing
        outage.report("the sweeper", redis.ConnectionError("refused"))     # a second outage, that lasts
        for _ in range(int(outage_module.ALARM_AFTER / 5) + 1):
            clock[0] += 5
            outage.report("the sweeper", redis.ConnectionError("refused"))
    said = [(r.levelname, r.getMessage()[:40]) for r in caplog.records]
    assert said == [("WARNING", "Redis is unreachable or lost recent writ"),
                    ("INFO", "Redis answers again: the outage began 20"),
                    ("WARNING", "Redis is unreachable or lost recent writ"),
                    ("ERROR", "Redis has been unreachable for 5 minutes")]
