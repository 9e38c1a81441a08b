"""Kept-alive connections spread evenly over the web processes: a table of each one's open
connections, shared by them all, and the rule by which a process with too many lets one go.

Each web process has a listening socket of its own (``SO_REUSEPORT``), and the kernel gives each
new connection to one of them by a hash of its addresses — at random, as far as the load goes. A
client that keeps its connections alive (a proxy in front of the hub, a load generator, a sender
with a pool) keeps that split for as long as the connections live, and it is rarely even: 16
connections came as 10 and 6, 64 as 42 and 22, on the machine of docs/performance.md. Each
process runs on a core of its own, so the requests of the crowded one wait longer (a p99 made by
one process), while the other may stand idle waiting for its few clients' next requests.

So every web process writes its count of open connections into a slot of a table in memory
shared with its siblings (made by gunicorn's master before it starts them), and before each
request looks at theirs: one with two or more connections than the least busy of them answers
that request with ``Connection: close``. The client opens a new connection, which the kernel gives
to a process chosen afresh; soon every process holds as many as the others, give or take one.
Nothing is lost: the request is answered as always, and HTTP/1.1 clients reconnect after a close.

The table is ints, one per slot: slot 0 holds the highest slot given so far (readers look no
further), slot *i* (1 …) a process's connections + 1, or 0 when no live process holds it. The
master gives each new process the lowest free slot and frees it when the process exits
(:mod:`hub.web.gunicorn_conf`)."""

from __future__ import annotations

import mmap
import threading
from collections.abc import Iterable

#: Web processes a table has room for (one more slot: the header).
CAPACITY = 255


class Table:
    """The connection counts of a master's web processes, in memory its children inherit."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._memory = mmap.mmap(-1, 4 * (capacity + 1))     # anonymous and shared across fork()
        self._view = memoryview(self._memory).cast("i")

    def take(self, held: Iterable[int | None]) -> int | None:
        """The master, for a new web process: the lowest slot none of ``held`` (the live processes'
        slots) has, marked in use with no connections; None when every slot is held."""
        taken = {slot for slot in held if slot is not None}
        slot = next((s for s in range(1, self.capacity + 1) if s not in taken), None)
        if slot is not None:
            self._view[slot] = 1
            self._view[0] = max(self._view[0], slot)
        return slot

    def free(self, slot: int | None) -> None:
        """The master, once the process that held ``slot`` has exited."""
        if slot is not None:
            self._view[slot] = 0

    def publish(self, slot: int, connections: int) -> None:
        """A web process: its count of open connections (those it is letting go left out)."""
        self._view[slot] = max(connections, 0) + 1

    def least_elsewhere(self, slot: int) -> int | None:
        """The fewest connections a live process other than ``slot``'s holds; None when it has no
        sibling."""
        view = self._view
        counts = [held for other in range(1, view[0] + 1) if other != slot and (held := view[other])]
        return min(counts) - 1 if counts else None


class Spreader:
    """One web process's side: whether a request's connection should be let go, and the count of
    connections being let go (they are still open until their answer is sent)."""

    def __init__(self, table: Table, slot: int) -> None:
        self.table = table
        self.slot = slot
        self._lock = threading.Lock()
        self.leaving = 0

    def publish(self, connections: int) -> None:
        self.table.publish(self.slot, connections - self.leaving)

    def let_go(self, connections: int) -> bool:
        """Whether the connection of the request about to be answered should close after it: this
        process has ``connections`` open, two or more than the least busy sibling (not counting
        those already being let go). If so it counts as leaving until :meth:`gone`."""
        least = self.table.least_elsewhere(self.slot)
        if least is None or connections - self.leaving < least + 2:
            return False
        with self._lock:
            if connections - self.leaving < least + 2:
                return False
            self.leaving += 1
        self.publish(connections)
        return True

    def gone(self, connections: int) -> None:
        """A connection let go has been closed; ``connections`` are open now."""
        with self._lock:
            self.leaving -= 1
        self.publish(connections)
