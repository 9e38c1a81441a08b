"""``/api/v1/events`` and ``/api/v1/failures``: accepted events (envelope, raw body) and rejections."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import fields, validate

from hub.core.statuses import EventStatus
from hub.core.times import iso
from hub.storage import db
from hub.storage.lookup import in_workspace
from hub.storage.models import Event, Failure
from hub.web.api.auth import current_workspace, protect
from hub.web.api.pagination import PageArgs, paginate

blp = Blueprint("events", __name__, url_prefix="/api/v1",
                description="Accepted inbound events and rejected inbound requests.")
protect(blp)


class EventArgs(PageArgs):
    connection = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf([status.value for status in EventStatus]))


class FailureArgs(PageArgs):
    connection = fields.String(load_default=None)


def event_item(event: Event, *, with_body: bool = False) -> dict[str, Any]:
    item = dict(event.envelope)
    item["status"] = event.status
    item["connection_id"] = event.connection_id
    item["erased"] = event.erased_at is not None     # payload, headers and raw body removed
    if with_body:
        try:
            item["raw_body"] = event.raw_body.decode("utf-8")
            item["raw_body_encoding"] = "utf-8"
        except UnicodeDecodeError:
            item["raw_body"] = base64.b64encode(event.raw_body).decode("ascii")
            item["raw_body_encoding"] = "base64"
        item["routed_at"] = iso(event.routed_at) if event.routed_at else None
    return item


@blp.route("/events")
@blp.arguments(EventArgs, location="query")
def list_events(args):
    query = sa.select(Event).where(Event.workspace_id == current_workspace())
    if args["connection"]:
        query = query.where(Event.connection_id == args["connection"])
    if args["status"]:
        query = query.where(Event.status == args["status"])
    rows, nxt = paginate(db.session(), query, Event.id, args["cursor"], args["limit"])
    return {"items": [event_item(e) for e in rows], "next": nxt}


@blp.route("/events/<event_id>")
def get_event(event_id):
    return event_item(in_workspace(db.session(), Event, current_workspace(), event_id, "event"),
                      with_body=True)


@blp.route("/failures")
@blp.arguments(FailureArgs, location="query")
def list_failures(args):
    workspace = current_workspace()
    scope = Failure.workspace_id == workspace
    if workspace == "default":  # requests to unknown connections belong to no workspace: the default sees them
        scope = sa.or_(scope, Failure.workspace_id.is_(None))
    query = sa.select(Failure).where(scope)
    if args["connection"]:
        query = query.where(Failure.connection_id == args["connection"])
    rows, nxt = paginate(db.session(), query, Failure.id, args["cursor"], args["limit"])
    return {"items": [{"id": f.id, "at": iso(f.at), "connection": f.connection_id, "status": f.status,
                       "code": f.code, "message": f.message, "method": f.method, "path": f.path,
                       "remote_addr": f.remote_addr, "header_names": f.header_names,
                       "body_sha256": f.body_sha256, "body_size": f.body_size} for f in rows],
            "next": nxt}
