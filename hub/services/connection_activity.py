"""What an admin wants to know of each connection at a glance: its state (active, inactive, or
disabled by endpoint health after failures), when it last received an event and sent a delivery,
how many of its recent inbound requests were refused and of its recent deliveries failed, and the
flags a channel raised. A few grouped queries for the whole list, not one per connection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.statuses import DeliveryStatus
from hub.core.times import utcnow
from hub.storage.models import AuditRecord, Connection, Delivery, Event, Failure

RECENT = timedelta(hours=24)
FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DEAD)
NOT_DELIVERED = (DeliveryStatus.FAILED, DeliveryStatus.DEAD)


class ConnectionState(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"                               # deactivated by an admin
    DISABLED_AFTER_FAILURES = "disabled after failures"   # deactivated by endpoint health


@dataclass(frozen=True)
class Rate:
    """``failed`` of ``total`` over the recent window."""

    failed: int
    total: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.failed / self.total) if self.total else None


@dataclass(frozen=True)
class ConnectionActivity:
    connection: Connection
    state: ConnectionState
    last_event_at: datetime | None
    last_delivery_at: datetime | None
    inbound: Rate          # refused requests of all inbound requests, last 24 h
    outbound: Rate         # failed or dead deliveries of the finished ones, last 24 h
    flags: list[str] = field(default_factory=list)


def connection_activity(session: Session, workspace: str, connections: Sequence[Connection],
                        now: datetime | None = None) -> list[ConnectionActivity]:
    """The activity of ``connections`` (all of ``workspace``), in their order."""
    ids = [conn.id for conn in connections]
    if not ids:
        return []
    since = (now or utcnow()) - RECENT
    last_event = _by_connection(session, sa.select(Event.connection_id, sa.func.max(Event.received_at)).where(
        Event.workspace_id == workspace, Event.connection_id.in_(ids)).group_by(Event.connection_id))
    last_delivery = _by_connection(session, sa.select(Delivery.connection_id, sa.func.max(Delivery.created_at)).where(
        Delivery.workspace_id == workspace, Delivery.connection_id.in_(ids)).group_by(Delivery.connection_id))
    received = _by_connection(session, sa.select(Event.connection_id, sa.func.count()).where(
        Event.workspace_id == workspace, Event.connection_id.in_(ids), Event.received_at >= since)
        .group_by(Event.connection_id))
    refused = _by_connection(session, sa.select(Failure.connection_id, sa.func.count()).where(
        Failure.workspace_id == workspace, Failure.connection_id.in_(ids), Failure.at >= since)
        .group_by(Failure.connection_id))
    finished: dict[str, int] = {}
    failed: dict[str, int] = {}
    for connection_id, status, count in session.execute(
            sa.select(Delivery.connection_id, Delivery.status, sa.func.count()).where(
                Delivery.workspace_id == workspace, Delivery.connection_id.in_(ids), Delivery.created_at >= since,
                Delivery.status.in_(FINISHED)).group_by(Delivery.connection_id, Delivery.status)):
        finished[connection_id] = finished.get(connection_id, 0) + count
        if status in NOT_DELIVERED:
            failed[connection_id] = failed.get(connection_id, 0) + count
    disabled = _disabled_by_health(session, [conn.id for conn in connections if not conn.active])
    out = []
    for conn in connections:
        state = (ConnectionState.ACTIVE if conn.active else
                 ConnectionState.DISABLED_AFTER_FAILURES if conn.id in disabled else ConnectionState.INACTIVE)
        refused_count = refused.get(conn.id, 0)
        out.append(ConnectionActivity(
            connection=conn, state=state, last_event_at=last_event.get(conn.id),
            last_delivery_at=last_delivery.get(conn.id),
            inbound=Rate(refused_count, refused_count + received.get(conn.id, 0)),
            outbound=Rate(failed.get(conn.id, 0), finished.get(conn.id, 0)), flags=_flags(conn, state)))
    return out


def _by_connection(session: Session, query: sa.Select[Any]) -> dict[str, Any]:
    return {connection_id: value for connection_id, value in session.execute(query)}


def _disabled_by_health(session: Session, inactive_ids: list[str]) -> set[str]:
    """Of these inactive connections, those whose last deactivation was endpoint health's."""
    if not inactive_ids:
        return set()
    latest: dict[str, str] = {}
    for object_id, action in session.execute(
            sa.select(AuditRecord.object_id, AuditRecord.action).where(
                AuditRecord.object_type == "connection", AuditRecord.object_id.in_(inactive_ids),
                AuditRecord.action.in_(("connection.disabled", "connection.deactivated")))
            .order_by(AuditRecord.at.desc(), AuditRecord.id.desc())):
        latest.setdefault(object_id, action)
    return {object_id for object_id, action in latest.items() if action == "connection.disabled"}


def _flags(conn: Connection, state: ConnectionState) -> list[str]:
    flags = []
    if state is ConnectionState.DISABLED_AFTER_FAILURES:
        flags.append(ConnectionState.DISABLED_AFTER_FAILURES.value)
    elif conn.active and conn.consecutive_failures:
        flags.append(f"failing: {conn.consecutive_failures} failed deliveries in a row")
    if conn.flag:
        flags.append(conn.flag)
    return flags
