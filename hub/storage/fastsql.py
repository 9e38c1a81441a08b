"""Short write transactions on a DBAPI connection of their own, for the inbound request path.

Storing a batch of accepted webhooks is one INSERT (and, for a duplicate, one SELECT).
Through SQLAlchemy's execution machinery that costs about 0.25 ms per request on top of what the
database does (pool checkout and reset, execution context, result wrapping) — more than SQLite
spends on the write itself. Here a Core statement is compiled once for the dialect and run on the
raw DBAPI cursor, with each column type's own bind and result processing, so the values are
stored and read exactly as the ORM stores and reads them. The writer keeps its connection (taken
from the engine's pool, so the pool's connect-time setup still applies) until an error says it is
broken. Errors come out as SQLAlchemy's exceptions (``DataError``, ``OperationalError`` …).

On psycopg 3 the statements use PostgreSQL's own placeholders (``$1``, ``$2`` …) on a
``RawCursor``, which sends a statement's text as it is: psycopg's default cursor looks for its
``%s`` placeholders in every statement with a regular expression and keeps the result only for
statements under 50 parameters and 4 KB, so the INSERT of a batch (17 parameters a row) was split
again at each execution — ~17 µs a row of the web process's CPU in a batch of six, more than the
rest of psycopg's work on it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa


class FastStatement:
    """A Core statement with named bind parameters, compiled once for ``engine``'s dialect."""

    def __init__(self, engine: sa.Engine, statement: Any, result_columns: Sequence[sa.ColumnElement] = ()) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        if getattr(compiled, "insert_prefetch", None):
            names = ", ".join(c.key for c in compiled.insert_prefetch)
            raise ValueError(f"give every column with a Python-side default a value ({names})")
        self.sql = compiled.string
        self.order = list(compiled.positiontup) if compiled.positional else None
        if self.order is None and dialect.paramstyle == "pyformat":
            self.sql, self.order = (_numbered if native_placeholders(dialect) else _positional)(self.sql)
        self.binds = {name: bind.key for name, bind in compiled.binds.items()}
        self.bind_processors = {name: processor for name, bind in compiled.binds.items()
                                if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))}
        self.result_processors = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                                  for column in result_columns]
        self._ordered = [(self.binds[name], self.bind_processors.get(name)) for name in self.order or ()]

    def process(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` (by bind key) as the driver takes them, by bind name: each column type's bind
        processing (JSON encoding, datetimes …), which can be done before a transaction opens."""
        processed = {}
        for name, key in self.binds.items():
            value = values[key]
            processor = self.bind_processors.get(name)
            processed[name] = processor(value) if processor is not None and value is not None else value
        return processed

    def ordered(self, values: Mapping[str, Any]) -> list[Any]:
        """:meth:`process`, as the positional parameters in :attr:`order` (for :meth:`execute`)."""
        if self.order is None:
            raise TypeError("the statement takes named parameters")
        out = []
        for key, processor in self._ordered:
            value = values[key]
            out.append(processor(value) if processor is not None and value is not None else value)
        return out

    def run(self, cursor: Any, processed: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute with values already processed (:meth:`process`); the rows, result-processed."""
        return self.execute(cursor, [processed[name] for name in self.order] if self.order is not None else processed)

    def execute(self, cursor: Any, parameters: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute with the driver's own parameters: processed values in :attr:`order` (a positional
        dialect) or by bind name; the rows, result-processed."""
        cursor.execute(self.sql, parameters)
        fetched = cursor.fetchall() if cursor.description else []
        return [tuple(p(v) if p is not None else v for p, v in zip(self.result_processors, row, strict=False))
                for row in fetched]

    def changes(self, cursor: Any, parameters: Sequence[Any] | Mapping[str, Any]) -> int:
        """Execute a statement that returns no rows, with the driver's own parameters (as
        :meth:`execute`); the number of rows it inserted, updated or deleted."""
        cursor.execute(self.sql, parameters)
        return cursor.rowcount

    def rows(self, cursor: Any, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.run(cursor, self.process(values))


def native_placeholders(dialect: sa.Dialect) -> bool:
    """Whether :class:`FastStatement` and :class:`FastWriter` use PostgreSQL's own placeholders on a
    ``RawCursor`` (psycopg 3; see the module's text)."""
    return dialect.driver == "psycopg"


def _numbered(sql: str) -> tuple[str, list[str]]:
    """``%(name)s`` placeholders as PostgreSQL's ``$1``, ``$2`` … (a name used twice keeps its
    number), an escaped ``%%`` as ``%``; and the names in the order of their numbers."""
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        return f"${names.setdefault(name, len(names) + 1)}"

    return _PLACEHOLDER.sub(number, sql), list(names)


def _positional(sql: str) -> tuple[str, list[str] | None]:
    """``%(name)s`` placeholders as ``%s`` and their names in order, when each name is used once
    (psycopg takes both; a list costs it less per parameter than a dict: ~6 µs a row of the
    inbound bulk INSERT). Anything else is left named."""
    names = _NAMED.findall(sql)
    if not names or len(set(names)) != len(names):
        return sql, None
    return _NAMED.sub("%s", sql), names


_NAMED = re.compile(r"(?<!%)%\((\w+)\)s")
_PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")


class FastWriter:
    """Transactions, one at a time, on one DBAPI connection of the process; on SQLite, inside the
    write gate. One connection, not one per thread: the group commit runs one transaction at a
    time anyway (whichever thread leads), and a connection that does every write keeps its page
    cache warm (SQLite) and its prepared statements (PostgreSQL)."""

    def __init__(self, engine: sa.Engine, write_gate: Any = None) -> None:
        self.engine = engine
        self.gate = write_gate
        self.sqlite = engine.dialect.name == "sqlite"
        self._conn: sa.Connection | None = None      # kept until an error says it is broken
        # The cursor's class: psycopg's RawCursor for FastStatement's $n placeholders, or the driver's own.
        self._cursor = engine.dialect.loaded_dbapi.RawCursor if native_placeholders(engine.dialect) else None
        self._busy = threading.Lock()

    def _connection(self) -> sa.Connection:
        conn = self._conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._conn = self.engine.connect()
        return conn

    @contextmanager
    def transaction(self, *, lazy: bool = False) -> Iterator[Any]:
        """A DBAPI cursor inside a transaction: committed when the block ends, rolled back on error.

        With ``lazy`` the transaction opens at :meth:`begin`; a statement run before that is a
        transaction of its own, committed when it returns (the write gate is held all the same)."""
        with self._busy:
            yield from self._transaction(lazy)

    def _transaction(self, lazy: bool) -> Iterator[Any]:
        dialect = self.engine.dialect
        try:
            conn = self._connection()
            raw = conn.connection.dbapi_connection
        except sa.exc.SQLAlchemyError:
            self._conn = None
            raise
        with self.gate.held() if self.gate is not None else _nothing():
            cursor = None
            try:
                cursor = raw.cursor() if self._cursor is None else self._cursor(raw)
                if lazy:
                    if not self.sqlite:       # SQLite's connections are in autocommit mode (hub.storage.db)
                        raw.autocommit = True
                else:
                    self.begin(cursor)
                yield cursor
                if self.sqlite:
                    if raw.in_transaction:
                        cursor.execute("COMMIT")
                elif not raw.autocommit:
                    raw.commit()
            except BaseException as exc:
                self._rollback(conn, raw, cursor)
                if isinstance(exc, dialect.loaded_dbapi.Error):
                    broken = dialect.is_disconnect(exc, raw, cursor)
                    if broken:
                        conn.invalidate(exc)
                        self._conn = None
                    raise sa.exc.DBAPIError.instance(None, None, exc, dialect.loaded_dbapi.Error,
                                                     connection_invalidated=broken, dialect=dialect) from exc
                raise
            finally:
                try:
                    if cursor is not None:
                        cursor.close()
                    if lazy and not self.sqlite and self._conn is conn:
                        raw.autocommit = False
                except dialect.loaded_dbapi.Error:
                    pass

    def begin(self, cursor: Any) -> None:
        """Open the transaction of a ``lazy`` :meth:`transaction` (or of any, at its start)."""
        if self.sqlite:                       # autocommit mode: the transaction is ours to open
            cursor.execute("BEGIN IMMEDIATE")
        else:
            cursor.connection.autocommit = False  # psycopg opens it with the next statement

    def _rollback(self, conn: sa.Connection, raw: Any, cursor: Any) -> None:
        try:
            if self.sqlite:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
            else:
                raw.rollback()
        except Exception as exc:  # the connection is broken (the error being raised says why): drop it
            conn.invalidate(exc)
            self._conn = None

    def close(self) -> None:
        conn = self._conn
        if conn is not None:
            conn.close()
            self._conn = None


@contextmanager
def _nothing() -> Iterator[None]:
    yield
