"""The clients whose failed authentications this process need not ask Redis about.

Before it looks at the key, the gateway refuses a client that has failed to authenticate too often
(``HOOKHUB_AUTH_FAILURE_LIMIT``, counted in Redis across every process). Asking Redis was the one
Redis round trip left on an accepted request, and for a sender that never fails the answer never
changes. So a process remembers, per client, that Redis said "not exhausted", and keeps believing
it until that client fails anywhere: a process that counts a failure forgets the client itself and
announces it on a Redis channel, and every web process's listener (the connection cache's,
:mod:`hub.inbound.cache`) forgets it too. A client that failed in the last ``RECENT`` seconds is
not remembered at all — each of its requests asks Redis, exactly as before — so a stream of
failures costs one announcement per client and process per ``ANNOUNCE_EVERY`` seconds, not one per
failure. While the listener is not subscribed (Redis away, reconnecting) nothing is believed.
What remains is the time an announcement takes to arrive: a request in another process within
that moment is let through to the key check, where a wrong key fails and is counted again."""

from __future__ import annotations

import threading
import time

#: The Redis pub/sub channel where a failed authentication is announced (the message: the client).
CHANNEL = "hookhub:auth:failed"
REMEMBER_FOR = 60.0       # seconds a "not exhausted" answer is believed (unless the client fails)
RECENT = 60.0             # seconds after a failure during which a client is not remembered
ANNOUNCE_EVERY = 1.0      # seconds between two announcements of one client by one process
MAX_ENTRIES = 10_000


class CleanClients:
    """This process's memory of clients without recent failures; ``subscribed`` is set while the
    listener receives announcements."""

    def __init__(self, subscribed: threading.Event) -> None:
        self._subscribed = subscribed
        self._clean: dict[str, float] = {}       # client → until when "not exhausted" is believed
        self._failed: dict[str, float] = {}      # client → until when it counts as recently failed
        self._announced: dict[str, float] = {}   # client → when this process last announced it
        self._generation = 0                     # bumped by every failure: a read racing one is not kept
        self._lock = threading.Lock()

    def known(self, client: str) -> bool:
        """Whether ``client`` may skip the limiter's Redis read."""
        until = self._clean.get(client)
        return until is not None and until > time.monotonic() and self._subscribed.is_set()

    def generation(self) -> int:
        """Take before asking Redis; hand to :meth:`remember` with the answer."""
        return self._generation

    def remember(self, client: str, generation: int) -> None:
        """Redis said ``client`` is not exhausted (asked after :meth:`generation` returned ``generation``)."""
        now = time.monotonic()
        with self._lock:
            if generation != self._generation or not self._subscribed.is_set():
                return
            if self._failed.get(client, 0.0) > now:
                return
            if len(self._clean) >= MAX_ENTRIES:
                self._clean.clear()
            self._clean[client] = now + REMEMBER_FOR

    def failed(self, client: str) -> bool:
        """``client`` failed to authenticate (here, or announced by another process); True when
        this process should announce it (a failure counted here, not announced lately)."""
        now = time.monotonic()
        with self._lock:
            self._generation += 1
            self._clean.pop(client, None)
            if len(self._failed) >= MAX_ENTRIES:
                self._failed = {c: until for c, until in self._failed.items() if until > now}
                if len(self._failed) >= MAX_ENTRIES:   # a flood from everywhere: believe nobody meanwhile
                    self._clean.clear()
                    self._failed.clear()
            self._failed[client] = now + RECENT
            if self._announced.get(client, -ANNOUNCE_EVERY) > now - ANNOUNCE_EVERY:
                return False
            if len(self._announced) >= MAX_ENTRIES:
                self._announced.clear()
            self._announced[client] = now
            return True

    def heard(self, client: str) -> None:
        """Another process announced a failure of ``client``."""
        now = time.monotonic()
        with self._lock:
            self._generation += 1
            self._clean.pop(client, None)
            if len(self._failed) >= MAX_ENTRIES:
                self._clean.clear()
                self._failed.clear()
            self._failed[client] = now + RECENT

    def forget_all(self) -> None:
        """The listener (re)subscribed or lost Redis: announcements may have been missed."""
        with self._lock:
            self._generation += 1
            self._clean.clear()
