"""The approval gate between routing and sending: deliveries to a connection with approval
``policy`` are put to the ``hub_decide_approval`` plugins; what no policy decides (and every
delivery to a ``manual`` connection) waits as a pending Approval for an admin, until it expires."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from hub.core.statuses import APPROVAL, ApprovalStatus, DeliveryStatus
from hub.core.times import utcnow
from hub.plugin import ConnectionView, Decision, DeliveryView, EventView
from hub.runtime.plugin_host import get_host
from hub.storage import audit
from hub.storage.models import Approval, Connection, Delivery, Event

log = logging.getLogger(__name__)


def gate(app: Flask, session: Session, deliveries: Iterable[Delivery],
         connection_view: Callable[[Connection], ConnectionView]) -> list[Delivery]:
    """Decide what can be decided now; returns the deliveries released to the queue.

    ``connection_view(conn)`` gives the plugins' view of a connection (secrets decrypted)."""
    released: list[Delivery] = []
    deliveries = [d for d in deliveries if d.status == DeliveryStatus.PENDING_APPROVAL]
    if deliveries:
        session.flush()      # the deliveries exist before the approvals that point at them
    for delivery in deliveries:
        conn = session.get(Connection, delivery.connection_id)
        decision = _ask_policy(app, session, delivery, conn, connection_view) if conn.approval == "policy" else None
        approval = Approval(workspace_id=delivery.workspace_id, delivery_id=delivery.id)
        session.add(approval)
        if decision is None:
            approval.expires_at = _expiry(app, conn)
            audit.record(session, actor="system", action="approval.requested", workspace=delivery.workspace_id,
                         object_type="delivery", object_id=delivery.id, details={"connection": conn.id})
            continue
        approval.status = ApprovalStatus.APPROVED if decision.approve else ApprovalStatus.REJECTED
        approval.decided_by = decision.decided_by or "policy"
        approval.reason = decision.reason
        approval.decided_at = utcnow()
        audit.record(session, actor=approval.decided_by, action="approval.decided", workspace=delivery.workspace_id,
                     object_type="delivery", object_id=delivery.id,
                     details={"approved": decision.approve, "reason": decision.reason})
        if decision.approve:
            delivery.status = DeliveryStatus.QUEUED
            released.append(delivery)
        else:
            delivery.status = DeliveryStatus.REJECTED
            delivery.last_error = f"rejected by {approval.decided_by}: {decision.reason}".rstrip(": ")
    return released


def _ask_policy(app: Flask, session: Session, delivery: Delivery, conn: Connection,
                connection_view: Callable[[Connection], ConnectionView]) -> Decision | None:
    event = session.get(Event, delivery.event_id) if delivery.event_id else None
    view = DeliveryView(id=delivery.id, webhook_id=delivery.webhook_id,
                        event=EventView(event.id, event.connection_id, dict(event.envelope)) if event else None,
                        connection=connection_view(conn), route_id=delivery.route_id, body=delivery.template)
    try:
        decision = get_host(app).hook.hub_decide_approval(delivery=view)
    except Exception:  # a policy plugin's bug leaves the decision to an admin
        log.exception("a hub_decide_approval hook failed for %s; waiting for an admin", delivery.id)
        return None
    return decision if isinstance(decision, Decision) else None


def _expiry(app: Flask, conn: Connection) -> datetime | None:
    configured = (conn.channel_config or {}).get("approval_timeout")
    seconds = int(configured if configured is not None else app.config["HOOKHUB_APPROVAL_TIMEOUT"])
    return utcnow() + timedelta(seconds=seconds) if seconds > 0 else None


def expire_overdue(session: Session, limit: int = 500) -> int:
    """Pending approvals past ``expires_at`` become ``expired`` and their deliveries ``rejected``
    (never sent); returns how many. The caller commits."""
    now = utcnow()
    overdue = session.scalars(sa.select(Approval).where(
        Approval.status == ApprovalStatus.PENDING, Approval.expires_at.is_not(None), Approval.expires_at <= now)
        .limit(limit)).all()
    expired = 0
    for approval in overdue:
        seconds = int((now - approval.created_at).total_seconds())
        waited = _duration(round((approval.expires_at - approval.created_at).total_seconds()))   # the window given
        won = session.execute(sa.update(Approval).where(
            Approval.id == approval.id, Approval.status.in_(APPROVAL.sources(ApprovalStatus.EXPIRED))).values(
            status=ApprovalStatus.EXPIRED, decided_by="system", decided_at=now,
            reason=f"no decision within {waited}")).rowcount
        if not won:      # an admin decided meanwhile
            continue
        expired += 1
        delivery = session.get(Delivery, approval.delivery_id)
        if delivery is not None and delivery.status == DeliveryStatus.PENDING_APPROVAL:
            delivery.status = DeliveryStatus.REJECTED
            delivery.last_error = f"the approval expired: no decision within {waited}"
        audit.record(session, actor="system", action="approval.expired", workspace=approval.workspace_id,
                     object_type="delivery", object_id=approval.delivery_id,
                     details={"approval": approval.id, "waited_seconds": seconds})
    return expired


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"

