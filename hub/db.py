"""The database: one SQLAlchemy engine per app, a session per app context."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """Engine and session factory for one database URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
            kwargs.update(pool_size=10, max_overflow=60)   # a worker runs up to 64 jobs in threads
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=60)
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

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
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers and one writer work at once; NORMAL sync is durable across process crashes.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def init_app(app: Flask) -> None:
    app.extensions["hookhub.db"] = Database(app.config["HOOKHUB_DATABASE_URL"])
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
