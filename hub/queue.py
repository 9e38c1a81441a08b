"""Redis and the RQ queues: the configured Redis, or the embedded one when none is set."""

from __future__ import annotations

import atexit
import threading
from contextvars import ContextVar

import redis
from flask import Flask, current_app
from rq import Queue, get_current_job

from hub.embedded_redis import EmbeddedRedis

#: Queues named for their work: routing accepted events, sending deliveries, housekeeping.
QUEUE_NAMES = ("ingest", "deliver", "maintenance")
#: The job a helper thread (a send) works for: RQ knows the current job only on the job's thread.
WORKING_FOR: ContextVar[str | None] = ContextVar("hookhub_working_for", default=None)


def current_job_id() -> str | None:
    """The RQ job this code runs for, on the job's thread or on a helper thread working for it."""
    job = get_current_job()
    return job.id if job is not None else WORKING_FOR.get()


class RedisHandle:
    """A lazily created client: commands that never touch Redis never start or reach it."""

    def __init__(self, url: str | None, instance_path: str) -> None:
        self._url = url
        self._instance_path = instance_path
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self.embedded: EmbeddedRedis | None = None

    @property
    def url(self) -> str:
        self.client  # noqa: B018 - resolves the embedded URL
        return self._url or ""

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if not self._url:
                        self._url = self._start_embedded()
                    self._client = redis.Redis.from_url(
                        self._url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30)
        return self._client

    def _start_embedded(self) -> str:
        embedded = EmbeddedRedis(self._instance_path)
        if not embedded.answering():
            embedded.start()
            self.embedded = embedded
            atexit.register(embedded.stop)
        return embedded.url

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.embedded is not None:
            self.embedded.stop()


def init_app(app: Flask) -> None:
    app.extensions["hookhub.redis"] = RedisHandle(app.config["HOOKHUB_REDIS_URL"],
                                                  app.config["HOOKHUB_INSTANCE_PATH"])


def get_redis(app: Flask | None = None) -> redis.Redis:
    return (app or current_app).extensions["hookhub.redis"].client


def get_redis_url(app: Flask | None = None) -> str:
    """The Redis URL in use (the embedded server's socket when none is configured)."""
    return (app or current_app).extensions["hookhub.redis"].url


def get_queue(name: str, app: Flask | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(app))
