"""``/api/v1/events`` and ``/api/v1/failures``: accepted events (envelope, raw body) and rejections."""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields, post_dump, validate

from hub.core.statuses import EventStatus
from hub.core.times import iso
from hub.services.events import EventFilter, FailureFilter, event_page, failure_page, raw_body_text
from hub.services.events import get_event as find_event
from hub.storage import db
from hub.storage.models import Event, Failure
from hub.web.api.auth import current_workspace, protect
from hub.web.api.openapi import ApiBlueprint, page_of, timestamp
from hub.web.api.pagination import PageArgs

blp = ApiBlueprint("events", __name__, url_prefix="/api/v1",
                   description="Accepted inbound events and rejected inbound requests.")
protect(blp)


class EventArgs(PageArgs):
    connection = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf([status.value for status in EventStatus]))
    type = fields.String(load_default=None, metadata={
        "description": "Only events of this type (the envelope's `type`), e.g. `push`; `*` stands for any "
                       "run of characters: `invoice.*`."})


class FailureArgs(PageArgs):
    connection = fields.String(load_default=None)


class EventOut(Schema):
    """The envelope (what routes and templates see), with the event's status. The envelope is
    answered whole: a key the inbound path adds to it is shown even before it is listed here."""

    class Meta:
        unknown = INCLUDE      # documents additionalProperties: true

    id = fields.String(required=True)
    workspace = fields.String(required=True)
    connection = fields.String(allow_none=True, metadata={"description": "The connection's name when received."})
    connection_id = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    received_at = timestamp()
    event_id = fields.String(allow_none=True, metadata={"description": "The sender's id, the key of deduplication."})
    channel = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    event_ts = timestamp(allow_none=True)
    text = fields.String(allow_none=True)
    type = fields.String(allow_none=True, metadata={"description": "The event's type, e.g. `push`, "
                                                                  "`invoice.paid`; null when none."})
    event_type = fields.String(allow_none=True, metadata={"description": "The same as `type` (its first name)."})
    headers = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), allow_none=True,
                          metadata={"description": "null once erased."})
    query = fields.Dict(keys=fields.String(), allow_none=True, metadata={"description": "null once erased."})
    payload = fields.Raw(allow_none=True, metadata={"description": "The parsed body; null once erased."})
    status = fields.String(validate=validate.OneOf([status.value for status in EventStatus]))
    erased = fields.Boolean(metadata={"description": "Its payload, headers and raw body were removed."})

    @post_dump(pass_original=True)
    def whole_envelope(self, data: dict[str, Any], original: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**original, **data}


class EventDetail(EventOut):
    raw_body = fields.String(metadata={"description": "The exact bytes received, as text or base64."})
    raw_body_encoding = fields.String(validate=validate.OneOf(["utf-8", "base64"]))
    routed_at = timestamp(allow_none=True)


class FailureOut(Schema):
    """An inbound request the hub refused."""

    id = fields.String(required=True)
    at = timestamp()
    connection = fields.String(allow_none=True)
    status = fields.Integer(metadata={"description": "The HTTP status it was answered with."})
    code = fields.String(metadata={"description": "The error code it was answered with."})
    message = fields.String(allow_none=True)
    method = fields.String(allow_none=True)
    path = fields.String(allow_none=True)
    remote_addr = fields.String(allow_none=True)
    header_names = fields.List(fields.String(), allow_none=True)
    body_sha256 = fields.String(allow_none=True)
    body_size = fields.Integer(allow_none=True)


def event_item(event: Event, *, with_body: bool = False) -> dict[str, Any]:
    item = dict(event.envelope)
    item["status"] = event.status
    item["connection_id"] = event.connection_id
    item["erased"] = event.erased_at is not None     # payload, headers and raw body removed
    if with_body:
        item["raw_body"], item["raw_body_encoding"] = raw_body_text(event)
        item["routed_at"] = iso(event.routed_at) if event.routed_at else None
    return item


@blp.route("/events")
@blp.arguments(EventArgs, location="query")
@blp.response(200, page_of(EventOut, "EventPage"))
def list_events(args):
    filters = EventFilter(connection=args["connection"], status=args["status"], type=args["type"])
    page = event_page(db.session(), current_workspace(), filters, args["cursor"], args["limit"])
    return {"items": [event_item(e) for e in page.items], "next": page.next}


@blp.route("/events/<event_id>")
@blp.response(200, EventDetail)
def get_event(event_id):
    return event_item(find_event(db.session(), current_workspace(), event_id), with_body=True)


@blp.route("/failures")
@blp.arguments(FailureArgs, location="query")
@blp.response(200, page_of(FailureOut, "FailurePage"))
def list_failures(args):
    page = failure_page(db.session(), current_workspace(), FailureFilter(connection=args["connection"]),
                        args["cursor"], args["limit"])
    return {"items": [failure_item(f) for f in page.items], "next": page.next}


def failure_item(f: Failure) -> dict[str, Any]:
    return {"id": f.id, "at": iso(f.at), "connection": f.connection_id, "status": f.status, "code": f.code,
            "message": f.message, "method": f.method, "path": f.path, "remote_addr": f.remote_addr,
            "header_names": f.header_names, "body_sha256": f.body_sha256, "body_size": f.body_size}
