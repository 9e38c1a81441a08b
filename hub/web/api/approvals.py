"""``/api/v1/approvals``: deliveries held for a decision; approve or reject them."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from hub.core.statuses import ApprovalStatus
from hub.core.times import iso
from hub.services.approvals import ApprovalService
from hub.storage import db
from hub.storage.models import Approval
from hub.web.api.auth import actor, current_workspace, protect
from hub.web.api.pagination import PageArgs

blp = Blueprint("approvals", __name__, url_prefix="/api/v1",
                description="Deliveries held for a decision (connections with approval manual or policy).")
protect(blp)

STATUSES = [status.value for status in ApprovalStatus]


class ApprovalArgs(PageArgs):
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


def service() -> ApprovalService:
    return ApprovalService(db.session(), current_app._get_current_object(), actor())


def approval_item(a: Approval) -> dict[str, Any]:
    delivery = a.delivery    # always there: an approval is deleted with its delivery
    return {"id": a.id, "status": a.status, "delivery": a.delivery_id, "connection": delivery.connection_id,
            "event": delivery.event_id, "delivery_status": delivery.status,
            "decided_by": a.decided_by, "reason": a.reason,
            "created_at": iso(a.created_at), "decided_at": iso(a.decided_at) if a.decided_at else None,
            "expires_at": iso(a.expires_at) if a.expires_at else None}


@blp.route("/approvals")
@blp.arguments(ApprovalArgs, location="query")
def list_approvals(args):
    rows, nxt = service().page(current_workspace(), args["status"], args["cursor"], args["limit"])
    return {"items": [approval_item(a) for a in rows], "next": nxt}


@blp.route("/approvals/<approval_id>")
def get_approval(approval_id):
    return approval_item(service().get(current_workspace(), approval_id))


@blp.route("/approvals/<approval_id>/approve", methods=["POST"])
@blp.arguments(ApproveIn)
def approve(data, approval_id):
    svc = service()
    return approval_item(svc.approve(svc.get(current_workspace(), approval_id), data["reason"]))


@blp.route("/approvals/<approval_id>/reject", methods=["POST"])
@blp.arguments(RejectIn)
def reject(data, approval_id):
    svc = service()
    return approval_item(svc.reject(svc.get(current_workspace(), approval_id), data["reason"]))
