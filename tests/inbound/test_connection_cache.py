"""The connection cache's listener thread (hub.inbound.cache): closing the cache is quiet."""

from __future__ import annotations

import logging
import threading

import redis as redis_lib

from hub.inbound.cache import ConnectionCache
from tests.waiting import wait_until


def test_closing_the_cache_while_its_listener_reads_redis_logs_no_warning(redis_url, caplog):
    """An app that is thrown away closes its cache, then its Redis client: the listener's read in
    progress fails, which is no loss of Redis worth a warning (bench/outbound.py printed one)."""
    client = redis_lib.Redis.from_url(redis_url)
    before = set(threading.enumerate())
    cache = ConnectionCache(lambda connection_id: None, lambda: client)
    assert cache.get("con_unknown") is None                  # the first look starts the listener
    wait_until(cache._subscribed.is_set, "the listener to subscribe")
    [listener] = [t for t in threading.enumerate() if t not in before and t.name == "hookhub-cache-listener"]
    with caplog.at_level(logging.WARNING, logger="hub.inbound.cache"):
        cache.close()
        client.connection_pool.disconnect()                   # as the app's close does next
        listener.join(5)
    assert not listener.is_alive()
    assert "lost Redis" not in caplog.text
