"""Approvals: the inbox of held deliveries, pending first, each with the request it would send
(rendered against its event, URL and secrets masked) and its target; **Approve**, **Reject** with
a **Reason** (required to reject); who decided and when — through
:class:`hub.services.approvals.ApprovalService`."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for

from hub.core.statuses import ApprovalStatus
from hub.services.approvals import ApprovalService
from hub.services.previews import held_request
from hub.storage import db
from hub.web.console.blueprint import bp
from hub.web.console.connections import service as connection_service
from hub.web.console.listing import PAGE_SIZE, ListArgs, actor_names, connection_names
from hub.web.console.routes import route_service
from hub.web.console.session import signed_in

MAX_REASON = 500      # as the API's


def service() -> ApprovalService:
    return ApprovalService(db.session(), current_app._get_current_object(), signed_in().actor)


@bp.route("/approvals")
def approvals():
    return inbox()


@bp.route("/approvals/<approval_id>/decide", methods=["POST"])
def decide(approval_id: str):
    svc = service()
    approval = svc.get(signed_in().workspace, approval_id)
    reason = request.form.get("reason", "").strip()
    rejecting = request.form.get("decision") == "reject"
    problem = ("give a reason: it is recorded on the approval, the delivery and the audit trail"
               if rejecting and not reason else f"at most {MAX_REASON} characters" if len(reason) > MAX_REASON
               else None)
    if problem:
        return inbox(problems={approval.id: problem}, typed={approval.id: reason}, status=422)
    if rejecting:
        svc.reject(approval, reason)                       # commits
        flash("Rejected: the delivery will not be sent.", "success")
    else:
        svc.approve(approval, reason or None)              # commits, then enqueues the delivery
        flash("Approved: the delivery is on its way.", "success")
    return redirect(url_for("console.approvals", status=request.args.get("status") or None), 303)


def inbox(problems: dict[str, str] | None = None, typed: dict[str, str] | None = None, status: int = 200):
    """The inbox: a page of approvals, pending first; a pending one shows what it would send."""
    args = ListArgs.read(("status",))
    session, workspace = db.session(), signed_in().workspace
    chosen = args.get("status") if args.get("status") in {str(s) for s in ApprovalStatus} else None
    rows, nxt = service().page(workspace, chosen, args.cursor, PAGE_SIZE)
    routes = route_service()
    requests: dict[str, Any] = {a.id: held_request(routes, a) for a in rows if a.status == ApprovalStatus.PENDING}
    return render_template("console/approvals.html", title="Approvals", approvals=rows, requests=requests,
                           older=args.older(nxt), args=args, statuses=[str(s) for s in ApprovalStatus],
                           names=connection_names(session, connection_service(), workspace),
                           actors=actor_names(session, workspace), problems=problems or {}, typed=typed or {}), status
