"""Redis: the configured server (or master, through Sentinel), or the embedded one when none is set,
created on first use. :func:`connect` is the one way the hub makes a Redis client: RQ (its scheduler
process included), the rate limits, pacing and the connection cache all share it."""

from __future__ import annotations

import atexit
import functools
import threading

import redis
from flask import Flask, current_app

from hub.storage.embedded_redis import EmbeddedRedis
from hub.storage.redis_urls import SentinelTarget, redis_target

#: Every client: a dead server is noticed within seconds, an idle connection is checked before use.
CLIENT_OPTIONS = {"socket_timeout": 5, "socket_connect_timeout": 2, "health_check_interval": 30}


def connect(url: str) -> redis.Redis:
    """A client for ``url`` (see :mod:`hub.storage.redis_urls`). Through Sentinel the client asks
    the Sentinels where the master is whenever it connects, so after a failover its next connection
    reaches the new master (Sentinel disconnects a server's clients when it changes that server's role;
    what the old master took until its demotion is lost with it, and the sweeper redoes that work)."""
    target = redis_target(url)
    if not isinstance(target, SentinelTarget):
        return redis.Redis.from_url(url, **CLIENT_OPTIONS)
    from redis.sentinel import Sentinel

    connection_class = _sentinel_connection_classes()[target.tls]
    tls = {"ssl": True, **{k: v for k, v in target.options.items() if k.startswith("ssl_")}} if target.tls else {}
    sentinel_options = {"socket_timeout": CLIENT_OPTIONS["socket_connect_timeout"],
                        "socket_connect_timeout": CLIENT_OPTIONS["socket_connect_timeout"],
                        **tls, **target.sentinel_options}
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options)
    return sentinel.master_for(target.master, db=target.db, connection_class=connection_class,
                               **{**CLIENT_OPTIONS, **target.options})


@functools.cache
def _sentinel_connection_classes() -> dict[bool, type]:
    """redis-py's Sentinel connections (plain, TLS), except that a read cut short drops the
    connection, as every other redis-py connection does. redis-py's own keep it (redis/redis-py#4292):
    when RQ's warm shutdown interrupts its blocking dequeue, the connection went back to the pool with
    that reply still pending, and the worker's last command waited for it — a worker that would not stop."""
    from redis.connection import SSLConnection
    from redis.sentinel import SentinelManagedConnection

    class SentinelConnection(SentinelManagedConnection):
        def read_response(self, *args, **kwargs):
            kwargs.setdefault("disconnect_on_error", True)     # PubSub passes False itself, and keeps it
            return super().read_response(*args, **kwargs)

    class SentinelSSLConnection(SentinelConnection, SSLConnection):
        pass

    return {False: SentinelConnection, True: SentinelSSLConnection}


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
                    self._client = connect(self._url)
        return self._client

    def new_client(self) -> redis.Redis:
        """Another client for the same Redis, sharing nothing with this one (for a forked process)."""
        return connect(self.url)

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


def new_redis_client(app: Flask | None = None) -> redis.Redis:
    """A client of the app's Redis with its own connections (RQ's scheduler runs in a forked process)."""
    return (app or current_app).extensions["hookhub.redis"].new_client()


def get_redis_url(app: Flask | None = None) -> str:
    """The Redis URL in use (the embedded server's socket when none is configured)."""
    return (app or current_app).extensions["hookhub.redis"].url
