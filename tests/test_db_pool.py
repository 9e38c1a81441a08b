"""The PostgreSQL pool: each process opens at most HOOKHUB_DATABASE_CONNECTIONS connections, so
that a few processes stay within the server's max_connections; a worker says when its job
threads could outnumber them."""

from __future__ import annotations

import logging
import threading

import pytest
import sqlalchemy as sa
from flask import Flask

from hub.storage.db import Database
from hub.worker.runner import _warn_if_pool_too_small
from tests.conftest import fresh_postgres_database


def _backends(db: Database) -> int:
    with db.engine.connect() as conn:   # counts itself
        return conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
                            ).scalar_one()


@pytest.mark.postgres
def test_a_process_opens_no_more_connections_than_allowed(postgres_url):
    db = Database(fresh_postgres_database(postgres_url), max_connections=3)
    held = [db.engine.connect() for _ in range(2)]
    assert _backends(db) == 3                                # two held and the one counting
    held.append(db.engine.connect())
    got: list[sa.Connection] = []
    waiter = threading.Thread(target=lambda: got.append(db.engine.connect()))
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive() and not got                     # a fourth waits for one to come back
    held.pop().close()
    waiter.join(10)
    assert len(got) == 1
    for conn in held + got:
        conn.close()
    db.dispose()


@pytest.mark.parametrize("url, connections, warned", [
    ("postgresql+psycopg://db/hub", 10, True),
    ("postgresql+psycopg://db/hub", 34, False),
    ("sqlite:///hub.db", 10, False),                         # SQLite's pool is not the limit
])
def test_a_worker_warns_when_its_threads_could_outnumber_its_connections(caplog, url, connections, warned):
    app = Flask("pool-check")
    app.config.update(HOOKHUB_DATABASE_URL=url, HOOKHUB_WORKER_CONCURRENCY=32,
                      HOOKHUB_DATABASE_CONNECTIONS=connections)
    with caplog.at_level(logging.WARNING, logger="hub.worker.runner"):
        _warn_if_pool_too_small(app)
    assert any("HOOKHUB_DATABASE_CONNECTIONS" in r.getMessage() for r in caplog.records) is warned
