"""Endpoint health: consecutive failures over a window disable a connection, and say why."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from hub.models import Connection, utcnow
from hub.services import audit

DEFAULT_FAILURES = 20
DEFAULT_WINDOW = 86400


def record_success(session: Session, conn: Connection) -> None:
    if conn.consecutive_failures or conn.failing_since:
        session.execute(sa.update(Connection).where(Connection.id == conn.id).values(
            consecutive_failures=0, failing_since=None))


def record_failure(session: Session, conn: Connection, detail: str) -> None:
    """Count one failed attempt atomically (several workers may fail at once); disable the
    connection once it failed N times in a row over at least the window."""
    now = utcnow()
    session.execute(sa.update(Connection).where(Connection.id == conn.id).values(
        consecutive_failures=Connection.consecutive_failures + 1,
        failing_since=sa.func.coalesce(Connection.failing_since, now)))
    session.refresh(conn, ["consecutive_failures", "failing_since"])
    config = conn.channel_config or {}
    threshold = int(config.get("disable_after_failures") or current_app.config["HOOKHUB_DISABLE_AFTER_FAILURES"])
    window = float(config.get("disable_after_seconds") if config.get("disable_after_seconds") is not None
                   else current_app.config["HOOKHUB_DISABLE_AFTER_SECONDS"])
    if conn.consecutive_failures >= threshold and conn.failing_since <= now - timedelta(seconds=window):
        disable(session, conn, f"{conn.consecutive_failures} consecutive failed deliveries since "
                               f"{conn.failing_since:%Y-%m-%d %H:%M} UTC; last: {detail[:300]}")


def disable(session: Session, conn: Connection, reason: str) -> None:
    """Deactivate ``conn`` and record the ``connection.disabled`` lifecycle event."""
    if not conn.active:
        return
    conn.active = False
    conn.disabled_reason = reason
    conn.version = (conn.version or 0) + 1
    audit.record(session, actor="system", action="connection.disabled", workspace=conn.workspace_id,
                 object_type="connection", object_id=conn.id, details={"reason": reason})
    from hub.inbound.cache import bump_epoch
    from hub.queue import get_redis

    app = current_app._get_current_object()
    sa.event.listen(session, "after_commit", lambda _s: bump_epoch(get_redis(app)), once=True)
