"""The append-only audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.storage.models import AuditRecord


def record(session: Session, *, actor: str, action: str, workspace: str | None,
           object_type: str | None = None, object_id: str | None = None,
           details: dict[str, Any] | None = None, headers_sha256: str | None = None,
           body_sha256: str | None = None) -> AuditRecord:
    """Add one record to ``session`` (committed with the change it describes)."""
    entry = AuditRecord(actor=actor, action=action, workspace_id=workspace, object_type=object_type,
                        object_id=object_id, details=details or {}, headers_sha256=headers_sha256,
                        body_sha256=body_sha256)
    session.add(entry)
    return entry
