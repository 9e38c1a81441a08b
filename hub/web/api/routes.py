"""``/api/v1/routes``: match rules → targets with templates; preview without sending."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from hub.core.errors import invalid
from hub.runtime.plugin_host import get_host
from hub.services.connections import for_app
from hub.services.routes import RouteService
from hub.storage import db
from hub.storage.models import Route
from hub.web.api.auth import actor, current_workspace, protect
from hub.web.api.openapi import TRIMMED_NAME, ApiBlueprint, page_of

blp = ApiBlueprint("routes", __name__, url_prefix="/api/v1/routes",
                   description="Routes: rules on a source connection's events, and the targets they go to.")
protect(blp)


SOURCE = {"description": "A connection of the workspace with an inbound provider, or `lifecycle` for the hub's "
                          "own events (GET /api/v1/event-types)."}
EVENT_TYPES = {"description": "Only events of these types (`*` matches any run of characters, e.g. "
                              "`invoice.*`); empty or absent: every type."}
TARGETS = {"minItems": 1, "description": "At least one."}


class RuleSchema(Schema):
    path = fields.String(required=True, metadata={"description": "Dotted with [n], or JSONPath starting with $."})
    op = fields.String(required=True, validate=validate.OneOf(["equals", "not_equals", "in", "exists", "matches"]))
    value = fields.Raw(load_default=None, allow_none=True)


class TargetSchema(Schema):
    connection = fields.String(required=True, metadata={"description": "A connection of the workspace with an "
                                                                       "outbound channel."})
    template = fields.Raw(load_default=None, allow_none=True,
                          metadata={"description": "A JSON value whose string leaves are Jinja templates."})


class RouteIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, metadata=TRIMMED_NAME)
    source = fields.String(required=True, metadata=SOURCE)
    match = fields.List(fields.Nested(RuleSchema), load_default=list)
    event_types = fields.List(fields.String(validate=validate.Length(min=1, max=120)), load_default=list,
                              metadata=EVENT_TYPES)
    targets = fields.List(fields.Nested(TargetSchema), required=True, metadata=TARGETS)
    active = fields.Boolean(load_default=True)


class RoutePatch(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(metadata=TRIMMED_NAME)
    source = fields.String(metadata=SOURCE)
    match = fields.List(fields.Nested(RuleSchema))
    event_types = fields.List(fields.String(validate=validate.Length(min=1, max=120)), metadata=EVENT_TYPES)
    targets = fields.List(fields.Nested(TargetSchema), metadata=TARGETS)
    active = fields.Boolean()


class PreviewIn(Schema):
    class Meta:
        unknown = RAISE

    event = fields.String(load_default=None, metadata={"description": "A stored event id…"})
    sample = fields.Raw(load_default=None, metadata={"description": "… or a sample payload."})


def service() -> RouteService:
    session = db.session()
    return RouteService(session, get_host(), for_app(session, actor()), actor())


def to_json(route: Route) -> dict[str, Any]:
    return {"id": route.id, "name": route.name, "workspace": route.workspace_id,
            "source": service().source_name(route), "match": route.match or [],
            "event_types": route.event_types or [], "targets": route.targets or [], "active": route.active,
            "created_at": route.created_at, "updated_at": route.updated_at}


class RouteOut(Schema):
    id = fields.String()
    name = fields.String()
    workspace = fields.String()
    source = fields.String()
    match = fields.List(fields.Dict())
    event_types = fields.List(fields.String())
    targets = fields.List(fields.Dict())
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PreviewRequest(Schema):
    method = fields.String()
    url = fields.String(metadata={"description": "Masked."})
    headers = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "Secrets masked."})
    body = fields.String()


class PreviewTarget(Schema):
    connection = fields.String(required=True)
    channel = fields.String()
    body = fields.Raw(allow_none=True, metadata={"description": "The rendered message."})
    request = fields.Nested(PreviewRequest, metadata={"description": "What would be sent."})
    error = fields.String(metadata={"description": "Why this target could not be rendered."})


class PreviewOut(Schema):
    matched = fields.Boolean(metadata={"description": "Whether the route's rules match the event."})
    targets = fields.List(fields.Nested(PreviewTarget))


@blp.route("")
@blp.response(200, page_of(RouteOut, "RouteList"))
def list_routes():
    return {"items": [to_json(r) for r in service().list(current_workspace())], "next": None}


@blp.route("", methods=["POST"])
@blp.arguments(RouteIn)
@blp.response(201, RouteOut)
@blp.creates("route_id", *[(method, f"/api/v1/routes/{{route_id}}{action}") for method, action in (
    ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/preview"))])
def create_route(data):
    route = service().create(current_workspace(), data)
    db.session().commit()
    return to_json(route)


@blp.route("/<route_id>")
@blp.response(200, RouteOut)
def get_route(route_id):
    return to_json(service().get(current_workspace(), route_id))


@blp.route("/<route_id>", methods=["PATCH"])
@blp.arguments(RoutePatch, required=False)
@blp.response(200, RouteOut)
def update_route(data, route_id):
    svc = service()
    route = svc.update(svc.get(current_workspace(), route_id), data)
    db.session().commit()
    return to_json(route)


@blp.route("/<route_id>", methods=["DELETE"])
@blp.response(204)
def delete_route(route_id):
    svc = service()
    svc.delete(svc.get(current_workspace(), route_id))
    db.session().commit()


@blp.route("/<route_id>/preview", methods=["POST"])
@blp.arguments(PreviewIn)
@blp.response(200, PreviewOut)
def preview_route(data, route_id):
    svc = service()
    if not data["event"] and data["sample"] is None:
        raise invalid({"event": ["give a stored event id, or a sample payload"]})
    return svc.preview(svc.get(current_workspace(), route_id), event_id=data["event"],
                       sample=data["sample"])
