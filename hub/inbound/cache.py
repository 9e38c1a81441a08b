"""Per-process cache of what the inbound path needs of a connection (decrypted once, not per request).

Every connection change is announced on a Redis channel after its commit (``hub.runtime.changes``);
a listener thread in each web process clears the cache when a message arrives. While the listener
is not subscribed (Redis down, reconnecting) the cache is bypassed and the database read every
time, so a reset key stops working at once in every web process without a Redis round trip per
request. The same listener hears the failed authentications other processes announce
(:mod:`hub.inbound.clean_clients`)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from hub.core.addresses import Network
from hub.inbound import clean_clients
from hub.inbound.clean_clients import CleanClients
from hub.inbound.envelope import FieldMap
from hub.inbound.replies import Reply
from hub.plugin import ConnectionView, Provider
from hub.runtime.changes import CHANNEL

log = logging.getLogger(__name__)
TTL = 30.0
NEGATIVE_TTL = 5.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class ConnectionRuntime:
    id: str
    workspace: str
    name: str
    provider_name: str | None
    provider: Provider | None
    active: bool
    key_hash: str | None
    view: ConnectionView
    field_map: FieldMap
    default_channel: str | None
    max_body: int
    dedupe_window: int
    rate_limit: str | None = None
    workspace_rate_limit: str | None = None   # all the workspace's connections together
    allowed_ips: tuple[Network, ...] = ()     # empty: any client with the key
    correlation: dict[str, Any] | None = None  # its requests decide approvals (hub.inbound.callbacks)
    reply: Reply | None = None                # what senders get back (hub.inbound.replies)
    valid_until: float = 0.0          # monotonic time: a rotated secret expires, or the TTL


class ConnectionCache:
    def __init__(self, loader: Callable[[str], ConnectionRuntime | None], redis_client: Callable[[], redis.Redis]):
        self._loader = loader
        self._redis = redis_client
        self._items: dict[str, tuple[float, ConnectionRuntime | None]] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._generation = 0           # bumped by every invalidation: a load racing one is not cached
        self._listener_pid: int | None = None
        self._closed = threading.Event()
        self.clean_clients = CleanClients(self._subscribed)

    def get(self, connection_id: str) -> ConnectionRuntime | None:
        self._ensure_listener()
        if not self._subscribed.is_set():
            return self._loader(connection_id)
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(connection_id)
            if hit is not None and hit[0] > now:
                return hit[1]
            generation = self._generation
        runtime = self._loader(connection_id)
        expires = now + (NEGATIVE_TTL if runtime is None else TTL)
        if runtime is not None and runtime.valid_until:
            expires = min(expires, runtime.valid_until)
        with self._lock:
            if len(self._items) >= MAX_ENTRIES:
                self._items.clear()
            if generation == self._generation and self._subscribed.is_set():
                self._items[connection_id] = (expires, runtime)
        return runtime

    def holds(self, connection_id: str) -> bool:
        """Whether a request for ``connection_id`` would be answered from memory now (no database read)."""
        with self._lock:
            hit = self._items.get(connection_id)
        return self._subscribed.is_set() and hit is not None and hit[0] > time.monotonic()

    def invalidate(self) -> None:
        with self._lock:
            self._items.clear()
            self._generation += 1

    def announce_failure(self, client: str) -> None:
        """Tell every process that ``client`` failed to authenticate (see :mod:`hub.inbound.clean_clients`)."""
        if self.clean_clients.failed(client):
            try:
                self._redis().publish(clean_clients.CHANNEL, client)
            except Exception as exc:  # Redis away: no listener is subscribed, so nobody believes anything
                log.debug("could not announce a failed authentication: %s", exc)

    def close(self) -> None:
        """Stop the listener thread (an app that is thrown away, as in tests)."""
        self._closed.set()
        self.invalidate()

    def _ensure_listener(self) -> None:
        # Started lazily in the process that serves requests (gunicorn forks after create_app).
        if self._listener_pid == os.getpid() or self._closed.is_set():
            return
        with self._lock:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self._subscribed.clear()
            threading.Thread(target=self._listen, name="hookhub-cache-listener", daemon=True).start()

    def _listen(self) -> None:
        while not self._closed.is_set():
            pubsub = None
            try:
                pubsub = self._redis().pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(CHANNEL, clean_clients.CHANNEL)   # one command: both at once
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.invalidate()          # anything cached before the subscription is suspect
                        self.clean_clients.forget_all()
                        self._subscribed.set()
                    elif message["type"] == "message" and message["channel"] == clean_clients.CHANNEL.encode():
                        self.clean_clients.heard(message["data"].decode("utf-8", "replace"))
                    elif message["type"] == "message":
                        self.invalidate()
            except Exception as exc:  # Redis gone: bypass the cache until subscribed again
                if self._subscribed.is_set() and not self._closed.is_set():   # not a cache being closed
                    log.warning("connection cache listener lost Redis (%s); reading the database", exc)
            finally:
                self._subscribed.clear()
                self.invalidate()
                self.clean_clients.forget_all()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()
            self._closed.wait(1.0)

