"""Housekeeping of the big tables, run by the sweeper every few minutes: delete what is past its
workspace's retention (:mod:`hub.worker.retention`), free event ids whose dedupe window has passed,
and expire approvals nobody decided."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from hub.core.times import utcnow
from hub.delivery.approval import expire_overdue
from hub.storage.models import Connection, Event
from hub.worker.retention import purge_expired


def housekeep(app: Flask, session: Session) -> dict[str, int]:
    """One pass over the tables; returns what it did. The retention purge commits batch by batch;
    the caller commits the rest."""
    purged = purge_expired(session)
    return {"failures_pruned": purged.deleted["failures"],
            **{f"{table}_purged": n for table, n in purged.deleted.items() if table != "failures"},
            "dedupe_keys_expired": expire_dedupe_keys(session, int(app.config["HOOKHUB_DEDUPE_WINDOW"])),
            "approvals_expired": expire_overdue(session)}


def expire_dedupe_keys(session: Session, default_window: int) -> int:
    """Free the event ids whose dedupe window has passed, connection by connection."""
    expired = 0
    rows = session.execute(sa.select(Connection.id, Connection.provider_config).where(
        Connection.provider.is_not(None))).all()
    for connection_id, config in rows:
        window = (config or {}).get("dedupe_window")
        window = default_window if window is None else int(window)
        result = session.execute(sa.update(Event).where(
            Event.connection_id == connection_id, Event.dedupe_key.is_not(None),
            Event.received_at < utcnow() - timedelta(seconds=window)).values(dedupe_key=None))
        expired += result.rowcount or 0
    return expired
