"""Apply Alembic migrations to the app's database (``hookhub db upgrade``, ``hookhub serve``).

On PostgreSQL the migrations run under an advisory lock, so nodes that start together migrate one
after the other: the first applies them, the next finds the schema at head and does nothing."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from hub.storage.db import Database

log = logging.getLogger(__name__)
#: pg_advisory_xact_lock's key for "migrating this database" ("Hookhub!" as a 64-bit integer).
MIGRATION_LOCK = int.from_bytes(b"Hookhub!", "big")


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "hub.storage:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(database: Database, revision: str = "head") -> list[str]:
    """Bring the schema to ``revision``; a no-op when it is already there. Returns the revisions
    applied, oldest first (none when another node had applied them while this one waited)."""
    cfg = alembic_config(database.url)
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            _lock_migrations(conn)          # held until this transaction ends, migrations included
        before = MigrationContext.configure(conn).get_current_heads()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_heads()
    if set(before) == set(after):
        return []
    script = ScriptDirectory.from_config(cfg)
    applied = script.iterate_revisions(after, before or "base")
    return [r.revision for r in reversed(list(applied)) if r is not None]


def _lock_migrations(conn: sa.Connection) -> None:
    if not conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(MIGRATION_LOCK))).scalar():
        log.info("another node is migrating this database; waiting for it to finish")
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))


def pending(database: Database) -> bool:
    """True when the database is behind the newest migration."""
    script = ScriptDirectory.from_config(alembic_config(database.url))
    with database.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    return set(current) != set(script.get_heads())
