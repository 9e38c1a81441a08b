"""The database: one SQLAlchemy engine per app, a session per app context."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from hub.storage.fastsql import FastWriter

log = logging.getLogger(__name__)
PRIVATE_FILE_MODE = 0o600


class Database:
    """Engine and session factory for one database URL."""

    def __init__(self, url: str, *, echo: bool = False, max_connections: int = 40) -> None:
        self.url = url
        kwargs: dict = {"echo": echo, "future": True}
        path = None
        if url.startswith("sqlite"):
            parsed = sa.engine.make_url(url)
            if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
                path = os.path.abspath(parsed.database)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                keep_private(path, create=True)
            kwargs["connect_args"] = {"timeout": 30}
            # Threads wait for the write gate holding a connection: keep them all pooled, since a
            # new SQLite connection pays for its PRAGMAs.
            kwargs.update(pool_size=100, max_overflow=20)
        else:
            # Ten kept open, the rest opened on demand and closed when returned: a worker's job threads
            # (HOOKHUB_WORKER_CONCURRENCY) each hold one at most, web processes one per thread.
            kept = min(10, max_connections)
            kwargs.update(pool_pre_ping=True, pool_size=kept, max_overflow=max_connections - kept)
        self.engine = sa.create_engine(url, **kwargs)
        self.write_gate: SQLiteWriteGate | None = None
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            if path:   # WAL mode is on now, so its -wal and -shm files exist
                sa.event.listen(self.engine, "connect", lambda *_: keep_private(path))
            self.write_gate = SQLiteWriteGate()
            self.write_gate.install(self.engine)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.fast = FastWriter(self.engine, self.write_gate)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessionmaker() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.fast.close()
        self.engine.dispose()


def keep_private(path: str, *, create: bool = False) -> None:
    """Mode 0600 for a SQLite database and its -wal, -shm and -journal files, like the key file:
    they hold every event's payload. With ``create`` the database file is made (empty, which
    SQLite reads as a new database) before SQLite would make it with the umask's mode; SQLite gives
    the files it creates beside it the database file's mode, and files left looser by an older
    version are tightened here."""
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        except FileExistsError:
            pass
        else:
            os.fchmod(fd, PRIVATE_FILE_MODE)     # whatever the umask
            os.close(fd)
    for name in (path, *(path + suffix for suffix in ("-wal", "-shm", "-journal"))):
        try:
            if stat.S_IMODE(os.stat(name).st_mode) & 0o077:
                os.chmod(name, PRIVATE_FILE_MODE)
        except FileNotFoundError:
            continue
        except OSError as exc:    # another user's file: say so, the database still works
            log.warning("cannot make %s private (mode 0600): %s", name, exc)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers and one writer work at once; NORMAL sync is durable across process crashes.
    dbapi_conn.isolation_level = None     # SQLAlchemy emits BEGIN itself (see SQLiteWriteGate)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class SQLiteWriteGate:
    """One SQLite transaction at a time in this process, each holding the write lock from its start.

    ``BEGIN IMMEDIATE`` means a transaction that read first never has to upgrade to a writer, which
    WAL refuses outright (SQLITE_BUSY_SNAPSHOT) when another connection wrote meanwhile. The
    process-wide gate makes threads queue on a Python lock instead of SQLite's busy handler, which
    polls with sleeps of up to 100 ms: with dozens of worker threads that polling, not the disk,
    was the limit. Other processes still wait on SQLite's own lock."""

    TIMEOUT = 30.0

    def __init__(self) -> None:
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
                self._end(dbapi_conn)

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

    @contextmanager
    def held(self) -> Iterator[None]:
        """The gate around a transaction run on a raw DBAPI connection (hub.storage.fastsql)."""
        self._acquire()
        try:
            yield
        finally:
            self._gate.release()

    def _begin(self, conn: sa.Connection) -> None:
        self._acquire()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._gate.release()
            raise
        with self._lock:
            self._holders.add(id(conn.connection.dbapi_connection))

    def _end(self, connection: Any) -> None:
        key = id(getattr(connection, "dbapi_connection", connection))   # the pool's proxy, or the raw one
        with self._lock:
            if key not in self._holders:
                return                        # a rollback outside any transaction (pool reset)
            self._holders.discard(key)
        self._gate.release()


def init_app(app: Flask) -> None:
    app.extensions["hookhub.db"] = Database(app.config["HOOKHUB_DATABASE_URL"],
                                            max_connections=int(app.config["HOOKHUB_DATABASE_CONNECTIONS"]))
    app.teardown_appcontext(_close_session)


def get_database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["hookhub.db"]


def session() -> Session:
    """The session of the current app context (request or job), opened on first use."""
    s = g.get("_hookhub_session")
    if s is None:
        s = g._hookhub_session = get_database().sessionmaker()
    return s


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("_hookhub_session", None)
    if s is not None:
        s.close()
