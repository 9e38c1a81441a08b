"""Connections: the list, Add connection and edit (forms made from the plugins' schemas), and a
connection's page with Activate / Deactivate, Get URL, Reset key, rotate a secret and Test.
Every change goes through ``hub.services.connections.for_app``, exactly as the API's do.

The inbound URL with its key is shown only in the answer to create, Get URL and Reset key — those
pages are rendered in the POST's answer, never redirected to, so the key never lands in the
session cookie or the browser's history."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from hub.core.errors import ConfigInvalid
from hub.runtime.plugin_host import get_host
from hub.services.connection_activity import connection_activity
from hub.services.connection_check import run_connection_test
from hub.services.connections import ConnectionService, for_app
from hub.storage import db
from hub.storage.models import Connection
from hub.web.api.plugins import describe
from hub.web.console.blueprint import bp
from hub.web.console.connection_form import ConnectionForm
from hub.web.console.schema_form import messages
from hub.web.console.session import signed_in, writers_only


def service() -> ConnectionService:
    return for_app(db.session(), signed_in().actor)


def plugins() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The installed providers and channels as the API's ``/plugins`` describes them (JSON Schemas)."""
    host = get_host()
    return ([describe("provider", p, host.providers.origin(n)) for n, p in host.providers.items()],
            [describe("channel", c, host.channels.origin(n)) for n, c in host.channels.items()])


def load(svc: ConnectionService, connection_id: str) -> Connection:
    return svc.get(signed_in().workspace, connection_id)


@bp.route("/connections")
def connections():
    svc = service()
    workspace = signed_in().workspace
    rows = connection_activity(db.session(), workspace, svc.list(workspace))
    return render_template("console/connections/list.html", title="Connections", rows=rows)


@bp.route("/connections/new", methods=["GET", "POST"])
@writers_only
def new_connection():
    form = ConnectionForm.build(*plugins())
    if request.method == "GET":
        return render_template("console/connections/form.html", title="Add connection", form=form)
    data = form.read(request.form)
    if data is not None:
        svc = service()
        try:
            conn, key = svc.create(signed_in().workspace, data)
        except ConfigInvalid as exc:
            form.refused(exc.fields or {"_schema": [exc.message]})
        else:
            db.session().commit()
            return detail_page(svc, conn, revealed=svc.inbound_url(conn, key),
                               notice=f"Connection {conn.name!r} created.", status=201)
    return render_template("console/connections/form.html", title="Add connection", form=form), 422


@bp.route("/connections/<connection_id>")
def connection(connection_id: str):
    svc = service()
    return detail_page(svc, load(svc, connection_id))


@bp.route("/connections/<connection_id>/edit", methods=["GET", "POST"])
@writers_only
def edit_connection(connection_id: str):
    svc = service()
    conn = load(svc, connection_id)
    form = ConnectionForm.build(*plugins(), connection=conn, saved_secrets=svc.masked_secrets(conn))
    title = f"Edit {conn.name}"
    if request.method == "GET":
        return render_template("console/connections/form.html", title=title, form=form)
    data = form.read(request.form)
    if data is not None:
        try:
            svc.update(conn, data)
        except ConfigInvalid as exc:
            db.session().rollback()
            form.refused(exc.fields or {"_schema": [exc.message]})
        else:
            db.session().commit()
            flash(f"Connection {conn.name!r} saved.", "success")
            return redirect(url_for("console.connection", connection_id=conn.id), 303)
    return render_template("console/connections/form.html", title=title, form=form), 422


@bp.route("/connections/<connection_id>/activate", methods=["POST"])
def activate(connection_id: str):
    svc = service()
    conn = load(svc, connection_id)
    resumed = svc.activate(conn)                 # commits; held deliveries go out
    flash(f"Connection {conn.name!r} is active." + (f" {resumed} held deliveries are on their way." if resumed else ""),
          "success")
    return redirect(url_for("console.connection", connection_id=conn.id), 303)


@bp.route("/connections/<connection_id>/deactivate", methods=["POST"])
def deactivate(connection_id: str):
    svc = service()
    conn = svc.set_active(load(svc, connection_id), False, reason="deactivated by an admin")
    db.session().commit()
    flash(f"Connection {conn.name!r} is inactive: its inbound URL answers 404 and deliveries to it are held.",
          "success")
    return redirect(url_for("console.connection", connection_id=conn.id), 303)


@bp.route("/connections/<connection_id>/url", methods=["POST"])
def get_url(connection_id: str):
    svc = service()
    conn = load(svc, connection_id)
    url = svc.inbound_url(conn, svc.reveal_key(conn))
    db.session().commit()                        # the audit record of the reveal
    return detail_page(svc, conn, revealed=url)


@bp.route("/connections/<connection_id>/reset-key", methods=["GET", "POST"])
@writers_only
def reset_key(connection_id: str):
    svc = service()
    conn = load(svc, connection_id)
    if request.method == "GET":
        return render_template("console/connections/reset_key.html", title=f"Reset the key of {conn.name}", conn=conn,
                               inbound_url=svc.inbound_url(conn))
    url = svc.inbound_url(conn, svc.reset_key(conn))
    db.session().commit()
    return detail_page(svc, conn, revealed=url,
                       notice="The key was reset: the old URL stopped working. Give senders the new one.")


@bp.route("/connections/<connection_id>/rotate-secret", methods=["POST"])
def rotate_secret(connection_id: str):
    svc = service()
    conn = load(svc, connection_id)
    name = request.form.get("name", "")
    grace = request.form.get("grace_seconds", "").strip()
    try:
        grace_seconds = int(grace) if grace else None
    except ValueError:
        return detail_page(svc, conn, rotate_errors=["Grace period: give a whole number of seconds."], status=422)
    try:
        until = svc.rotate_secret(conn, name, request.form.get("secret", ""), grace_seconds)
    except ConfigInvalid as exc:
        db.session().rollback()
        fields = exc.fields or {"secret": [exc.message]}
        problems = [line for problem in fields.values() for line in messages(problem)]
        return detail_page(svc, conn, rotate_errors=problems, status=422)
    db.session().commit()
    flash(f"The new {name} is in use; the old one keeps verifying until {until:%Y-%m-%d %H:%M} UTC.", "success")
    return redirect(url_for("console.connection", connection_id=conn.id), 303)


@bp.route("/connections/<connection_id>/test", methods=["POST"])
def test_connection(connection_id: str):
    svc = service()
    conn = load(svc, connection_id)
    outcome = run_connection_test(current_app._get_current_object(), db.session(), svc, conn, signed_in().actor)
    db.session().commit()
    return detail_page(svc, conn, test=outcome)


def detail_page(svc: ConnectionService, conn: Connection, *, revealed: str | None = None, notice: str | None = None,
                test: dict[str, Any] | None = None, rotate_errors: list[str] | None = None,
                status: int = 200) -> tuple[str, int] | Response:
    """A connection's page; ``revealed`` is its inbound URL with the key, shown on this answer only."""
    [activity] = connection_activity(db.session(), conn.workspace_id, [conn])
    saved = list(svc.masked_secrets(conn))      # the names only: a masked value still shows a URL's tail
    return render_template("console/connections/detail.html", title=conn.name, conn=conn, activity=activity,
                           inbound_url=svc.inbound_url(conn), revealed=revealed, notice=notice, test=test,
                           saved_secrets=saved, rotate_errors=rotate_errors or []), status
