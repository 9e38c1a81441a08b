"""``/api/v1/workspaces``: the tenants of this hub. An owner sees and creates every workspace; an
admin or viewer sees its own, and an admin may change its own settings."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from hub.core.errors import Forbidden, NotFound
from hub.runtime.changes import get_changes
from hub.services.workspaces import (
    MAX_RETENTION_DAYS,
    SLUG,
    SLUG_RULE,
    create_workspace,
    get_workspace,
    update_workspace,
    workspaces,
)
from hub.storage import db
from hub.storage.models import Workspace
from hub.web.api.auth import actor, current_token, is_owner, owner_only, protect
from hub.web.api.openapi import ApiBlueprint, case_insensitive

blp = ApiBlueprint("workspaces", __name__, url_prefix="/api/v1/workspaces",
                   description="Workspaces (tenants): each sees only its own connections, events and tokens.")
protect(blp)

_ONE_LIMIT = (r"\s*[0-9]+\s*(/|\s*" + case_insensitive("per") + r"\s*)\s*([0-9]+)?\s*("
              + "|".join(case_insensitive(unit) for unit in ("second", "minute", "hour", "day", "month", "year"))
              + r")[Ss]?\s*")
RATE_LIMIT = {"description": "Most inbound requests per period to all of the workspace's connections together, "
                             "e.g. '100/second' or '10 per 2 minutes' (null: no limit).",
              "pattern": f"^{_ONE_LIMIT}([,;|]{_ONE_LIMIT})*$"}
RETENTION = {"description": f"Days events, deliveries and failures are kept (1–{MAX_RETENTION_DAYS}, default 30)."}


class WorkspaceIn(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, metadata={"pattern": SLUG.pattern, "description": f"Its id too: {SLUG_RULE}."})
    inbound_rate_limit = fields.String(load_default=None, allow_none=True, metadata=RATE_LIMIT)
    retention_days = fields.Integer(load_default=30, validate=validate.Range(min=1, max=MAX_RETENTION_DAYS),
                                    metadata=RETENTION)


class WorkspacePatch(Schema):
    class Meta:
        unknown = RAISE

    inbound_rate_limit = fields.String(allow_none=True, metadata=RATE_LIMIT)
    retention_days = fields.Integer(validate=validate.Range(min=1, max=MAX_RETENTION_DAYS), metadata=RETENTION)


class WorkspaceOut(Schema):
    id = fields.String()
    name = fields.String()
    inbound_rate_limit = fields.String(allow_none=True)
    retention_days = fields.Integer()
    created_at = fields.DateTime()


class WorkspaceList(Schema):
    items = fields.List(fields.Nested(WorkspaceOut))
    next = fields.String(allow_none=True)


def to_json(ws: Workspace) -> dict[str, Any]:
    return {"id": ws.id, "name": ws.name, "inbound_rate_limit": ws.inbound_rate_limit,
            "retention_days": ws.retention_days, "created_at": ws.created_at}


def visible(workspace_id: str) -> Workspace:
    """A workspace this token may see: any for an owner, else only its own (404 otherwise)."""
    if not is_owner() and workspace_id != current_token().workspace_id:
        raise NotFound(f"no workspace {workspace_id!r}")
    return get_workspace(db.session(), workspace_id)


@blp.route("")
@blp.response(200, WorkspaceList)
def list_workspaces():
    only = None if is_owner() else current_token().workspace_id
    return {"items": [to_json(ws) for ws in workspaces(db.session(), only)], "next": None}


@blp.route("", methods=["POST"])
@blp.arguments(WorkspaceIn)
@blp.response(201, WorkspaceOut)
@blp.errors(409)
@owner_only
def create(data):
    ws = create_workspace(db.session(), data, actor())
    db.session().commit()
    return to_json(ws)


@blp.route("/<workspace_id>")
@blp.response(200, WorkspaceOut)
def get(workspace_id):
    return to_json(visible(workspace_id))


@blp.route("/<workspace_id>", methods=["PATCH"])
@blp.arguments(WorkspacePatch, required=False)
@blp.response(200, WorkspaceOut)
def update(data, workspace_id):
    ws = visible(workspace_id)
    if current_token().role not in ("owner", "admin"):
        raise Forbidden("only an admin or owner token can change a workspace")
    ws = update_workspace(db.session(), ws, data, actor(), get_changes())
    db.session().commit()
    return to_json(ws)
