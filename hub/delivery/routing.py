"""The routing job: accepted events → one Delivery per target of every active route whose rules
match, through the approval gate, then dispatched. The job runs in the worker's app context and is
idempotent: the sweeper may enqueue it again when it cannot tell whether the first one ran."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from rq import Queue, Retry
from sqlalchemy.orm import Session

from hub.core.ids import new_id
from hub.core.matching import rules_match, type_matches
from hub.core.statuses import EVENT, DeliveryStatus, EventStatus
from hub.core.times import utcnow
from hub.delivery.dispatch import dispatch_new
from hub.plugin import EventView
from hub.runtime import lifecycle
from hub.runtime.plugin_host import get_host
from hub.storage import db
from hub.storage.models import Connection, Delivery, Event, Route
from hub.storage.queue import get_queue

log = logging.getLogger(__name__)
ROUTE_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
ROUTE_JOB = dict(result_ttl=0, failure_ttl=7 * 86400, timeout=300, retry=ROUTE_RETRY)
#: Approval modes that hold a new delivery for a decision.
HELD = ("manual", "policy", "external")


def new_route_job_id() -> str:
    return f"route-{uuid.uuid4().hex}"


def route_job_spec(queue: Queue, event_ids: list[str], job_id: str) -> Any:
    """For ``Queue.enqueue_many``: one routing job for a batch of events (record ``job_id`` on them)."""
    return queue.prepare_data(route_events, args=(list(event_ids),), job_id=job_id, **ROUTE_JOB)


def enqueue_routing(event_ids: list[str], job_id: str, app: Flask | None = None) -> None:
    queue = get_queue("ingest", app)
    queue.enqueue_many([route_job_spec(queue, event_ids, job_id)])


def route_events(event_ids: list[str]) -> str:
    """Turn accepted events into deliveries, each event once, then tell the plugins.

    The claim is one UPDATE of the events still ``accepted``: a second job for the same events (the
    sweeper may make one) waits for the first's commit and then finds nothing left to route."""
    session = db.session()
    claimed = set(session.scalars(sa.update(Event).where(
        Event.id.in_(event_ids), Event.status.in_(EVENT.sources(EventStatus.ROUTED)))
        .values(status=EventStatus.ROUTED, routed_at=utcnow()).returning(Event.id)))
    if not claimed:
        session.rollback()
        return "nothing to route"
    events = session.scalars(sa.select(Event).where(Event.id.in_(claimed)).order_by(Event.received_at)).all()
    table = RouteTable(session)
    deliveries = [delivery for event in events for delivery in create_deliveries(session, event, table)]
    dispatch_new(current_app._get_current_object(), session, deliveries)      # commits, then enqueues
    hook = get_host().hook.hub_event_received
    for event in events:
        try:
            hook(event=EventView(id=event.id, connection_id=event.connection_id, envelope=event.envelope,
                                 raw_body=event.raw_body))
        except Exception:  # an observer's bug must not re-route the event
            log.exception("a hub_event_received hook failed for %s", event.id)
    return f"routed {len(events)} event(s) to {len(deliveries)} target(s)"


class RouteTable:
    """The active routes of each source and their target connections, read once per routing job
    (a job routes a batch of events, mostly from the same few sources)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._routes: dict[str, list[Route]] = {}
        self._targets: dict[str, Connection | None] = {}

    def routes(self, source_id: str) -> list[Route]:
        if source_id not in self._routes:
            self._routes[source_id] = list(self.session.scalars(sa.select(Route).where(
                Route.source_id == source_id, Route.active.is_(True)).order_by(Route.id)))
        return self._routes[source_id]

    def target(self, connection_id: Any) -> Connection | None:
        if connection_id not in self._targets:
            self._targets[connection_id] = self.session.get(Connection, connection_id) if connection_id else None
        return self._targets[connection_id]


def create_deliveries(session: Session, event: Event, table: RouteTable | None = None) -> list[Delivery]:
    """One Delivery per target of every active matching route (added to ``session``)."""
    table = table or RouteTable(session)
    created: list[Delivery] = []
    with session.no_autoflush:   # the new deliveries are written once, at the commit
        for route in table.routes(event.connection_id):
            if not type_matches(route.event_types, event.envelope.get("type")) \
                    or not rules_match(route.match, event.envelope):
                continue
            for target in route.targets or []:
                target_conn = table.target(target.get("connection"))
                if target_conn is None or not target_conn.channel:
                    log.warning("route %s targets %s, which is gone or has no channel", route.id,
                                target.get("connection"))
                    continue
                status = DeliveryStatus.PENDING_APPROVAL if target_conn.approval in HELD else DeliveryStatus.QUEUED
                delivery = Delivery(id=new_id("dlv"), workspace_id=event.workspace_id, event_id=event.id,
                                    route_id=route.id, connection_id=target_conn.id, webhook_id=new_id("msg"),
                                    status=status, template=target.get("template"),
                                    purpose="lifecycle" if event.provider == lifecycle.PROVIDER else "message")
                session.add(delivery)
                created.append(delivery)
    return created
