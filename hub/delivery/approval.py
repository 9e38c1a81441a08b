"""The approval gate between routing and sending, and the one way an approval is decided.

Deliveries to a connection with approval ``policy`` are put to the ``hub_decide_approval``
plugins; with ``external``, an approval request goes to the approver connection (see
:mod:`hub.delivery.approvers`); what nothing decides now (and every delivery to a ``manual``
connection) waits as a pending Approval — for an admin, the approver, or a correlated callback —
until it expires. Whoever decides, :func:`decide` records it once, with who it was: ``token:…``,
``policy:<plugin>``, ``approver:<connection>``, ``connection:<id>`` (a callback), or ``system``
(expiry)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from hub.core.errors import Conflict
from hub.core.statuses import APPROVAL, ApprovalStatus, DeliveryStatus
from hub.core.times import iso, utcnow
from hub.delivery.approvers import approval_request
from hub.plugin import ConnectionView, Decision, DeliveryView, EventView
from hub.runtime import lifecycle
from hub.runtime.plugin_host import get_host
from hub.storage import audit
from hub.storage.models import Approval, Connection, Delivery, Event

log = logging.getLogger(__name__)
HOOK = "hub_decide_approval"


def gate(app: Flask, session: Session, deliveries: Iterable[Delivery],
         connection_view: Callable[[Connection], ConnectionView]) -> list[Delivery]:
    """Hold each delivery waiting for approval, deciding what a policy decides now (a delivery it
    approves becomes ``queued``). Returns the approval requests made for external approvers,
    which the caller dispatches with the rest. ``connection_view(conn)`` gives the plugins' view."""
    requests: list[Delivery] = []
    deliveries = [d for d in deliveries if d.status == DeliveryStatus.PENDING_APPROVAL]
    if deliveries:
        session.flush()      # the deliveries exist before the approvals that point at them
    for delivery in deliveries:
        conn = session.get(Connection, delivery.connection_id)
        event = session.get(Event, delivery.event_id) if delivery.event_id else None
        decision = _ask_policy(app, delivery, event, conn, connection_view) if conn.approval == "policy" else None
        approval = Approval(workspace_id=delivery.workspace_id, delivery_id=delivery.id)
        session.add(approval)
        if decision is None:
            approval.expires_at = _expiry(app, conn)
            session.flush()
            audit.record(session, actor="system", action="approval.requested", workspace=delivery.workspace_id,
                         object_type="delivery", object_id=delivery.id,
                         details={"connection": conn.id, "approval": approval.id})
            lifecycle.approval_changed(session, approval, "approval.requested")
            if conn.approval == "external":
                requests.append(approval_request(app, session, approval, delivery, conn, event, connection_view))
            continue
        decision, decided_by = decision
        _record_decision(session, approval, delivery, decision.approve, decided_by, decision.reason)
    return requests


def decide(session: Session, approval: Approval, approve: bool, decided_by: str, reason: str | None) -> Delivery:
    """Approve or reject a pending approval, once: of two deciders at once exactly one wins, and
    an approval past its ``expires_at`` is not decided even before the sweep has marked it
    (:class:`Conflict` says why). The held delivery becomes ``queued`` (the caller dispatches it)
    or ``rejected``; returns it. The caller commits."""
    now = utcnow()
    if approval.status == ApprovalStatus.PENDING and approval.expires_at is not None and approval.expires_at <= now:
        raise Conflict(f"this approval expired at {iso(approval.expires_at)}: its delivery will not be sent")
    status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    won = session.execute(sa.update(Approval).where(
        Approval.id == approval.id, Approval.status.in_(APPROVAL.sources(status)),
        sa.or_(Approval.expires_at.is_(None), Approval.expires_at > now)).values(
        status=status, decided_by=decided_by, reason=reason, decided_at=now)).rowcount
    session.refresh(approval)
    if not won:
        raise Conflict(f"this approval was already {approval.status} by {approval.decided_by or 'someone'}")
    delivery = session.get(Delivery, approval.delivery_id)
    assert delivery is not None   # approvals are deleted with their delivery
    _release(session, approval, delivery, approve, decided_by, reason)
    return delivery


def _record_decision(session: Session, approval: Approval, delivery: Delivery, approve: bool, decided_by: str,
                     reason: str | None) -> None:
    """A decision taken as the approval is made (a policy's): nobody can race it."""
    approval.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    approval.decided_by, approval.reason, approval.decided_at = decided_by, reason, utcnow()
    session.flush()
    _release(session, approval, delivery, approve, decided_by, reason)


def _release(session: Session, approval: Approval, delivery: Delivery, approve: bool, decided_by: str,
             reason: str | None) -> None:
    audit.record(session, actor=decided_by, action="approval.decided", workspace=approval.workspace_id,
                 object_type="delivery", object_id=delivery.id,
                 details={"approval": approval.id, "approved": approve, "reason": reason})
    if delivery.status == DeliveryStatus.PENDING_APPROVAL:
        if approve:
            delivery.status = DeliveryStatus.QUEUED
        else:
            delivery.status = DeliveryStatus.REJECTED
            delivery.last_error = f"rejected by {decided_by}: {reason}".rstrip(": ") if reason else \
                f"rejected by {decided_by}"
    lifecycle.approval_changed(session, approval, "approval.decided")


def _ask_policy(app: Flask, delivery: Delivery, event: Event | None, conn: Connection,
                connection_view: Callable[[Connection], ConnectionView]) -> tuple[Decision, str] | None:
    """The first policy plugin's decision and ``policy:<plugin>``, asked one plugin at a time in
    pluggy's order (so the record names the plugin that decided), or None."""
    view = DeliveryView(id=delivery.id, webhook_id=delivery.webhook_id,
                        event=EventView(event.id, event.connection_id, dict(event.envelope)) if event else None,
                        connection=connection_view(conn), route_id=delivery.route_id, body=delivery.template)
    pm = get_host(app).pm
    for impl in reversed(getattr(pm.hook, HOOK).get_hookimpls()):     # the order pluggy calls them in
        others = [plugin for _name, plugin in pm.list_name_plugin() if plugin is not impl.plugin]
        try:
            decision = pm.subset_hook_caller(HOOK, remove_plugins=others)(delivery=view)
        except Exception:  # a policy plugin's bug leaves the decision to the others, then to an admin
            log.exception("the %s plugin's hub_decide_approval failed for %s", impl.plugin_name, delivery.id)
            continue
        if isinstance(decision, Decision):
            return decision, f"policy:{impl.plugin_name}"
    return None


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
        if not won:      # decided meanwhile
            continue
        expired += 1
        session.refresh(approval)
        delivery = session.get(Delivery, approval.delivery_id)
        if delivery is not None and delivery.status == DeliveryStatus.PENDING_APPROVAL:
            delivery.status = DeliveryStatus.REJECTED
            delivery.last_error = f"the approval expired: no decision within {waited}"
        audit.record(session, actor="system", action="approval.expired", workspace=approval.workspace_id,
                     object_type="delivery", object_id=approval.delivery_id,
                     details={"approval": approval.id, "waited_seconds": seconds})
        lifecycle.approval_changed(session, approval, "approval.expired")
    return expired


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
