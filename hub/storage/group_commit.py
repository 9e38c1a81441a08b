"""Group commit: the short write transactions of concurrent threads in a process, run as one.

Each caller hands :meth:`GroupCommit.run` a piece of work (a function of a DBAPI cursor) and is
answered only after the commit of the transaction that ran it has succeeded — so whatever a caller
does once ``run`` returns (answer a webhook 200) still follows a commit of its own rows. What it
saves is the commit itself: on SQLite the write lock, ``BEGIN IMMEDIATE`` and the WAL frames of
every page the transaction touched, on PostgreSQL the round trips and a WAL flush — paid once per
batch instead of once per row.

How a batch forms (leader and followers, no thread of its own): the first caller to arrive while
no transaction is running leads — it opens the transaction (on the process's connection for
them, :class:`~hub.storage.fastsql.FastWriter`; on SQLite after the write gate), then takes
the waiting work, up to ``max_rows`` pieces, runs it in arrival order, commits, and hands each
caller its result. Callers that arrive meanwhile wait; when the leader is done, the oldest of them
leads the next batch. Under load the batches grow by themselves with the work that arrived while
the previous one ran; and before each batch the leader waits, at most ``gather`` seconds, while
other threads' announced work (:meth:`GroupCommit.expecting`) is on its way or fewer than ``fill``
pieces are waiting — a commit costs the database about as much for one row as for several, and
the threads of the requests that will bring the next rows run meanwhile. The bound on how long a
piece of work waits: the batch running when it arrived, then its own, each at most ``max_rows``
pieces, and before each batch at most ``gather`` seconds.

A caller need not wait at all (:meth:`GroupCommit.submit`): it hands its work over with a function
to call with the outcome, and its thread is free. Such work has no thread to lead a batch for it:
whichever thread leads runs it, and a thread that submits while no batch runs leads one itself.

Failures: when the transaction fails (BEGIN, a broken connection, a database error that is not one
row's fault, or the COMMIT itself), every caller of the batch gets the error and nothing of the
batch is stored. When one piece of work fails for its own reasons (the database refuses its values:
``DataError``, ``IntegrityError``; or an exception of its own), the transaction is rolled back, that
caller gets its error, and the others go first into the next batch.

One statement for the batch: a group commit made with ``bulk`` (a function of a cursor and a list
of items) hands it the items of the callers that gave one (``run(work, item=…)``), in one call: an
INSERT of all the batch's rows costs the database one statement instead of one per row, and the
Python work under the write lock stays small. When every piece of a batch gave an item, that
statement is the whole transaction: no BEGIN, no COMMIT (SQLite and PostgreSQL commit a lone
statement when it returns), one round trip. ``bulk`` answers each item's result, or :data:`AGAIN`
for an item it did not settle (a taken unique key), whose own work then runs in the next batch,
first in line; in a batch that also holds work without an item, the bulk statement and that work
share one transaction. When the bulk statement fails for a row's reasons, nobody gets that
error: each item of it runs its own work from then on, so the failing one fails alone, as above.

Within a batch, work may be ordered by a key (``run(work, order=…)``; a stable sort, so equal keys
keep their arrival order): PostgreSQL's row locks on unique keys are then taken in one order by
every process, so two batches inserting the same keys cannot deadlock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from hub.storage.fastsql import FastWriter

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Errors that are the fault of one piece of work's values, not of the database or the connection.
ROW_ERRORS = (sa.exc.DataError, sa.exc.IntegrityError)


class GroupCommitTimeout(sa.exc.OperationalError):
    """A caller waited longer than ``GroupCommit.patience`` for a batch to take its work."""

    def __init__(self, waited: float) -> None:
        super().__init__("group commit", {}, Exception(f"no transaction took this write within {waited:.0f} s"))


#: What :attr:`GroupCommit.bulk` answers for an item it did not settle: its own work runs next.
AGAIN = object()


class _Slot(Generic[T]):
    """One caller's work, and how its caller learns the outcome: the lock its thread sleeps on
    until the work is done or it leads (:meth:`GroupCommit.run`), or a function to call
    (:meth:`GroupCommit.submit`)."""

    __slots__ = ("work", "order", "item", "alone", "wake", "then", "leads", "done", "result", "error")

    def __init__(self, work: Callable[[Any], T], order: Any, item: Any,
                 then: Callable[[Any, BaseException | None], None] | None = None) -> None:
        self.work = work
        self.order = order
        self.item = item                 # for the bulk statement; None: run ``work``
        self.alone = item is None        # True once a bulk statement holding it failed
        self.then = then
        self.wake: threading.Lock | None = None
        if then is None:
            self.wake = threading.Lock()
            self.wake.acquire()          # released by whoever finishes this slot or makes it lead
        self.leads = False
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True
        if self.then is None:
            assert self.wake is not None
            self.wake.release()
            return
        try:
            self.then(result, error)
        except Exception:  # noqa: BLE001 - the batch's other callers must still hear of theirs
            log.exception("a group commit's caller failed to take its outcome")


class GroupCommit:
    """Runs work from many threads in shared transactions on ``writer`` (see the module's text)."""

    patience = 60.0     # seconds a caller waits for a batch to take its work (the database hangs)

    def __init__(self, writer: FastWriter, *, max_rows: int = 64, gather: float = 0.0, fill: int = 1,
                 bulk: Callable[[Any, list[Any]], list[Any]] | None = None) -> None:
        self.writer = writer
        self.max_rows = max(1, int(max_rows))
        self.gather = max(0.0, float(gather))   # seconds a leader waits for more work before a batch
        self.fill = min(self.max_rows, max(1, int(fill)))   # pieces a leader waits for (within gather)
        self.bulk = bulk
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._coming = 0                 # callers inside expecting() that have not handed their work over
        self._gathering = False          # a leader waits for them
        self._mine = threading.local()   # this thread's expecting(): its work is still to come
        self._queue: deque[_Slot[Any]] = deque()
        self._leading = False            # a thread is leading: running batches, or about to
        self.batches = 0                 # transactions committed or failed (for tests and tuning)
        self.rows = 0                    # pieces of work they ran
        self.in_bulk = 0                 # pieces the bulk statement settled (their own work did not run)

    @contextmanager
    def expecting(self) -> Iterator[None]:
        """Announce that this thread will probably hand work over (:meth:`run` or :meth:`submit`)
        before the block ends. A leader about to take a batch waits, up to :attr:`gather` seconds,
        for the announced work of other threads to arrive, so that it joins this batch rather than
        leading the next: a web request is announced as it comes in, and the rows of the requests
        in progress share a commit. Work not handed over by the end of the block is no longer
        awaited."""
        with self._lock:
            self._coming += 1
        self._mine.expected = True
        try:
            yield
        finally:
            if getattr(self._mine, "expected", False):
                self._mine.expected = False
                with self._lock:
                    self._arrive()

    def _arrive(self) -> None:
        """(holding the lock) One announced piece of work is here, or will not come."""
        self._coming -= 1
        if self._gathering and self._enough():
            self._arrived.notify_all()

    def _enqueue(self, slot: _Slot[Any]) -> None:
        """(holding the lock)"""
        self._queue.append(slot)
        if getattr(self._mine, "expected", False):
            self._mine.expected = False
            self._coming -= 1
        if self._gathering and self._enough():
            self._arrived.notify_all()

    def _enough(self) -> bool:
        """(holding the lock) Whether a leader has waited for work long enough: the batch is full, or
        no announced work is on its way and at least ``fill`` pieces are waiting."""
        waiting = len(self._queue)
        return waiting >= self.max_rows or (self._coming <= 0 and waiting >= self.fill)

    def _gather(self) -> None:
        """Before a batch: wait, up to :attr:`gather` seconds, until :meth:`_enough`."""
        if not self.gather:
            return
        with self._lock:
            if self._enough():
                return
            deadline = time.monotonic() + self.gather
            self._gathering = True
            try:
                while not self._enough():
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._arrived.wait(left):
                        break
            finally:
                self._gathering = False

    def run(self, work: Callable[[Any], T], *, order: Any = None, item: Any = None) -> T:
        """Run ``work(cursor)`` in a transaction shared with concurrent callers and return its
        result once that transaction has committed; raise otherwise — the database's error as
        SQLAlchemy's exception, or ``work``'s own exception. With ``item``, the batch's :attr:`bulk`
        statement may settle it instead (its result is then returned; ``work`` does not run)."""
        slot: _Slot[T] = _Slot(work, order, item if self.bulk is not None else None)
        with self._lock:
            self._enqueue(slot)
            leads = not self._leading
            self._leading = True
        if not leads:
            self._wait(slot)
        if not slot.done:                # promoted: lead until this slot's work is done
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result

    def submit(self, work: Callable[[Any], T], then: Callable[[T | None, BaseException | None], None], *,
               order: Any = None, item: Any = None) -> None:
        """:meth:`run` without waiting: ``then(result, None)`` is called once the transaction that
        ran ``work`` has committed, or ``then(None, error)`` when it failed — from whichever thread
        runs the batch, possibly this one before ``submit`` returns. ``then`` must not block.

        The caller's thread is free meanwhile: a web process whose threads hand their rows over and
        go back to reading requests forms batches as large as the rows that arrive during a commit,
        whatever its number of threads. When no batch is running, this thread runs one (and the
        next, as long as rows arrive that no waiting :meth:`run` caller can take)."""
        slot: _Slot[T] = _Slot(work, order, item if self.bulk is not None else None, then)
        with self._lock:
            self._enqueue(slot)
            if self._leading:
                return
            self._leading = True
        self._lead(None)

    @property
    def gathering(self) -> bool:
        """Whether a leader is waiting for announced work (:meth:`expecting`) before its batch."""
        with self._lock:
            return self._gathering

    def waiting(self) -> int:
        """How many pieces of work wait for a batch to take them."""
        with self._lock:
            return len(self._queue)

    def announced(self) -> int:
        """How many pieces of work announced by :meth:`expecting` are still on their way."""
        with self._lock:
            return self._coming

    def _wait(self, slot: _Slot[Any]) -> None:
        if slot.wake.acquire(timeout=self.patience):
            return
        with self._lock:
            if not slot.leads and slot in self._queue:   # no batch took it: withdraw it, it will never run
                self._queue.remove(slot)
                raise GroupCommitTimeout(self.patience)
        slot.wake.acquire()              # a batch holds it, or it was just made leader: go on

    # ------------------------------------------------------------------ the leader

    def _lead(self, mine: _Slot[Any] | None) -> None:
        """Run batches until ``mine`` is done (it is in the first, unless another row's failure
        sends it round again), or, for a :meth:`submit` caller (``mine`` None), the first batch;
        then pass the lead to the oldest waiting :meth:`run` caller. Work handed over by
        :meth:`submit` has no thread waiting to lead it: the leader runs it first."""
        try:
            if mine is None:
                self._gather()
                self._batch()
            while mine is not None and not mine.done:
                self._gather()
                self._batch()
        finally:
            while True:
                with self._lock:
                    successor = self._queue[0] if self._queue else None
                    if successor is None:
                        self._leading = False
                    elif successor.then is None:
                        successor.leads = True
                        assert successor.wake is not None
                        successor.wake.release()
                if successor is None or successor.then is None:
                    break
                self._gather()
                self._batch()

    def _take(self) -> list[_Slot[Any]]:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.max_rows, len(self._queue)))]
        if any(slot.order is not None for slot in batch):
            batch.sort(key=lambda slot: (slot.order is None, slot.order if slot.order is not None else ""))
        return batch

    def _batch(self) -> None:
        """One transaction over the work waiting at its start, each piece finished with its outcome
        (or, when another piece failed on its own, put back first in line). When every piece can
        go in the bulk statement, that statement is the transaction (no BEGIN, no COMMIT: one
        round trip, or one SQLite call)."""
        batch: list[_Slot[Any]] = []
        results: list[Any] = []
        failed: _Slot[Any] | None = None
        bulk: list[_Slot[Any]] = []
        again: list[_Slot[Any]] = []
        in_bulk = 0
        try:
            with self.writer.transaction(lazy=True) as cursor:
                batch = self._take()       # with the gate held: what came meanwhile joins
                if batch and self.bulk is not None and not any(slot.alone for slot in batch):
                    bulk = batch
                    settled = self._bulk(cursor, bulk)        # committed when it returns
                    bulk = []
                    again = [slot for slot in batch if settled[id(slot)] is AGAIN]
                    results = [settled[id(slot)] for slot in batch]
                    in_bulk = len(batch) - len(again)
                else:
                    self.writer.begin(cursor)
                    settled = self._bulk(cursor, bulk := [slot for slot in batch if not slot.alone])
                    bulk = []
                    for slot in batch:
                        outcome = settled.get(id(slot), AGAIN)
                        if outcome is AGAIN:
                            failed = slot
                            outcome = slot.work(cursor)
                        else:
                            in_bulk += 1
                        results.append(outcome)
                    failed = None
        except BaseException as exc:        # every caller of the batch gets it; the leader raises nothing
            self.batches += 1
            if not batch:                  # the transaction failed before taking any work: it fails them
                batch = self._take()
            row_error = isinstance(exc, ROW_ERRORS) or not isinstance(exc, sa.exc.SQLAlchemyError)
            if bulk and row_error:         # one of the bulk's items, but which: each goes alone next time
                for slot in bulk:
                    slot.alone = True
                with self._lock:
                    self._queue.extendleft(reversed(batch))
                return
            if failed is not None and row_error:
                others = [slot for slot in batch if slot is not failed]
                with self._lock:
                    self._queue.extendleft(reversed(others))
                failed.finish(error=exc)
                return
            for slot in batch:
                slot.finish(error=exc)
            return
        self.batches += 1
        for slot in again:                 # a taken key: its own work, first in line for the next batch
            slot.alone = True
        if again:
            with self._lock:
                self._queue.extendleft(reversed(again))
        self.in_bulk += in_bulk
        for slot, result in zip(batch, results, strict=True):
            if result is not AGAIN:
                self.rows += 1
                slot.finish(result=result)

    def _bulk(self, cursor: Any, slots: list[_Slot[Any]]) -> dict[int, Any]:
        """The outcomes :attr:`bulk` gives the items of ``slots`` in one statement, by id() of slot."""
        if not slots:
            return {}
        outcomes = self.bulk(cursor, [slot.item for slot in slots])
        return {id(slot): outcome for slot, outcome in zip(slots, outcomes, strict=True)}
