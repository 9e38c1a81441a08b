"""Redis: the configured server, or the embedded one when none is set, created on first use."""

from __future__ import annotations

import atexit
import threading

import redis
from flask import Flask, current_app

from hub.storage.embedded_redis import EmbeddedRedis


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
