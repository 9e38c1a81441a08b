"""Endpoint health: consecutive failed deliveries over a window disable a connection, and say why."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from hub.core.times import utcnow
from hub.runtime.changes import get_changes
from hub.runtime.connection_state import set_active
from hub.storage.models import Connection


def record_success(session: Session, conn: Connection) -> None:
    if conn.consecutive_failures or conn.failing_since:
        session.execute(sa.update(Connection).where(Connection.id == conn.id).values(
            consecutive_failures=0, failing_since=None))


def record_failure(app: Flask, session: Session, conn: Connection, detail: str) -> None:
    """Count one failed attempt atomically (several workers may fail at once); disable the
    connection once it failed N times in a row over at least the window."""
    now = utcnow()
    session.execute(sa.update(Connection).where(Connection.id == conn.id).values(
        consecutive_failures=Connection.consecutive_failures + 1,
        failing_since=sa.func.coalesce(Connection.failing_since, now)))
    session.refresh(conn, ["consecutive_failures", "failing_since"])
    config = conn.channel_config or {}
    threshold = int(config.get("disable_after_failures") or app.config["HOOKHUB_DISABLE_AFTER_FAILURES"])
    window = float(config.get("disable_after_seconds") if config.get("disable_after_seconds") is not None
                   else app.config["HOOKHUB_DISABLE_AFTER_SECONDS"])
    if conn.consecutive_failures >= threshold and conn.failing_since <= now - timedelta(seconds=window):
        disable(app, session, conn, f"{conn.consecutive_failures} consecutive failed deliveries since "
                                    f"{conn.failing_since:%Y-%m-%d %H:%M} UTC; last: {detail[:300]}")


def disable(app: Flask, session: Session, conn: Connection, reason: str) -> None:
    """Deactivate ``conn`` as the system, recording ``connection.disabled`` with the reason."""
    if conn.active:
        set_active(session, conn, False, actor="system", changes=get_changes(app), reason=reason,
                   action="connection.disabled")
