"""Storing an accepted event: one row of the events table, whose unique (connection, dedupe key)
index decides duplicates, inserted and committed together with the other requests of this process
(one INSERT for the batch: a group commit, :mod:`hub.storage.group_commit`) before the request is
answered.

The statements are compiled once and run on a raw DBAPI cursor (:mod:`hub.storage.fastsql`):
SQLAlchemy's execution machinery cost more per request than the write. A duplicate is a no-op
insert (``ON CONFLICT DO NOTHING``) followed by a look at the holder of its key, which finds an
earlier row of the same batch exactly as it finds a committed one — so a duplicate inside one batch
is answered ``duplicate`` with the first one's id. The routing job is not enqueued here: the
worker's hand-off pump reads the events table (the outbox)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from hub.core.errors import PluginError, Unavailable
from hub.storage.db import Database
from hub.storage.fastsql import FastStatement
from hub.storage.group_commit import AGAIN, GroupCommit
from hub.storage.models import Event

#: The columns an insert gives (the others keep their server defaults).
COLUMNS = ("id", "workspace_id", "connection_id", "provider", "event_id", "dedupe_key", "status", "envelope",
           "raw_body", "content_type", "remote_addr", "received_at", "routed_at", "enqueued_at", "headers_sha256",
           "body_sha256", "duration_ms")

#: Rows a commit waits for, within HOOKHUB_GROUP_COMMIT_WAIT_MS (see GroupCommit): measured on 2 cores
#: at 16 connections, batches of 2 became 6, +5-20 % requests/s on SQLite and PostgreSQL.
FILL = 4


class EventStore:
    """The inbound insert of one app: its compiled statements and its group commit."""

    def __init__(self, database: Database, *, max_rows: int = 64, gather: float = 0.0, fill: int = FILL) -> None:
        self.db = database
        self.commits = GroupCommit(database.fast, max_rows=max_rows, gather=gather, fill=fill,
                                   bulk=self._insert_many)
        self._compiled: tuple[FastStatement, FastStatement, FastStatement] | None = None
        self._many: dict[int, FastStatement] = {}     # the insert of n rows, by n
        self._ids: dict[int, FastStatement] = {}      # which of n ids are stored, by n
        self._row_names: list[str] = []               # the one-row INSERT's parameters, in order
        self._id_at = 0

    def insert(self, row: dict[str, Any], *, window: int) -> str | None:
        """Store ``row`` (a value for each of :data:`COLUMNS`); None once it is committed, or the id
        of the event that holds its dedupe key inside ``window`` seconds (nothing is stored then).
        Raises SQLAlchemy's errors (``DataError``: the database refused a value of this row) or
        :class:`Unavailable`; an error of the shared transaction is raised to every request of it."""
        work, order, values = self._work(row, window)
        return self.commits.run(work, order=order, item=values)

    def submit(self, row: dict[str, Any], then: Callable[[str | None, BaseException | None], None], *,
               window: int) -> None:
        """:meth:`insert` without waiting for the commit: ``then(holder, None)`` once it is committed
        (holder as :meth:`insert` returns it), or ``then(None, error)`` with the error it would raise;
        called from the thread that runs the batch (see :meth:`GroupCommit.submit`)."""
        work, order, values = self._work(row, window)
        self.commits.submit(work, then, order=order, item=values)

    def _work(self, row: dict[str, Any], window: int) -> tuple[Callable[[Any], str | None], Any, list[Any]]:
        """What the group commit runs for ``row``: its own work (the insert, and on a taken key the
        look at the key's holder), its order in a batch and its processed values in the one-row
        INSERT's parameter order (the batch's one INSERT takes them: :meth:`_insert_many`)."""
        insert, holder_of, release = self._statements()
        key = row["dedupe_key"]
        values = insert.ordered(row)      # here, not in the transaction: JSON encoding is the dearest part

        def work(cursor: Any) -> str | None:
            for _ in range(2):
                if insert.execute(cursor, values):
                    return None
                holders = holder_of.rows(cursor, {"connection_id": row["connection_id"], "dedupe_key": key})
                if not holders:
                    continue  # the holder lost its key meanwhile (PostgreSQL, another process): once more
                holder_id, holder_received = holders[0]
                if holder_received > row["received_at"] - timedelta(seconds=window):
                    return holder_id
                # The window has passed but housekeeping has not cleared the key yet.
                release.rows(cursor, {"holder": holder_id})
            raise Unavailable("the event could not be stored; retry later")

        # Ordered by key inside a batch: PostgreSQL's unique-key locks are then taken in one order.
        return work, (row["connection_id"], key) if key is not None else None, values

    def _insert_many(self, cursor: Any, rows: list[list[Any]]) -> list[Any]:
        """The batch's rows (each its processed values in the one-row INSERT's parameter order) in
        one statement: None for each one stored, AGAIN for each one whose dedupe key was taken (its
        own work then finds the holder: see GroupCommit).

        The statement returns nothing: the count of rows it inserted says whether all were stored
        (nearly always), and only when some were not are the stored ones looked up by id (each
        row's id is new). SQLite spends ~10 µs a row on RETURNING in a batch of three."""
        n = len(rows)
        statement = self._many.get(n) or self._compile_many(n)
        flat = [value for row in rows for value in row]          # under the write lock: kept to a copy
        inserted = statement.changes(cursor, flat)
        if inserted == n:
            return [None] * n
        at = self._id_at
        ids = [row[at] for row in rows]
        stored = {row_id for row_id, in self._select_ids(n).execute(cursor, ids)} if inserted else set()
        return [None if row_id in stored else AGAIN for row_id in ids]

    def _compile_many(self, n: int) -> FastStatement:
        """The INSERT of ``n`` rows, whose positional parameters are the rows' values one after the
        other (both dialects list each row's VALUES in the one-row INSERT's order)."""
        table = Event.__table__
        statement = FastStatement(self.db.engine, self._insert_for(
            [{c: sa.bindparam(f"{c}_{i}", type_=table.c[c].type) for c in COLUMNS} for i in range(n)],
            returning=False))
        if statement.order != [f"{name}_{i}" for i in range(n) for name in self._row_names]:
            raise RuntimeError(f"{self.db.engine.dialect.name}: the bulk statement for {n} rows does not take "
                               "their values in order")
        self._many[n] = statement
        return statement

    def _select_ids(self, n: int) -> FastStatement:
        """Which of ``n`` event ids (positional parameters, in order) are stored."""
        statement = self._ids.get(n)
        if statement is None:
            table = Event.__table__
            statement = self._ids[n] = FastStatement(self.db.engine, sa.select(table.c.id).where(
                table.c.id.in_([sa.bindparam(f"id_{i}", type_=table.c.id.type) for i in range(n)])), [table.c.id])
        return statement

    def _insert_for(self, values: Any, *, returning: bool = True) -> Any:
        """INSERT of ``values`` (one row's bind parameters, or a list of rows') into events; a row
        whose dedupe key is taken is skipped; with ``returning``, each stored row's id is returned."""
        dialect = self.db.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            raise PluginError(f"the {dialect} database is not supported; use SQLite or PostgreSQL")
        table = Event.__table__
        statement = insert(table).values(values).on_conflict_do_nothing(index_elements=["connection_id", "dedupe_key"])
        return statement.returning(table.c.id) if returning else statement

    def _statements(self) -> tuple[FastStatement, FastStatement, FastStatement]:
        if self._compiled is None:
            engine = self.db.engine
            table = Event.__table__
            self._compiled = (
                FastStatement(engine, self._insert_for({c: sa.bindparam(c, type_=table.c[c].type) for c in COLUMNS}),
                              [table.c.id]),
                FastStatement(engine, sa.select(table.c.id, table.c.received_at).where(
                    table.c.connection_id == sa.bindparam("connection_id"),
                    table.c.dedupe_key == sa.bindparam("dedupe_key")), [table.c.id, table.c.received_at]),
                FastStatement(engine, sa.update(table).where(table.c.id == sa.bindparam("holder"))
                              .values(dedupe_key=sa.null())))
            insert = self._compiled[0]
            # SQLite's statements are positional, PostgreSQL's made so (FastStatement): a row's values
            # go to the bulk statement in the one-row INSERT's order.
            assert insert.order is not None
            self._row_names = insert.order
            self._id_at = self._row_names.index("id")
        return self._compiled
