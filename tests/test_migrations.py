import os
import sqlite3
import stat
import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.storage.db import Database
from hub.storage.models import Base
from hub.storage.schema import pending, upgrade

TABLES = {"workspaces", "api_tokens", "connections", "params", "routes", "events", "deliveries", "delivery_attempts",
          "approvals", "audit_records", "failures"}


def test_migrations_build_the_schema_from_empty(database_url):
    db = Database(database_url)
    assert pending(db)
    upgrade(db)
    assert not pending(db)
    tables = set(sa.inspect(db.engine).get_table_names())
    assert TABLES <= tables
    upgrade(db)  # a second run is a no-op
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def _modes(path) -> dict[str, int]:
    return {suffix: stat.S_IMODE(os.stat(f"{path}{suffix}").st_mode) for suffix in ("", "-wal", "-shm")}


def test_the_sqlite_files_are_private_whatever_the_umask(tmp_path):
    path = tmp_path / "hookhub.db"
    old_umask = os.umask(0o022)              # the usual one: files readable by everyone
    try:
        db = Database(f"sqlite:///{path}")
        upgrade(db)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM connections")).scalar() == 0
            assert _modes(path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
        db.dispose()
    finally:
        os.umask(old_umask)


def test_sqlite_files_left_readable_are_tightened_at_start(tmp_path):
    path = tmp_path / "hookhub.db"
    old_umask = os.umask(0o022)
    try:
        older = sqlite3.connect(path)        # a database an older version made, still open elsewhere
        older.execute("PRAGMA journal_mode=WAL")
        older.execute("CREATE TABLE t (x)")
        older.commit()
        assert _modes(path) == {"": 0o644, "-wal": 0o644, "-shm": 0o644}
        db = Database(f"sqlite:///{path}")
        assert _modes(path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
        db.dispose()
        older.close()
    finally:
        os.umask(old_umask)


def test_an_upgrade_logs_the_migrations_it_runs_not_alembics_plugins(tmp_path):
    """In a process of its own, logging as ``hookhub serve`` does: Alembic sets its plugins up (and
    says so) when a process first imports it."""
    code = ("from hub.core.logs import configure; configure('INFO', 'text'); "
            "from hub.storage.db import Database; from hub.storage.schema import upgrade; "
            f"upgrade(Database('sqlite:///{tmp_path / 'quiet.db'}'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stderr
    assert "Running upgrade" in out
    assert "alembic.runtime.plugins" not in out, out
