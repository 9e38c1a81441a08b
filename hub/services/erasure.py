"""Erasure of what a connection's exchanges carried: the payload, raw body and header values of its
events (as a source), and the content of its deliveries (as a target, and those made from its
events). Ids, statuses, times and the SHA-256 digests stay, so the record of what happened — and
the proof of what was received or sent — outlives the data itself.

Erasure also ends what has not happened yet, so that erased data is never sent afterwards: an event
not yet routed becomes ``failed``, a queued delivery ``failed`` and one held for approval
``rejected`` (its approval too). A send already on the wire finishes; if it is to be retried, the
engine fails it instead (it finds the delivery erased).

The work goes in small transactions (SQLite holds one writer at a time), so an erasure of a big
connection never blocks the inbound path for long; run again, it continues where it stopped."""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.statuses import APPROVAL, EVENT, ApprovalStatus, DeliveryStatus, EventStatus
from hub.core.times import utcnow
from hub.storage import audit
from hub.storage.lookup import in_workspace
from hub.storage.models import Approval, Connection, Delivery, DeliveryAttempt, Event

#: The envelope fields that carry the request's content; the others (ids, times, provider, type,
#: channel, message id) describe the event and stay.
ERASED_ENVELOPE_FIELDS = ("payload", "headers", "query", "text")
#: Rows per transaction; an event's envelope holds its payload, so a batch is kept small.
BATCH = 100
EVENT_STOPPED = "erased before it was routed"
DELIVERY_STOPPED = "erased before it was sent"


def erase_connection(session: Session, workspace: str, connection_id: str, actor: str,
                     batch_size: int = BATCH) -> dict[str, int]:
    """Erase ``connection_id``'s stored content (see the module); commits as it goes and returns
    the counts: ``events``, ``deliveries``, ``attempts`` (response excerpts removed) and
    ``stopped`` (events and deliveries ended before they went out). Audited as ``connection.erased``."""
    conn = in_workspace(session, Connection, workspace, connection_id, "connection")
    counts: Counter[str] = Counter({"events": 0, "deliveries": 0, "attempts": 0, "stopped": 0})
    while batch := _erase_events(session, conn.id, batch_size):
        counts.update(batch)
        session.commit()
    while batch := _erase_deliveries(session, conn.id, batch_size, actor):
        counts.update(batch)
        session.commit()
    audit.record(session, actor=actor, action="connection.erased", workspace=workspace, object_type="connection",
                 object_id=conn.id, details=dict(counts))
    session.commit()
    return dict(counts)


def _erase_events(session: Session, connection_id: str, limit: int) -> Counter[str]:
    rows = session.execute(sa.select(Event.id, Event.envelope).where(
        Event.connection_id == connection_id, Event.erased_at.is_(None)).limit(limit)).all()
    if not rows:
        return Counter()
    now = utcnow()
    session.execute(sa.update(Event), [
        {"id": row.id, "envelope": {**(row.envelope or {}), **dict.fromkeys(ERASED_ENVELOPE_FIELDS)},
         "raw_body": b"", "content_type": None, "remote_addr": None, "erased_at": now} for row in rows])
    ids = [row.id for row in rows]
    stopped = session.execute(sa.update(Event).where(
        Event.id.in_(ids), Event.status.in_(EVENT.sources(EventStatus.FAILED)))
        .values(status=EventStatus.FAILED, error=EVENT_STOPPED)).rowcount
    return Counter({"events": len(rows), "stopped": stopped or 0})


def _erase_deliveries(session: Session, connection_id: str, limit: int, actor: str) -> Counter[str]:
    from_its_events = sa.select(Event.id).where(Event.connection_id == connection_id).scalar_subquery()
    ids = list(session.scalars(sa.select(Delivery.id).where(
        sa.or_(Delivery.connection_id == connection_id, Delivery.event_id.in_(from_its_events)),
        Delivery.erased_at.is_(None)).limit(limit)))
    if not ids:
        return Counter()
    now = utcnow()
    session.execute(sa.update(Delivery).where(Delivery.id.in_(ids))
                    .values(body=sa.null(), template=sa.null(), erased_at=now))
    attempts = session.execute(sa.update(DeliveryAttempt).where(
        DeliveryAttempt.delivery_id.in_(ids), DeliveryAttempt.response_excerpt.is_not(None))
        .values(response_excerpt=None)).rowcount
    return Counter({"deliveries": len(ids), "attempts": attempts or 0,
                    "stopped": _stop_unsent(session, ids, actor, now)})


def _stop_unsent(session: Session, ids: list[str], actor: str, now: Any) -> int:
    """Queued deliveries fail and held ones are rejected with their approval: none goes out."""
    failed = session.execute(sa.update(Delivery).where(
        Delivery.id.in_(ids), Delivery.status == DeliveryStatus.QUEUED)
        .values(status=DeliveryStatus.FAILED, last_error=DELIVERY_STOPPED, next_attempt_at=None)).rowcount or 0
    session.execute(sa.update(Approval).where(
        Approval.delivery_id.in_(ids), Approval.status.in_(APPROVAL.sources(ApprovalStatus.REJECTED)))
        .values(status=ApprovalStatus.REJECTED, decided_by=actor, decided_at=now, reason=DELIVERY_STOPPED))
    rejected = session.execute(sa.update(Delivery).where(
        Delivery.id.in_(ids), Delivery.status == DeliveryStatus.PENDING_APPROVAL)
        .values(status=DeliveryStatus.REJECTED, last_error=DELIVERY_STOPPED)).rowcount or 0
    return failed + rejected
