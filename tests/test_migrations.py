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
