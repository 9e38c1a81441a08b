"""``/api/v1/audit``: the append-only audit trail of the token's workspace, newest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import fields

from hub.core.times import iso
from hub.storage import db
from hub.storage.lookup import in_workspace
from hub.storage.models import AuditRecord
from hub.web.api.auth import current_workspace, protect
from hub.web.api.pagination import PageArgs, paginate

blp = Blueprint("audit", __name__, url_prefix="/api/v1",
                description="The append-only audit trail: every admin action and every decision the hub took.")
protect(blp)


class AuditArgs(PageArgs):
    action = fields.String(load_default=None, metadata={"description": "e.g. `connection.created`; "
                                                                       "`connection.*` for every connection action."})
    object = fields.String(load_default=None, metadata={"description": "The id of the object acted on."})
    actor = fields.String(load_default=None, metadata={"description": "`token:<id>`, `system` or `cli`."})


def audit_item(r: AuditRecord) -> dict[str, Any]:
    return {"id": r.id, "at": iso(r.at), "actor": r.actor, "action": r.action, "object_type": r.object_type,
            "object": r.object_id, "details": r.details or {}, "headers_sha256": r.headers_sha256,
            "body_sha256": r.body_sha256}


@blp.route("/audit")
@blp.arguments(AuditArgs, location="query")
def list_audit(args):
    query = sa.select(AuditRecord).where(AuditRecord.workspace_id == current_workspace())
    action = args["action"]
    if action and action.endswith(".*"):
        prefix = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditRecord.action.like(prefix + "%", escape="\\"))
    elif action:
        query = query.where(AuditRecord.action == action)
    if args["object"]:
        query = query.where(AuditRecord.object_id == args["object"])
    if args["actor"]:
        query = query.where(AuditRecord.actor == args["actor"])
    rows, nxt = paginate(db.session(), query, AuditRecord.id, args["cursor"], args["limit"])
    return {"items": [audit_item(r) for r in rows], "next": nxt}


@blp.route("/audit/<record_id>")
def get_audit(record_id):
    return audit_item(in_workspace(db.session(), AuditRecord, current_workspace(), record_id,
                                   "audit record"))
