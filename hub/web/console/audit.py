"""Audit: the workspace's audit trail, newest first, filterable by action (``connection.*`` for every
action on connections), object, actor and time, paged with the service's cursor."""

from __future__ import annotations

from flask import render_template

from hub.services.audit_trail import AuditFilter, audit_page
from hub.storage import db
from hub.web.console.blueprint import bp
from hub.web.console.listing import PAGE_SIZE, WINDOWS, ListArgs, actor_names
from hub.web.console.session import signed_in

#: Suggestions for the Action filter: the kinds of action the trail records.
ACTION_PREFIXES = ("connection.*", "route.*", "delivery.*", "deliveries.*", "event.*", "approval.*", "token.*",
                   "workspace.*", "param.*", "secret.*")


@bp.route("/audit")
def audit():
    args = ListArgs.read(("action", "object", "actor", "time"))
    session, workspace = db.session(), signed_in().workspace
    filters = AuditFilter(action=args.get("action"), object=args.get("object"), actor=args.get("actor"),
                          since=args.since)
    page = audit_page(session, workspace, filters, args.cursor, PAGE_SIZE)
    return render_template("console/audit.html", title="Audit", page=page, args=args, suggestions=ACTION_PREFIXES,
                           actors=actor_names(session, workspace), windows=WINDOWS)
