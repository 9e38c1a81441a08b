"""The hub's own lifecycle events: a delivery succeeded, failed or died, an approval was requested
or decided, a connection was created, disabled, flagged… Each workspace has one source of them (a
system connection), and a route whose source is ``lifecycle`` subscribes to the types it lists.

A lifecycle event is recorded as an event of that source, in the same transaction as the change it
reports: it exists exactly when the change is committed, once (a rolled-back change reports
nothing). From there it goes the way every event goes: the hand-off pump, routing, and deliveries
with retries, signing, approvals and the SSRF rules — on their own queue, after the ordinary ones,
so that a storm of ``delivery.failed`` cannot starve the deliveries it reports on. Deliveries made
from lifecycle events report nothing themselves (no loops). Nothing is recorded for a type no
route subscribes to."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.ids import new_id
from hub.core.matching import type_matches
from hub.core.statuses import EventStatus
from hub.core.times import iso, utcnow
from hub.runtime.representations import approval_item, connection_item, delivery_item
from hub.storage.models import Approval, Connection, Delivery, Event, Route

PROVIDER = "lifecycle"
SOURCE_NAME = "(lifecycle)"          # a name the connection name rule allows and no admin would pick

#: The catalogue: every type, with what its ``payload.data`` is.
CATALOGUE: dict[str, str] = {
    "delivery.succeeded": "A delivery reached its destination. Data: the delivery.",
    "delivery.failed": "An attempt of a delivery failed and will be retried. Data: the delivery. Noisy: one per "
                       "failed attempt; subscribe to delivery.dead to hear only of what is given up.",
    "delivery.dead": "A delivery spent every retry and is a dead letter now. Data: the delivery.",
    "delivery.refused": "The destination refused a delivery for good (a 4xx other than 408, 425 or 429, or the "
                        "channel's verdict): it is not retried. Data: the delivery.",
    "approval.requested": "A delivery is held for a decision. Data: the approval.",
    "approval.decided": "An approval was approved or rejected (by an admin, a policy, an approver or a "
                        "callback). Data: the approval.",
    "approval.expired": "A held delivery waited longer than its approval timeout and will not be sent. "
                        "Data: the approval.",
    "connection.created": "A connection was created. Data: the connection (no secrets).",
    "connection.updated": "A connection's settings changed. Data: the connection (no secrets).",
    "connection.deleted": "A connection was deleted. Data: the connection as it was.",
    "connection.disabled": "A connection was disabled because its endpoint kept failing. Data: the connection.",
    "connection.flagged": "A channel flagged a connection for an admin (a revoked token, a missing channel…). "
                          "Data: the connection.",
    "secret.rotated": "A connection's secret was rotated; the old one verifies during its grace period. "
                      "Data: the connection and the secret's name.",
    "key.reset": "A connection's inbound key was reset: the old inbound URL stopped working. Data: the connection.",
}


#: What a connection's audit action reports to subscribers (actions not listed report nothing).
CONNECTION_ACTIONS = {
    "connection.created": "connection.created", "connection.updated": "connection.updated",
    "connection.activated": "connection.updated", "connection.deactivated": "connection.updated",
    "connection.deleted": "connection.deleted", "connection.disabled": "connection.disabled",
    "connection.secret_rotated": "secret.rotated", "connection.key_reset": "key.reset",
}


def connection_changed(session: Session, conn: Connection, action: str, **extra: Any) -> None:
    """Report a connection's audited ``action`` (``connection.created``…) to its workspace's subscribers."""
    event_type = CONNECTION_ACTIONS.get(action)
    if event_type is not None and not conn.system:
        emit(session, conn.workspace_id, event_type, {**connection_item(conn), **extra},
             text=f"{event_type}: {conn.name}")


def delivery_changed(session: Session, delivery: Delivery, event_type: str) -> None:
    """Report a delivery's ``event_type`` (``delivery.succeeded``…) — not for deliveries made from
    lifecycle events (no loops), nor for the requests the hub sends to external approvers."""
    if not reports(session, delivery, event_type):
        return
    session.flush()
    session.expire(delivery, ["attempts"])                # the attempt just recorded is among them
    emit(session, delivery.workspace_id, event_type, delivery_item(delivery),
         text=f"{event_type}: {delivery.id}" + (f" ({delivery.last_error})" if delivery.last_error else ""))


def reports(session: Session, delivery: Delivery, event_type: str) -> bool:
    """Whether :func:`delivery_changed` writes a report of ``event_type`` for ``delivery``."""
    return delivery.purpose == "message" and subscribed(session, delivery.workspace_id, event_type)


def approval_changed(session: Session, approval: Approval, event_type: str) -> None:
    """Report an approval's ``event_type`` (``approval.requested``, ``.decided``, ``.expired``)."""
    if not subscribed(session, approval.workspace_id, event_type):
        return
    session.flush()
    delivery = session.get(Delivery, approval.delivery_id)
    if delivery is None or delivery.purpose != "message":
        return
    emit(session, approval.workspace_id, event_type, approval_item(approval, delivery),
         text=f"{event_type}: {approval.id} ({approval.status})")


def subscribed(session: Session, workspace: str, event_type: str) -> bool:
    return any(type_matches(types, event_type) for types in _subscriptions(session, workspace))


def source(session: Session, workspace: str, *, create: bool = False) -> Connection | None:
    """The workspace's lifecycle source (made on demand when ``create``)."""
    found = session.scalar(sa.select(Connection).where(Connection.workspace_id == workspace,
                                                       Connection.system.is_(True),
                                                       Connection.provider == PROVIDER))
    if found is None and create:
        found = Connection(workspace_id=workspace, name=SOURCE_NAME, provider=PROVIDER, system=True, active=True)
        session.add(found)
        session.flush()
    return found


def emit(session: Session, workspace: str, event_type: str, data: Mapping[str, Any], text: str = "") -> Event | None:
    """Record a lifecycle event of ``event_type`` in ``session`` when a route of ``workspace``
    subscribes to it (committed, or not, with the caller's change)."""
    if event_type not in CATALOGUE:
        raise ValueError(f"{event_type!r} is not a lifecycle event type")
    if not subscribed(session, workspace, event_type):
        return None
    src = source(session, workspace)
    if src is None:
        return None
    now = utcnow()
    hub_id, event_id = new_id("evt"), new_id("lce")
    payload = {"type": event_type, "data": dict(data)}
    envelope = {"id": hub_id, "workspace": workspace, "connection": None, "provider": PROVIDER,
                "received_at": iso(now), "event_id": event_id, "channel": None, "message_id": None,
                "event_ts": iso(now), "text": text or event_type, "type": event_type, "event_type": event_type,
                "headers": {}, "query": {}, "payload": payload}
    event = Event(id=hub_id, workspace_id=workspace, connection_id=src.id, provider=PROVIDER, event_id=event_id,
                  dedupe_key=None, status=EventStatus.ACCEPTED, envelope=envelope,
                  raw_body=json.dumps(payload, separators=(",", ":")).encode(), content_type="application/json",
                  received_at=now)
    session.add(event)
    return event


def _subscriptions(session: Session, workspace: str) -> list[list[str]]:
    """The event types of the workspace's active lifecycle routes, read once per session (a job or
    a request): most emissions find none and cost nothing more."""
    cache: dict[str, list[list[str]]] = session.info.setdefault("hookhub.lifecycle_routes", {})
    if workspace not in cache:
        rows = session.execute(sa.select(Route.event_types).join(Connection, Connection.id == Route.source_id).where(
            Route.workspace_id == workspace, Route.active.is_(True), Connection.system.is_(True),
            Connection.provider == PROVIDER)).scalars()
        cache[workspace] = [list(types or []) for types in rows]
    return cache[workspace]


def forget_subscriptions(session: Session) -> None:
    """After a lifecycle route changes in ``session``."""
    session.info.pop("hookhub.lifecycle_routes", None)
