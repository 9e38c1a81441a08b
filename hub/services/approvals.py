"""Approvals for admins: list them (pending first), approve one (its delivery is sent) or reject
one with a reason (its delivery is never sent). A decision is taken once: a second one, or one
racing it, is a conflict."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, selectinload

from hub.core.errors import Conflict, invalid
from hub.core.statuses import ApprovalStatus, DeliveryStatus
from hub.delivery.approval import decide
from hub.delivery.dispatch import dispatch_now
from hub.storage.lookup import in_workspace
from hub.storage.models import Approval, Delivery

#: Pending approvals sort before decided ones; each group newest first.
RANK = sa.case((Approval.status == ApprovalStatus.PENDING, 0), else_=1)


class ApprovalService:
    def __init__(self, session: Session, app: Flask, actor: str) -> None:
        self.session = session
        self.app = app
        self.actor = actor

    def page(self, workspace: str, status: str | None, cursor: str | None,
             limit: int) -> tuple[list[Approval], str | None]:
        """A page of approvals, pending first; the cursor is ``<rank>:<id>`` of the last row."""
        query = sa.select(Approval).where(Approval.workspace_id == workspace).options(selectinload(Approval.delivery))
        if status:
            query = query.where(Approval.status == status)
        if cursor:
            rank, _, last_id = cursor.partition(":")
            if rank not in ("0", "1") or not last_id:
                raise invalid({"cursor": ["not a cursor this list gave: pass the 'next' value of the previous page"]})
            query = query.where(sa.or_(RANK > int(rank), sa.and_(RANK == int(rank), Approval.id < last_id)))
        rows = list(self.session.scalars(query.order_by(RANK, Approval.id.desc()).limit(limit + 1)))
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], f"{0 if last.status == ApprovalStatus.PENDING else 1}:{last.id}"

    def get(self, workspace: str, approval_id: str) -> Approval:
        return in_workspace(self.session, Approval, workspace, approval_id, "approval")

    def approve(self, approval: Approval, reason: str | None) -> Approval:
        """Release the delivery to the queue: it is sent like any other, with its retries."""
        delivery = self._decide(approval, True, reason)
        if delivery.status == DeliveryStatus.QUEUED:
            dispatch_now(self.app, self.session, [delivery])     # commits, then enqueues
        else:
            self.session.commit()
        return approval

    def reject(self, approval: Approval, reason: str) -> Approval:
        self._decide(approval, False, reason)
        self.session.commit()
        return approval

    def _decide(self, approval: Approval, approve: bool, reason: str | None) -> Delivery:
        try:
            return decide(self.session, approval, approve, self.actor, reason)
        except Conflict:
            self.session.rollback()
            raise
