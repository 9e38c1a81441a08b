"""Housekeeping of the big tables, run by the sweeper every few minutes: delete what is past its
workspace's retention (:mod:`hub.worker.retention`), free event ids whose dedupe window has passed,
and expire approvals nobody decided. When a pass leaves a retention backlog (more expired rows
than one pass deletes), the sweeper runs :func:`catch_up` at each sweep until it is gone."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from hub.core.times import utcnow
from hub.delivery.approval import expire_overdue
from hub.storage.models import Connection, Event
from hub.worker.retention import BATCH, MAX_BATCHES, purge_expired


def housekeep(app: Flask, session: Session) -> dict[str, int]:
    """One pass over the tables; returns what it did, ``retention_unfinished`` being the number of
    workspaces whose expired rows were more than one pass deletes. The retention purge and the
    dedupe keys' expiry commit batch by batch; the caller commits the rest."""
    counts = catch_up(session)
    counts["dedupe_keys_expired"] = expire_dedupe_keys(session, int(app.config["HOOKHUB_DEDUPE_WINDOW"]))
    counts["approvals_expired"] = expire_overdue(session)
    return counts


def catch_up(session: Session) -> dict[str, int]:
    """One retention pass alone (see :func:`housekeep` for what it returns)."""
    purged = purge_expired(session)
    return {"failures_pruned": purged.deleted["failures"],
            **{f"{table}_purged": n for table, n in purged.deleted.items() if table != "failures"},
            "retention_unfinished": len(purged.unfinished)}


def expire_dedupe_keys(session: Session, default_window: int, *, batch_size: int = BATCH,
                       max_batches: int = MAX_BATCHES) -> int:
    """Free the event ids whose dedupe window has passed, connection by connection, at most
    ``batch_size`` rows a transaction and ``max_batches`` transactions per connection and pass:
    each freed key rewrites its event row, and one statement for a day of a busy connection's
    events would hold SQLite's writer (or PostgreSQL's row locks) for as long as it takes. What a
    pass leaves waits for the next one; meanwhile the inbound path frees an expired key itself
    when it meets one, so a late expiry changes no answer."""
    expired = 0
    rows = session.execute(sa.select(Connection.id, Connection.provider_config).where(
        Connection.provider.is_not(None))).all()
    session.commit()
    for connection_id, config in rows:
        window = (config or {}).get("dedupe_window")
        window = default_window if window is None else int(window)
        stale = sa.select(Event.id).where(
            Event.connection_id == connection_id, Event.dedupe_key.is_not(None),
            Event.received_at < utcnow() - timedelta(seconds=window))
        for _ in range(max_batches):
            freed = session.execute(
                sa.update(Event).where(Event.id.in_(stale.limit(batch_size).scalar_subquery()))
                .values(dedupe_key=None).execution_options(synchronize_session=False)).rowcount or 0
            session.commit()
            expired += freed
            if freed < batch_size:
                break
    return expired
