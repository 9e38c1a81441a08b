"""Nodes that start together on one PostgreSQL database migrate one after the other: `hookhub db
upgrade` (and `hookhub serve`'s migrate step) takes an advisory lock for the whole migration, so the
second finds the schema at head instead of creating the same tables at the same moment."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.storage.db import Database
from hub.storage.models import Base
from hub.storage.schema import MIGRATION_LOCK, pending
from tests.conftest import fresh_postgres_database
from tests.waiting import wait_until

pytestmark = pytest.mark.postgres
WAITING = sa.text("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                  "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()")


def test_two_upgrades_started_together_on_a_fresh_database_both_succeed(postgres_url, tmp_path):
    url = fresh_postgres_database(postgres_url)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    nodes = []
    with engine.connect() as gate:
        # The test holds the migration lock first, so both nodes are sure to be at the same point
        # (waiting for it) when it lets go: without the lock in the code they would not wait at all.
        gate.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK)))
        for name in ("a", "b"):
            env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
            env.update(HOOKHUB_DATABASE_URL=url, HOOKHUB_INSTANCE_PATH=str(tmp_path / name),
                       HOOKHUB_BOOTSTRAP_TOKEN="the-same-bootstrap-token")
            nodes.append(subprocess.Popen([sys.executable, "-m", "hub", "db", "upgrade"], env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        def both_waiting() -> bool:
            assert all(n.poll() is None for n in nodes), [n.communicate() for n in nodes if n.poll() is not None]
            return gate.execute(WAITING).scalar() >= 2

        wait_until(both_waiting, "the two upgrades to wait for the migration lock", timeout=60)
        gate.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK)))
    outputs = [n.communicate(timeout=120) for n in nodes]
    engine.dispose()
    for node, (out, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0 and "database at head" in out, err[-3000:]
        assert "another node is migrating this database; waiting" in err     # an operator sees why it paused
    # One applied every migration, the other found nothing left to apply.
    said = sorted(out.split("(", 1)[1].split(":")[0].strip(")\n") for out, _ in outputs)
    assert said[0].startswith("applied ") and said[1] == "nothing to apply", [out for out, _ in outputs]

    db = Database(url)
    try:
        assert not pending(db)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
            assert diff == [], f"models and migrations disagree: {diff}"
            assert conn.execute(sa.text("SELECT id FROM workspaces")).scalars().all() == ["default"]
            assert conn.execute(sa.text("SELECT count(*) FROM api_tokens WHERE name = 'bootstrap'")).scalar() == 1
    finally:
        db.dispose()
