"""Per-process cache of what the inbound path needs of a connection (decrypted once, not per request).

Every connection change bumps an epoch in Redis after its commit; each request reads the epoch
(one round trip) and drops the cache when it moved, so a reset key stops working at once in every
web process. Without Redis the cache is bypassed and the database read every time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from hub.inbound.envelope import FieldMap
from hub.plugin import ConnectionView, Provider

log = logging.getLogger(__name__)
EPOCH_KEY = "hookhub:connections:epoch"
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
    valid_until: float = 0.0          # monotonic time: a rotated secret expires, or the TTL


class ConnectionCache:
    def __init__(self, loader: Callable[[str], ConnectionRuntime | None], redis_client: Callable[[], redis.Redis]):
        self._loader = loader
        self._redis = redis_client
        self._items: dict[str, tuple[float, ConnectionRuntime | None]] = {}
        self._epoch: bytes | None = None
        self._lock = threading.Lock()

    def get(self, connection_id: str) -> ConnectionRuntime | None:
        try:
            epoch = self._redis().get(EPOCH_KEY) or b"0"
        except redis.RedisError:
            return self._loader(connection_id)
        now = time.monotonic()
        with self._lock:
            if epoch != self._epoch:
                self._items.clear()
                self._epoch = epoch
            hit = self._items.get(connection_id)
            if hit is not None and hit[0] > now:
                return hit[1]
        runtime = self._loader(connection_id)
        expires = now + (NEGATIVE_TTL if runtime is None else TTL)
        if runtime is not None and runtime.valid_until:
            expires = min(expires, runtime.valid_until)
        with self._lock:
            if len(self._items) >= MAX_ENTRIES:
                self._items.clear()
            if epoch == self._epoch:
                self._items[connection_id] = (expires, runtime)
        return runtime


def bump_epoch(redis_client: redis.Redis) -> None:
    """Tell every web process to drop its cached connections."""
    try:
        redis_client.incr(EPOCH_KEY)
    except redis.RedisError as exc:  # the caches expire by TTL anyway
        log.warning("could not bump the connection cache epoch: %s", exc)
