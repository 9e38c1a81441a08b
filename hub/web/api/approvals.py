"""``/api/v1/approvals``: deliveries held for a decision; approve or reject them."""

from __future__ import annotations

from flask import current_app
from marshmallow import RAISE, Schema, fields, validate

from hub.core.statuses import ApprovalStatus
from hub.runtime.representations import approval_item
from hub.services.approvals import ApprovalService
from hub.storage import db
from hub.web.api.auth import actor, current_workspace, protect
from hub.web.api.openapi import ApiBlueprint, page_of, timestamp
from hub.web.api.pagination import PageArgs

blp = ApiBlueprint("approvals", __name__, url_prefix="/api/v1",
                   description="Deliveries held for a decision (connections with approval manual or policy).")
protect(blp)

STATUSES = [status.value for status in ApprovalStatus]


class ApprovalArgs(PageArgs):
    cursor = fields.String(load_default=None, metadata={"description": "The `next` value of the previous page.",
                                                        "pattern": r"^([01]:.+)?$"})
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class ApproveIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class RejectIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "Why: recorded on the approval, the delivery and the audit trail."})


class ApprovalOut(Schema):
    id = fields.String(required=True)
    status = fields.String(validate=validate.OneOf(STATUSES))
    delivery = fields.String()
    connection = fields.String()
    event = fields.String()
    delivery_status = fields.String()
    decided_by = fields.String(allow_none=True,
                               metadata={"description": "`token:<id>`, `connection:<id>` or `system`."})
    reason = fields.String(allow_none=True)
    created_at = timestamp()
    decided_at = timestamp(allow_none=True)
    expires_at = timestamp(allow_none=True)


def service() -> ApprovalService:
    return ApprovalService(db.session(), current_app._get_current_object(), actor())


@blp.route("/approvals")
@blp.arguments(ApprovalArgs, location="query")
@blp.response(200, page_of(ApprovalOut, "ApprovalPage"))
def list_approvals(args):
    rows, nxt = service().page(current_workspace(), args["status"], args["cursor"], args["limit"])
    return {"items": [approval_item(a) for a in rows], "next": nxt}


@blp.route("/approvals/<approval_id>")
@blp.response(200, ApprovalOut)
def get_approval(approval_id):
    return approval_item(service().get(current_workspace(), approval_id))


@blp.route("/approvals/<approval_id>/approve", methods=["POST"])
@blp.arguments(ApproveIn, required=False)
@blp.response(200, ApprovalOut)
@blp.errors(409)
def approve(data, approval_id):
    svc = service()
    return approval_item(svc.approve(svc.get(current_workspace(), approval_id), data["reason"]))


@blp.route("/approvals/<approval_id>/reject", methods=["POST"])
@blp.arguments(RejectIn)
@blp.response(200, ApprovalOut)
@blp.errors(409)
def reject(data, approval_id):
    svc = service()
    return approval_item(svc.reject(svc.get(current_workspace(), approval_id), data["reason"]))
