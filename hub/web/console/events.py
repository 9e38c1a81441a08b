"""Events and Failed triggers: the accepted events (filterable by connection, status, type and time,
paged with the services' cursors), an event's page (envelope, pretty-printed payload, headers, raw
body, its deliveries) with **Replay**, and the inbound requests the hub refused, with their cause."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for

from hub.core.statuses import EventStatus
from hub.services.deliveries import DeliveryFilter, DeliveryService, delivery_page
from hub.services.events import EventFilter, FailureFilter, event_page, failure_page, get_event, raw_body_text
from hub.storage import db
from hub.web.console.blueprint import bp
from hub.web.console.connections import service as connection_service
from hub.web.console.listing import PAGE_SIZE, WINDOWS, ListArgs, connection_names
from hub.web.console.session import signed_in

#: The error codes a refused inbound request is answered with (the public contract's), for the filter.
FAILURE_CODES = ("not_found", "provider_mismatch", "payload_too_large", "unauthorized", "forbidden",
                 "signature_invalid", "timestamp_out_of_window", "rate_limited", "invalid_payload", "unavailable",
                 "correlation_missing", "correlation_unmatched", "conflict")
#: A page of an event lists at most this many of its deliveries (an event has one per route target).
EVENT_DELIVERIES = 50


@bp.route("/events")
def events():
    args = ListArgs.read(("connection", "status", "type", "time"))
    session, workspace = db.session(), signed_in().workspace
    filters = EventFilter(connection=args.get("connection"), status=args.get("status"), type=args.get("type"),
                          since=args.since)
    page = event_page(session, workspace, filters, args.cursor, PAGE_SIZE)
    return render_template("console/events/list.html", title="Events", page=page, args=args,
                           names=connection_names(session, connection_service(), workspace),
                           statuses=[str(s) for s in EventStatus], windows=WINDOWS)


@bp.route("/events/<event_id>")
def event(event_id: str):
    session, workspace = db.session(), signed_in().workspace
    found = get_event(session, workspace, event_id)
    deliveries = delivery_page(session, workspace, DeliveryFilter(event=found.id), None, EVENT_DELIVERIES)
    body, encoding = raw_body_text(found)
    return render_template("console/events/detail.html", title=f"Event {found.id}", event=found,
                           envelope=found.envelope, raw_body=body, raw_body_encoding=encoding,
                           deliveries=deliveries, names=connection_names(session, connection_service(), workspace))


@bp.route("/events/<event_id>/replay", methods=["POST"])
def replay(event_id: str):
    svc = DeliveryService(db.session(), current_app._get_current_object(), signed_in().actor)
    created = svc.replay(signed_in().workspace, event_id)          # commits, then enqueues
    flash(f"Replayed: {len(created)} new {'delivery' if len(created) == 1 else 'deliveries'} for today's routes."
          if created else "Replayed: no route matches this event today, so nothing is sent.", "success")
    return redirect(url_for("console.event", event_id=event_id), 303)


@bp.route("/failed-triggers")
def failures():
    args = ListArgs.read(("connection", "code", "time"))
    session, workspace = db.session(), signed_in().workspace
    filters = FailureFilter(connection=args.get("connection"), code=args.get("code"), since=args.since)
    page = failure_page(session, workspace, filters, args.cursor, PAGE_SIZE)
    return render_template("console/events/failures.html", title="Failed triggers", page=page, args=args,
                           names=connection_names(session, connection_service(), workspace), codes=FAILURE_CODES,
                           windows=WINDOWS)
