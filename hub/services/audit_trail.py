"""The audit trail of a workspace, filtered by action (``connection.*`` for every action of a kind),
object, actor and time: newest-first pages and single records, read alike by the admin API and the
console."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.services.cursor_pages import Page, page_of
from hub.storage.lookup import in_workspace
from hub.storage.models import AuditRecord


@dataclass(frozen=True)
class AuditFilter:
    """Which records a list shows; every field left None matches all."""

    action: str | None = None        # exact, or ``prefix.*`` for every action starting ``prefix.``
    object: str | None = None        # the id of the object acted on
    actor: str | None = None         # ``token:<id>``, ``system``, ``cli``…
    since: datetime | None = None    # recorded at or after


def audit_page(session: Session, workspace: str, filters: AuditFilter, cursor: str | None,
               limit: int) -> Page[AuditRecord]:
    query = sa.select(AuditRecord).where(AuditRecord.workspace_id == workspace)
    action = filters.action
    if action and action.endswith(".*"):
        prefix = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditRecord.action.like(prefix + "%", escape="\\"))
    elif action:
        query = query.where(AuditRecord.action == action)
    if filters.object:
        query = query.where(AuditRecord.object_id == filters.object)
    if filters.actor:
        query = query.where(AuditRecord.actor == filters.actor)
    if filters.since is not None:
        query = query.where(AuditRecord.at >= filters.since)
    return page_of(session, query, AuditRecord.id, cursor, limit)


def get_record(session: Session, workspace: str, record_id: str) -> AuditRecord:
    return in_workspace(session, AuditRecord, workspace, record_id, "audit record")
