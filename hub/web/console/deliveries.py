"""Deliveries: the outbound messages (filterable by connection, status, their event's type and
time, paged with the services' cursors), a delivery's page (its message, template and the attempts
timeline with status codes and durations) with **Retry**, and the bulk retry of a connection's dead
letters — all through :class:`hub.services.deliveries.DeliveryService`."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from hub.core.statuses import DeliveryStatus
from hub.services.deliveries import DeliveryFilter, DeliveryService, dead_letters, delivery_page, retryable
from hub.storage import db
from hub.web.console.blueprint import bp
from hub.web.console.connections import load as load_connection
from hub.web.console.connections import service as connection_service
from hub.web.console.listing import PAGE_SIZE, WINDOWS, ListArgs, connection_names
from hub.web.console.session import signed_in


def service() -> DeliveryService:
    return DeliveryService(db.session(), current_app._get_current_object(), signed_in().actor)


@bp.route("/deliveries")
def deliveries():
    args = ListArgs.read(("connection", "status", "type", "event", "time"))
    session, workspace = db.session(), signed_in().workspace
    filters = DeliveryFilter(event=args.get("event"), connection=args.get("connection"), status=args.get("status"),
                             type=args.get("type"), since=args.since)
    page = delivery_page(session, workspace, filters, args.cursor, PAGE_SIZE)
    names = connection_names(session, connection_service(), workspace)
    dead = dead_letters(session, workspace, filters.connection) if filters.connection in names else None
    return render_template("console/deliveries/list.html", title="Deliveries", page=page, args=args, names=names,
                           statuses=[str(s) for s in DeliveryStatus], windows=WINDOWS, dead=dead)


@bp.route("/deliveries/<delivery_id>")
def delivery(delivery_id: str):
    found = service().get(signed_in().workspace, delivery_id)
    return render_template("console/deliveries/detail.html", title=f"Delivery {found.id}", delivery=found,
                           retryable=retryable(found),
                           names=connection_names(db.session(), connection_service(), signed_in().workspace))


@bp.route("/deliveries/<delivery_id>/retry", methods=["POST"])
def retry(delivery_id: str):
    svc = service()
    retried = svc.retry(svc.get(signed_in().workspace, delivery_id))      # commits, then enqueues
    flash(f"Delivery {retried.id} is queued to be sent again now, with a fresh retry schedule.", "success")
    return redirect(url_for("console.delivery", delivery_id=retried.id), 303)


@bp.route("/deliveries/retry-dead", methods=["POST"])
def retry_dead():
    conn = load_connection(connection_service(), request.form.get("connection", ""))
    retried = service().retry_dead(signed_in().workspace, conn.id)        # commits, then enqueues
    flash(f"{len(retried)} dead {'delivery' if len(retried) == 1 else 'deliveries'} of {conn.name!r} "
          "queued to be sent again.", "success")
    return redirect(url_for("console.deliveries", connection=conn.id), 303)
