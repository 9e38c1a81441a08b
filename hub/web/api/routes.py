"""``/api/v1/routes``: match rules → targets with templates; preview without sending."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from hub.core.errors import invalid
from hub.runtime.plugin_host import get_host
from hub.services.connections import for_app
from hub.services.routes import RouteService
from hub.storage import db
from hub.storage.models import Route
from hub.web.api.auth import actor, current_workspace, protect

blp = Blueprint("routes", __name__, url_prefix="/api/v1/routes",
                description="Routes: rules on a source connection's events, and the targets they go to.")
protect(blp)


class RuleSchema(Schema):
    path = fields.String(required=True, metadata={"description": "Dotted with [n], or JSONPath starting with $."})
    op = fields.String(required=True, validate=validate.OneOf(["equals", "not_equals", "in", "exists", "matches"]))
    value = fields.Raw(load_default=None, allow_none=True)


class TargetSchema(Schema):
    connection = fields.String(required=True)
    template = fields.Raw(load_default=None, allow_none=True,
                          metadata={"description": "A JSON value whose string leaves are Jinja templates."})


class RouteIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True)
    source = fields.String(required=True)
    match = fields.List(fields.Nested(RuleSchema), load_default=list)
    targets = fields.List(fields.Nested(TargetSchema), required=True)
    active = fields.Boolean(load_default=True)


class RoutePatch(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String()
    source = fields.String()
    match = fields.List(fields.Nested(RuleSchema))
    targets = fields.List(fields.Nested(TargetSchema))
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
    return {"id": route.id, "name": route.name, "workspace": route.workspace_id, "source": route.source_id,
            "match": route.match or [], "targets": route.targets or [], "active": route.active,
            "created_at": route.created_at, "updated_at": route.updated_at}


class RouteOut(Schema):
    id = fields.String()
    name = fields.String()
    workspace = fields.String()
    source = fields.String()
    match = fields.List(fields.Dict())
    targets = fields.List(fields.Dict())
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


@blp.route("")
@blp.response(200)
def list_routes():
    return {"items": [to_json(r) for r in service().list(current_workspace())], "next": None}


@blp.route("", methods=["POST"])
@blp.arguments(RouteIn)
@blp.response(201, RouteOut)
def create_route(data):
    route = service().create(current_workspace(), data)
    db.session().commit()
    return to_json(route)


@blp.route("/<route_id>")
@blp.response(200, RouteOut)
def get_route(route_id):
    return to_json(service().get(current_workspace(), route_id))


@blp.route("/<route_id>", methods=["PATCH"])
@blp.arguments(RoutePatch)
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
@blp.response(200)
def preview_route(data, route_id):
    svc = service()
    if not data["event"] and data["sample"] is None:
        raise invalid({"event": ["give a stored event id, or a sample payload"]})
    return svc.preview(svc.get(current_workspace(), route_id), event_id=data["event"],
                       sample=data["sample"])
