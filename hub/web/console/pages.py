"""The navigation every console page shows (its link texts are the public contract's), who is
signed in, and the console's own 404 page for any other path."""

from __future__ import annotations

from typing import Any

from flask import abort, g, request, url_for

from hub.services.workspaces import workspaces
from hub.storage import db
from hub.web.console.blueprint import bp

#: The navigation: link text (as the public contract names them) and endpoint.
NAV = (("Dashboard", "console.dashboard"), ("Connections", "console.connections"), ("Routes", "console.routes"),
       ("Events", "console.events"), ("Deliveries", "console.deliveries"), ("Failed triggers", "console.failures"),
       ("Approvals", "console.approvals"), ("Audit", "console.audit"))


@bp.context_processor
def layout_context() -> dict[str, Any]:
    """What the layout shows: the navigation, who is signed in, and an owner's workspaces."""
    current = g.get("console")
    choices = [ws.id for ws in workspaces(db.session())] if current is not None and current.is_owner else []
    return {"nav": NAV, "nav_current": _current_section(), "console_user": current, "workspace_choices": choices}


def _current_section() -> str | None:
    """The navigation entry of this page: the one whose path starts this page's (the dashboard only itself)."""
    for _text, endpoint in NAV[1:]:
        if request.path.startswith(url_for(endpoint)):
            return endpoint
    return NAV[0][1] if request.endpoint == NAV[0][1] else None


@bp.route("/<path:_anything>", methods=["GET", "POST"])
def not_found(_anything: str):
    """Any other console path: the console's 404 page rather than the API's JSON."""
    abort(404, "There is no such page in the console. Use the navigation to find your way.")
