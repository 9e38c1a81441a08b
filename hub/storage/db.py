"""The database: one SQLAlchemy engine per app, a session per app context."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from hub.storage import json_text, sqlite
from hub.storage.fastsql import FastWriter
from hub.storage.sqlite import PRIVATE_FILE_MODE

log = logging.getLogger(__name__)


class Database:
    """Engine and session factory for one database URL."""

    def __init__(self, url: str, *, echo: bool = False, max_connections: int = 40) -> None:
        self.url = url
        kwargs: dict = {"echo": echo, "future": True, "json_serializer": json_text.dumps}
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
        self._path = path
        self._released = False
        self.write_gate: sqlite.SQLiteWriteGate | None = None
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", sqlite.pragmas)
            if path:   # WAL mode is on now, so its -wal and -shm files exist
                sa.event.listen(self.engine, "connect", lambda *_: keep_private(path))
            self.write_gate = sqlite.gate_for(path)
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
        if self.write_gate is not None and not self._released:
            self._released = True             # a second dispose must not give it back twice
            sqlite.release_gate(self._path, self.write_gate)


def keep_private(path: str, *, create: bool = False) -> None:
    """Mode 0600 for a SQLite database and its -wal, -shm and -journal files, like the key file:
    they hold every event's payload (and for its -gate lock file, made 0600 by the write gate). With
    ``create`` the database file is made (empty, which SQLite reads as a new database) before SQLite
    would make it with the umask's mode; SQLite gives the files it creates beside it the database
    file's mode, and files left looser by an older version are tightened here."""
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        except FileExistsError:
            pass
        else:
            os.fchmod(fd, PRIVATE_FILE_MODE)     # whatever the umask
            os.close(fd)
    for name in (path, *(path + suffix for suffix in ("-wal", "-shm", "-journal", "-gate"))):
        try:
            if stat.S_IMODE(os.stat(name).st_mode) & 0o077:
                os.chmod(name, PRIVATE_FILE_MODE)
        except FileNotFoundError:
            continue
        except OSError as exc:    # another user's file: say so, the database still works
            log.warning("cannot make %s private (mode 0600): %s", name, exc)


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
