"""Deliveries for admins: filtered, newest-first pages of them (by their event's type too); retry
one, retry every dead one of a connection, replay an event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, defer, selectinload

from hub.core.errors import Conflict
from hub.core.statuses import RETRYABLE_DELIVERY, DeliveryStatus
from hub.delivery.dispatch import dispatch_new, dispatch_now
from hub.delivery.routing import create_deliveries
from hub.services.cursor_pages import Page, page_of
from hub.services.events import type_condition
from hub.storage import audit
from hub.storage.lookup import in_workspace
from hub.storage.models import Connection, Delivery, DeliveryAttempt, Event


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries a list shows; every field left None matches all."""

    event: str | None = None
    connection: str | None = None
    status: str | None = None
    type: str | None = None          # the event's type: exact, or with ``*`` as in EventFilter.type
    since: datetime | None = None    # created at or after


def delivery_page(session: Session, workspace: str, filters: DeliveryFilter, cursor: str | None,
                  limit: int) -> Page[Delivery]:
    """A page of the workspace's deliveries, newest first, with their attempts (one more read for
    the page). Bodies, templates and answer excerpts are not read: a list does not show them. A
    type filter joins each delivery's event, whose envelope holds the type."""
    query = sa.select(Delivery).where(Delivery.workspace_id == workspace).options(
        defer(Delivery.body), defer(Delivery.template),
        selectinload(Delivery.attempts).defer(DeliveryAttempt.response_excerpt))
    for value, column in ((filters.event, Delivery.event_id), (filters.connection, Delivery.connection_id),
                          (filters.status, Delivery.status)):
        if value:
            query = query.where(column == value)
    if filters.type:
        query = query.join(Event, Event.id == Delivery.event_id).where(type_condition(session, filters.type))
    if filters.since is not None:
        query = query.where(Delivery.created_at >= filters.since)
    return page_of(session, query, Delivery.id, cursor, limit)


def retryable(delivery: Delivery) -> bool:
    """Whether an admin may send it again now (:meth:`DeliveryService.retry` says why not)."""
    return delivery.erased_at is None and delivery.status in RETRYABLE_DELIVERY


def dead_letters(session: Session, workspace: str, connection_id: str) -> int:
    """How many deliveries to this connection are dead and can be retried at once (erased ones cannot)."""
    return session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
        Delivery.workspace_id == workspace, Delivery.connection_id == connection_id,
        Delivery.status == DeliveryStatus.DEAD, Delivery.erased_at.is_(None))) or 0


class DeliveryService:
    def __init__(self, session: Session, app: Flask, actor: str) -> None:
        self.session = session
        self.app = app
        self.actor = actor

    def get(self, workspace: str, delivery_id: str) -> Delivery:
        return in_workspace(self.session, Delivery, workspace, delivery_id, "delivery")

    def retry(self, delivery: Delivery) -> Delivery:
        """Send again now, with a fresh retry schedule and the same webhook-id."""
        if delivery.erased_at is not None:
            raise Conflict(f"delivery {delivery.id} was erased: its content is gone, so it cannot be sent again")
        if delivery.status not in RETRYABLE_DELIVERY:
            raise Conflict(f"a delivery that is {delivery.status} cannot be retried now")
        self._restart(delivery)
        self._audit(delivery, "delivery.retried")
        dispatch_now(self.app, self.session, [delivery])
        return delivery

    def retry_dead(self, workspace: str, connection_id: str) -> list[str]:
        """Retry every dead delivery of a connection of ``workspace``; returns their ids."""
        in_workspace(self.session, Connection, workspace, connection_id, "connection")
        dead = self.session.scalars(sa.select(Delivery).where(
            Delivery.workspace_id == workspace, Delivery.connection_id == connection_id,
            Delivery.status == DeliveryStatus.DEAD, Delivery.erased_at.is_(None))).all()
        for delivery in dead:
            self._restart(delivery)
        audit.record(self.session, actor=self.actor, action="deliveries.retried_dead", workspace=workspace,
                     object_type="connection", object_id=connection_id, details={"count": len(dead)})
        dispatch_now(self.app, self.session, dead)
        return [d.id for d in dead]

    def replay(self, workspace: str, event_id: str) -> list[str]:
        """Route a stored event again: new deliveries (new webhook-ids) for today's routes."""
        event = in_workspace(self.session, Event, workspace, event_id, "event")
        if event.erased_at is not None:
            raise Conflict(f"event {event_id} was erased: its payload is gone, so it cannot be replayed")
        deliveries = create_deliveries(self.session, event)
        audit.record(self.session, actor=self.actor, action="event.replayed", workspace=workspace,
                     object_type="event", object_id=event_id, details={"deliveries": [d.id for d in deliveries]})
        dispatch_new(self.app, self.session, deliveries)
        return [d.id for d in deliveries]

    def _restart(self, delivery: Delivery) -> None:
        delivery.status = DeliveryStatus.QUEUED
        delivery.cycle_start = delivery.attempt_count
        delivery.next_attempt_at = None
        delivery.last_error = None

    def _audit(self, delivery: Delivery, action: str, details: dict[str, Any] | None = None) -> None:
        audit.record(self.session, actor=self.actor, action=action, workspace=delivery.workspace_id,
                     object_type="delivery", object_id=delivery.id, details=details or {})
