"""Routes: the list, a route's page, Add route, edit (match rows, event types, targets with a
template editor), Delete route behind a confirm page, and the live preview of the form against a
recent event of the source — the page's script posts the form as it is typed (debounced, with its
CSRF token) and shows the answer; without the script the Preview button shows the same on a whole
page. Every change goes through :class:`hub.services.routes.RouteService`; the preview through
:mod:`hub.services.previews`."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from hub.core.errors import ConfigInvalid, NotFound
from hub.runtime import lifecycle
from hub.runtime.plugin_host import get_host
from hub.services.connections import for_app
from hub.services.previews import preview_draft, source_events
from hub.services.routes import RouteService
from hub.storage import db
from hub.web.console.blueprint import bp
from hub.web.console.connections import service as connection_service
from hub.web.console.listing import connection_names
from hub.web.console.route_form import RouteForm
from hub.web.console.session import signed_in, writers_only

#: The preview offers this many of the source's latest events.
RECENT_EVENTS = 10
SAMPLE = "sample"


def route_service() -> RouteService:
    session, actor = db.session(), signed_in().actor
    return RouteService(session, get_host(), for_app(session, actor), actor)


@bp.route("/routes")
def routes():
    svc, workspace = route_service(), signed_in().workspace
    names = connection_names(db.session(), connection_service(), workspace)
    return render_template("console/routes/list.html", title="Routes", routes=svc.list(workspace), names=names)


@bp.route("/routes/<route_id>")
def route(route_id: str):
    svc, workspace = route_service(), signed_in().workspace
    found = svc.get(workspace, route_id)
    return render_template("console/routes/detail.html", title=found.name, route=found,
                           source=svc.source_name(found),
                           names=connection_names(db.session(), connection_service(), workspace))


@bp.route("/routes/new", methods=["GET", "POST"])
@writers_only
def new_route():
    svc = route_service()
    form = RouteForm.build(connection_service().list(signed_in().workspace))
    if request.method == "GET":
        return form_page(svc, form)
    data = form.read(request.form)
    if data is not None:
        try:
            created = svc.create(signed_in().workspace, data)
        except ConfigInvalid as exc:
            db.session().rollback()
            form.refused(exc.fields or {"_schema": [exc.message]})
        else:
            db.session().commit()
            flash(f"Route {created.name!r} added.", "success")
            return redirect(url_for("console.route", route_id=created.id), 303)
    return form_page(svc, form, status=422)


@bp.route("/routes/<route_id>/edit", methods=["GET", "POST"])
@writers_only
def edit_route(route_id: str):
    svc, workspace = route_service(), signed_in().workspace
    found = svc.get(workspace, route_id)
    form = RouteForm.build(connection_service().list(workspace), found, svc.source_name(found))
    if request.method == "GET":
        return form_page(svc, form)
    data = form.read(request.form)
    if data is not None:
        try:
            svc.update(found, data)
        except ConfigInvalid as exc:
            db.session().rollback()
            form.refused(exc.fields or {"_schema": [exc.message]})
        else:
            db.session().commit()
            flash(f"Route {found.name!r} saved.", "success")
            return redirect(url_for("console.route", route_id=found.id), 303)
    return form_page(svc, form, status=422)


@bp.route("/routes/<route_id>/delete", methods=["GET", "POST"])
@writers_only
def delete_route(route_id: str):
    """The confirm step (GET), then the deletion (POST) through the service the API's DELETE uses."""
    svc, workspace = route_service(), signed_in().workspace
    found = svc.get(workspace, route_id)
    if request.method == "GET":
        return render_template("console/routes/delete.html", title=f"Delete {found.name}", route=found,
                               source=svc.source_name(found),
                               names=connection_names(db.session(), connection_service(), workspace))
    name = found.name
    svc.delete(found)
    db.session().commit()
    flash(f"Route {name!r} deleted: its source's events no longer reach its targets.", "success")
    return redirect(url_for("console.routes"), 303)


@bp.route("/routes/preview", methods=["POST"])
def route_preview():
    """The preview of the posted form: a fragment for the page's script, or with ``full`` the
    whole form page (the Preview button without the script)."""
    svc, workspace = route_service(), signed_in().workspace
    editing = svc.get(workspace, request.form["route_id"]) if request.form.get("route_id") else None
    form = RouteForm.build(connection_service().list(workspace), editing)
    draft = form.draft(request.form)
    preview = preview_of(svc, draft, request.form.get("preview_event", ""), request.form.get("sample", ""))
    if request.form.get("full"):
        return form_page(svc, form, preview=preview)
    return render_template("console/routes/_preview.html", preview=preview,
                           names=connection_names(db.session(), connection_service(), workspace))


def preview_of(svc: RouteService, draft: dict[str, Any], chosen: str, sample_text: str) -> dict[str, Any]:
    """The preview against the chosen event, the sample payload, or the source's latest event."""
    try:
        sample = json.loads(sample_text or "{}") if chosen == SAMPLE else None
        return preview_draft(svc, signed_in().workspace, draft, event_id=None if chosen == SAMPLE else chosen or None,
                             sample=sample)
    except ValueError as exc:
        return {"unavailable": f"The sample payload is not JSON: {exc}"}
    except NotFound as exc:
        return {"unavailable": exc.message[:1].upper() + exc.message[1:] + "."}


def form_page(svc: RouteService, form: RouteForm, *, preview: dict[str, Any] | None = None, status: int = 200):
    title = "Add route" if form.creating else f"Edit {form.route.name}"   # type: ignore[union-attr]
    return render_template("console/routes/form.html", title=title, form=form, preview=preview,
                           recent=source_events(svc.session, signed_in().workspace, form.source, RECENT_EVENTS),
                           catalogue=lifecycle.CATALOGUE,
                           names=connection_names(db.session(), connection_service(), signed_in().workspace),
                           sample=request.form.get("sample", ""), chosen=request.form.get("preview_event", "")), status

