"""Activating and deactivating a connection — by an admin, or by the delivery engine when an
endpoint keeps failing — in one place: the fields, the version every cache keys on, the audit
record, and the announcement after the commit."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.runtime import lifecycle
from hub.runtime.changes import ConnectionChanges
from hub.storage import audit
from hub.storage.models import Connection


def bump_version(conn: Connection) -> None:
    """Mark an admin-visible change (caches and the API key their copies on it)."""
    conn.version = (conn.version or 0) + 1


def apply_active(conn: Connection, active: bool, reason: str | None = None) -> None:
    """The fields of an (in)active connection: activating forgets the failures that disabled it."""
    conn.active = active
    if active:
        conn.disabled_reason = None
        conn.consecutive_failures = 0
        conn.failing_since = None
    else:
        conn.disabled_reason = reason


def set_active(session: Session, conn: Connection, active: bool, *, actor: str, changes: ConnectionChanges | None,
               reason: str | None = None, action: str | None = None) -> None:
    """(De)activate ``conn`` in ``session`` and record ``action`` (``connection.activated`` or
    ``connection.deactivated`` by default); the caller commits, then ``changes`` tells every process."""
    apply_active(conn, active, reason)
    bump_version(conn)
    session.flush()
    action = action or ("connection.activated" if active else "connection.deactivated")
    audit.record(session, actor=actor, action=action, workspace=conn.workspace_id, object_type="connection",
                 object_id=conn.id, details={"reason": reason} if reason else {})
    lifecycle.connection_changed(session, conn, action)
    if changes is not None:
        changes.after_commit(session)
