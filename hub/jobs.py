"""RQ jobs. Each runs inside the worker's app context (see ``hub.worker``) and is idempotent:
the sweeper may enqueue a job again when it cannot tell whether the first one ran."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from rq import Queue, Retry

from hub import db
from hub.models import Event, utcnow
from hub.plugin import EventView
from hub.plugin_host import get_host
from hub.queue import get_queue

log = logging.getLogger(__name__)
ROUTE_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])


ROUTE_JOB = dict(result_ttl=0, failure_ttl=7 * 86400, timeout=300, retry=ROUTE_RETRY)


def new_route_job_id() -> str:
    return f"route-{uuid.uuid4().hex}"


def route_job_spec(queue: Queue, event_ids: list[str], job_id: str) -> Any:
    """For ``Queue.enqueue_many``: one routing job for a batch of events (record ``job_id`` on them)."""
    return queue.prepare_data("hub.jobs.route_events", args=(list(event_ids),), job_id=job_id, **ROUTE_JOB)


def enqueue_routing(event_ids: list[str], job_id: str, app: Flask | None = None) -> None:
    queue = get_queue("ingest", app)
    queue.enqueue_many([route_job_spec(queue, event_ids, job_id)])


def route_events(event_ids: list[str]) -> str:
    """Turn accepted events into deliveries, each event once, then tell the plugins.

    The claim is one UPDATE of the events still ``accepted``: a second job for the same events (the
    sweeper may make one) waits for the first's commit and then finds nothing left to route."""
    from hub.delivery.dispatch import dispatch_new
    from hub.routing import RouteTable, create_deliveries

    session = db.session()
    claimed = set(session.scalars(sa.update(Event).where(Event.id.in_(event_ids), Event.status == "accepted")
                                  .values(status="routed", routed_at=utcnow()).returning(Event.id)))
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


def stuck_events(limit: int = 500, older_than_seconds: float = 10.0) -> list[tuple[str, str | None]]:
    """(id, routing job) of accepted events a hand-off pump claimed a while ago that are still not
    routed (Redis lost the job, or the pump died before enqueueing). Unclaimed events are the pump's."""
    from datetime import timedelta

    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    rows = db.session().execute(sa.select(Event.id, Event.route_job).where(
        Event.status == "accepted", Event.enqueued_at < cutoff).order_by(Event.received_at).limit(limit))
    return [(row.id, row.route_job) for row in rows]
