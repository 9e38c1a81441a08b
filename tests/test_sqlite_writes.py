"""SQLite's write path (hub.storage.sqlite): writers of every process queue at one gate, a flock the
kernel hands over, never in SQLite's sleeping busy handler; and WAL checkpoints run on a thread of
their own, not inside a request's commit."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.storage.db import Database
from hub.storage.sqlite import SQLiteWriteGate
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    with database.fast.transaction() as cursor:
        cursor.execute("CREATE TABLE t (n INTEGER, pad BLOB)")
    yield database
    database.dispose()


def waiting_for_the_gate(pid: int) -> bool:
    """``pid`` waits for a flock (a blocked lock shows in /proc/locks as ``-> FLOCK … pid``)."""
    return any(line.split()[1] == "->" and int(line.split()[5]) == pid
               for line in Path("/proc/locks").read_text().splitlines() if "->" in line)


def rows(db: Database) -> list[int]:
    with sqlite3.connect(db.engine.url.database) as conn:
        return [n for n, in conn.execute("SELECT n FROM t ORDER BY n")]


CHILD = textwrap.dedent("""
    import sys
    import sqlalchemy as sa
    from hub.storage.db import Database
    db = Database(sys.argv[1])
    # No busy wait in SQLite at all: a writer that did not queue at the gate fails at once.
    sa.event.listen(db.engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=0"))
    with db.fast.transaction() as cursor:
        cursor.execute("INSERT INTO t (n) VALUES (2)")
    print("stored")
""")


def test_a_writer_of_another_process_waits_at_the_gate_and_writes_once_it_is_released(db):
    with _sqlite_write(db):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(db.url)], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda: waiting_for_the_gate(child.pid) or child.poll() is not None, "the child to wait at the gate")
        assert child.poll() is None, child.communicate()
    out, err = child.communicate(timeout=60)
    assert (child.returncode, out.strip()) == (0, "stored"), err
    assert rows(db) == [1, 2]


def _forked_writer(gate: SQLiteWriteGate, entered) -> None:
    """In a forked child: pass the gate inherited from the parent, and say so."""
    with gate.held():
        entered.set()
    os._exit(0)


def test_a_forked_process_does_not_share_its_parents_hold_on_the_gate(tmp_path):
    """flock belongs to the open file, which fork shares: a child forked while the parent holds
    the gate would pass it at once. (A bare gate: a forked child must not use its parent's SQLite
    connections, and the hub's processes are forked before they open any.)"""
    gate = SQLiteWriteGate(str(tmp_path / "hub.db-gate"))
    context = multiprocessing.get_context("fork")
    entered = context.Event()
    child = context.Process(target=_forked_writer, args=(gate, entered))
    with gate.held():
        child.start()
        wait_until(lambda: waiting_for_the_gate(child.pid) or entered.is_set(), "the child to reach the gate")
        assert not entered.is_set(), "the child passed the gate its parent holds"
    child.join(60)
    assert (entered.is_set(), child.exitcode) == (True, 0)
    gate.close()


class _sqlite_write:
    """The gate held and SQLite's write lock taken, with one row written but not yet committed."""

    def __init__(self, db: Database) -> None:
        self.transaction = db.fast.transaction()

    def __enter__(self) -> None:
        self.transaction.__enter__().execute("INSERT INTO t (n) VALUES (1)")

    def __exit__(self, *exc) -> None:
        self.transaction.__exit__(*exc)


def test_commits_do_not_checkpoint_a_thread_does_every_so_many(tmp_path):
    path = tmp_path / "hub.db"
    db = Database(f"sqlite:///{path}")
    checkpointer = db.write_gate.checkpointer
    checkpointer.every = 20
    try:
        with db.fast.transaction() as cursor:
            cursor.execute("CREATE TABLE t (n INTEGER, pad BLOB)")
            assert cursor.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        size = path.stat().st_size
        for n in range(checkpointer.every - 2):        # the first transaction made the table
            with db.fast.transaction() as cursor:
                cursor.execute("INSERT INTO t VALUES (?, ?)", (n, b"x" * 8192))
        # Nineteen commits, 150 KB in the WAL, and not one page of it copied to the database file.
        assert (checkpointer.runs, path.stat().st_size) == (0, size)
        with db.fast.transaction() as cursor:
            cursor.execute("INSERT INTO t VALUES (?, ?)", (99, b"x" * 8192))
        wait_until(lambda: checkpointer.runs == 1, "the checkpoint thread to run")
        assert path.stat().st_size > size + 19 * 8192   # the WAL's pages are in the database file now
    finally:
        db.dispose()


def test_engines_on_one_file_share_its_gate_and_a_nested_write_times_out_instead_of_hanging(tmp_path, monkeypatch):
    """Two gates on one file would queue at one flock but on two thread locks: a thread inside a
    transaction of one that began one of the other would wait for itself forever."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    first, second = Database(url), Database(url)
    try:
        assert first.write_gate is second.write_gate
        monkeypatch.setattr(SQLiteWriteGate, "TIMEOUT", 0.2)
        with first.fast.transaction() as cursor:
            cursor.execute("CREATE TABLE t (n INTEGER)")
            with pytest.raises(sa.exc.OperationalError, match="no SQLite transaction could start"):
                with second.fast.transaction():
                    pass
        second.dispose()
        second.dispose()                                   # twice: given back once
        third = Database(url)
        assert third.write_gate is first.write_gate        # the first still holds it
        third.dispose()
        with first.fast.transaction() as cursor:
            cursor.execute("INSERT INTO t VALUES (1)")
        assert rows(first) == [1]
    finally:
        first.dispose()
        second.dispose()
