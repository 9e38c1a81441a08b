"""SQLite's part of the database: each connection's PRAGMAs, the write gate every transaction passes
(one writer at a time on the machine, queued in the kernel), and WAL checkpoints on a thread of
their own instead of inside a commit."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)
PRIVATE_FILE_MODE = 0o600


def pragmas(dbapi_conn, _record) -> None:
    """Every new connection: WAL (readers and one writer at once), NORMAL sync (durable across a
    process crash), foreign keys, a busy timeout for writers that are not the hub's (which all pass
    the gate), and no checkpoint inside a commit (:class:`Checkpointer` runs them)."""
    dbapi_conn.isolation_level = None     # SQLAlchemy emits BEGIN itself (see SQLiteWriteGate)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


_forked: weakref.WeakSet[Any] = weakref.WeakSet()     # gates and checkpointers to renew in a forked child


def _renew_in_child() -> None:
    for thing in list(_forked):
        thing.renew()


os.register_at_fork(after_in_child=_renew_in_child)


class Checkpointer:
    """WAL checkpoints on a thread of this process, every ``every`` write transactions.

    SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages: the
    request that happens to commit then (and every writer queued at the gate behind it) waits for
    the database file's pages to be copied and synced. Here the commit only counts; a daemon thread
    on its own connection runs a PASSIVE checkpoint, which writers do not wait for. A process that
    forks starts its own thread on its first count."""

    def __init__(self, path: str, every: int = 1000) -> None:
        self.path = path
        self.every = max(1, every)
        self.runs = 0                      # checkpoints run (for tests)
        self._closed = False
        self.renew()
        _forked.add(self)

    def renew(self) -> None:
        """A new process (a forked child): no thread yet, and locks no other thread may hold."""
        self._count = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def committed(self) -> None:
        self._count += 1                   # under the write gate: one writer at a time
        if self._count < self.every:
            return
        self._count = 0
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, args=(self._wake,), daemon=True,
                                                    name="hookhub-sqlite-checkpoint")
                    self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Stop this process's thread (the database is disposed)."""
        self._closed = True
        self._wake.set()

    def _run(self, wake: threading.Event) -> None:
        conn: sqlite3.Connection | None = None
        while True:
            wake.wait()
            wake.clear()
            if self._closed:
                if conn is not None:
                    conn.close()
                return
            try:
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.runs += 1
            except sqlite3.Error as exc:   # the next count tries again; the WAL only grows meanwhile
                log.warning("SQLite checkpoint of %s failed: %s", self.path, exc)
                if conn is not None:
                    conn.close()
                    conn = None


class SQLiteWriteGate:
    """One SQLite transaction at a time on this machine, each holding the write lock from its start.

    ``BEGIN IMMEDIATE`` means a transaction that read first never has to upgrade to a writer, which
    WAL refuses outright (SQLITE_BUSY_SNAPSHOT) when another connection wrote meanwhile. Writers
    queue at the gate instead of in SQLite's busy handler, which polls with sleeps of 1, 2, 5 … up
    to 100 ms: a writer that finds the lock taken sleeps on, long after it was released. Inside a
    process the gate is a Python lock; between processes (web processes, workers, the CLI on the
    same database) it is an exclusive ``flock`` on ``lock_path``, which the kernel hands to the next
    waiter the moment it is released, and releases itself when its process dies. The gate is held
    only while a transaction runs; the hub's transactions are short."""

    TIMEOUT = 30.0

    def __init__(self, lock_path: str | None = None, checkpointer: Checkpointer | None = None) -> None:
        self.lock_path = lock_path            # None: an in-memory database, one process
        self.checkpointer = checkpointer
        self._fd: int | None = None
        self.renew()
        _forked.add(self)

    def renew(self) -> None:
        """A new process (a forked child): the parent's hold is not ours. flock belongs to the open
        file, which fork shares: the child opens the lock file anew, and its threads start with an
        open gate whatever the parent's threads held."""
        if self._fd is not None:
            os.close(self._fd)            # the parent's lock stays the parent's
            self._fd = None
        self._gate = threading.Lock()         # a Lock, not an RLock: released by whoever ends the transaction
        self._holders: set[int] = set()       # id() of DBAPI connections inside a transaction
        self._lock = threading.Lock()

    def install(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "begin", self._begin)
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_conn: Any) -> None:
            try:
                commit(dbapi_conn)
            finally:
                self._end(dbapi_conn, committed=True)

        def do_rollback(dbapi_conn: Any) -> None:
            try:
                rollback(dbapi_conn)
            finally:
                self._end(dbapi_conn)

        dialect.do_commit = do_commit        # type: ignore[method-assign]
        dialect.do_rollback = do_rollback    # type: ignore[method-assign]

    def _acquire(self) -> None:
        if not self._gate.acquire(timeout=self.TIMEOUT):
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, Exception(
                f"no SQLite transaction could start within {self.TIMEOUT:.0f} s in this process "
                "(a transaction opened inside another on the same thread?)"))
        if self.lock_path is None:
            return
        try:
            fcntl.flock(self._lock_file(), fcntl.LOCK_EX)    # blocks without the GIL until the holder releases
        except BaseException:
            self._gate.release()
            raise

    def _release(self, *, committed: bool = False) -> None:
        try:
            if committed and self.checkpointer is not None:
                self.checkpointer.committed()
        finally:
            try:
                if self.lock_path is not None:
                    fcntl.flock(self._lock_file(), fcntl.LOCK_UN)
            finally:
                self._gate.release()

    def _lock_file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE_MODE)
        return self._fd

    def close(self) -> None:
        """Close this process's lock file and stop its checkpoints (the database is disposed)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.checkpointer is not None:
            self.checkpointer.close()

    @contextmanager
    def held(self) -> Iterator[None]:
        """The gate around a transaction run on a raw DBAPI connection (hub.storage.fastsql); it
        counts for the checkpointer whether it committed or not."""
        self._acquire()
        try:
            yield
        finally:
            self._release(committed=True)

    def _begin(self, conn: sa.Connection) -> None:
        self._acquire()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise
        with self._lock:
            self._holders.add(id(conn.connection.dbapi_connection))

    def _end(self, connection: Any, *, committed: bool = False) -> None:
        key = id(getattr(connection, "dbapi_connection", connection))   # the pool's proxy, or the raw one
        with self._lock:
            if key not in self._holders:
                return                        # a rollback outside any transaction (pool reset)
            self._holders.discard(key)
        self._release(committed=committed)


_shared: dict[str, tuple[SQLiteWriteGate, int]] = {}    # database path → its gate, and how many use it
_shared_lock = threading.Lock()


def gate_for(path: str | None) -> SQLiteWriteGate:
    """The write gate of the database file at ``path``, one per file in a process, however many
    engines open it: two gates on one file would queue at one flock but on two thread locks, and a
    thread inside a transaction of one that began a transaction of the other would wait forever
    (with one gate it gets the gate's timeout). ``None`` (an in-memory database): a gate of its own,
    without a lock file. Give it back with :func:`release_gate`."""
    if path is None:
        return SQLiteWriteGate(None)
    with _shared_lock:
        gate, users = _shared.get(path, (None, 0))
        if gate is None:
            gate = SQLiteWriteGate(f"{path}-gate", Checkpointer(path))
        _shared[path] = (gate, users + 1)
        return gate


def release_gate(path: str | None, gate: SQLiteWriteGate) -> None:
    """An engine of the database at ``path`` is disposed: the last one closes the gate."""
    if path is None:
        gate.close()
        return
    with _shared_lock:
        shared, users = _shared.get(path, (None, 0))
        if shared is not gate:
            return
        if users > 1:
            _shared[path] = (gate, users - 1)
            return
        del _shared[path]
    gate.close()
