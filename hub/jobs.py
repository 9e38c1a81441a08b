"""RQ jobs. Each runs inside the worker's app context (see ``hub.worker``) and is idempotent:
the sweeper may enqueue a job again when it cannot tell whether the first one ran."""

from __future__ import annotations

import logging
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


def route_job_id(event_id: str) -> str:
    return f"route-{event_id}"


ROUTE_JOB = dict(result_ttl=0, failure_ttl=7 * 86400, timeout=300, retry=ROUTE_RETRY)


def enqueue_route(event_id: str, app: Flask | None = None) -> None:
    get_queue("ingest", app).enqueue_call("hub.jobs.route_event", args=(event_id,), job_id=route_job_id(event_id),
                                          **ROUTE_JOB)


def route_job_spec(queue: Queue, event_id: str) -> Any:
    """For ``Queue.enqueue_many``: the same job as :func:`enqueue_route`."""
    return queue.prepare_data("hub.jobs.route_event", args=(event_id,), job_id=route_job_id(event_id), **ROUTE_JOB)


def route_event(event_id: str) -> str:
    """Turn an accepted event into deliveries (once), then tell the plugins it was received."""
    session = db.session()
    event = session.get(Event, event_id, with_for_update=True)
    if event is None:
        log.warning("event %s no longer exists", event_id)
        return "missing"
    if event.status != "accepted":
        session.rollback()
        return "already-routed"
    from hub.routing import create_deliveries

    deliveries = create_deliveries(session, event)
    event.status = "routed"
    event.routed_at = utcnow()
    from hub.delivery.dispatch import dispatch_new

    dispatch_new(current_app._get_current_object(), session, deliveries)
    view = EventView(id=event.id, connection_id=event.connection_id, envelope=event.envelope,
                     raw_body=event.raw_body)
    try:
        get_host().hook.hub_event_received(event=view)
    except Exception:  # an observer's bug must not re-route the event
        log.exception("a hub_event_received hook failed for %s", event_id)
    return f"routed to {len(deliveries)} target(s)"


def stuck_events(limit: int = 500, older_than_seconds: float = 10.0) -> list[str]:
    """Accepted events a hand-off pump claimed a while ago that are still not routed (Redis lost the
    job, or the pump died between claiming and enqueueing). Unclaimed events are the pump's."""
    from datetime import timedelta

    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    return list(db.session().scalars(sa.select(Event.id).where(
        Event.status == "accepted", Event.enqueued_at < cutoff).order_by(Event.received_at).limit(limit)))
