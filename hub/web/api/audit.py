"""``/api/v1/audit``: the append-only audit trail of the token's workspace, newest first."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from hub.core.times import iso
from hub.services.audit_trail import AuditFilter, audit_page, get_record
from hub.storage import db
from hub.storage.models import AuditRecord
from hub.web.api.auth import current_workspace, protect
from hub.web.api.openapi import ApiBlueprint, page_of, timestamp
from hub.web.api.pagination import PageArgs

blp = ApiBlueprint("audit", __name__, url_prefix="/api/v1",
                   description="The append-only audit trail: every admin action and every decision the hub took.")
protect(blp)


class AuditArgs(PageArgs):
    action = fields.String(load_default=None, metadata={"description": "e.g. `connection.created`; "
                                                                       "`connection.*` for every connection action."})
    object = fields.String(load_default=None, metadata={"description": "The id of the object acted on."})
    actor = fields.String(load_default=None, metadata={"description": "`token:<id>`, `system` or `cli`."})


class AuditRecordOut(Schema):
    id = fields.String(required=True)
    at = timestamp()
    actor = fields.String()
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object = fields.String(allow_none=True)
    details = fields.Dict(keys=fields.String())
    headers_sha256 = fields.String(allow_none=True)
    body_sha256 = fields.String(allow_none=True)


def audit_item(r: AuditRecord) -> dict[str, Any]:
    return {"id": r.id, "at": iso(r.at), "actor": r.actor, "action": r.action, "object_type": r.object_type,
            "object": r.object_id, "details": r.details or {}, "headers_sha256": r.headers_sha256,
            "body_sha256": r.body_sha256}


@blp.route("/audit")
@blp.arguments(AuditArgs, location="query")
@blp.response(200, page_of(AuditRecordOut, "AuditPage"))
def list_audit(args):
    filters = AuditFilter(action=args["action"], object=args["object"], actor=args["actor"])
    page = audit_page(db.session(), current_workspace(), filters, args["cursor"], args["limit"])
    return {"items": [audit_item(r) for r in page.items], "next": page.next}


@blp.route("/audit/<record_id>")
@blp.response(200, AuditRecordOut)
def get_audit(record_id):
    return audit_item(get_record(db.session(), current_workspace(), record_id))
