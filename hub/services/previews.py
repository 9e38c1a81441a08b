"""What would be sent, for messages that are not a saved route's: a route as typed in the console's
editor, and the held delivery an approval waits on. Both are rendered by
:meth:`RouteService.preview` on a route that is never saved — nothing is sent, URLs are masked —
and neither reaches a connection of another workspace.

A preview is shown on pages, which never carry a secret: beyond what the route service masks,
only the values of a few well-known headers are shown (an ``auth_header`` or a custom header may
carry a secret or a secret param's value), and the target's secret values are blanked out of the
request body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.core.errors import NotFound
from hub.core.matching import check_event_types, check_rule
from hub.runtime import lifecycle
from hub.services.connection_secrets import SECRET_PLACEHOLDER
from hub.services.routes import RouteService
from hub.storage.models import Approval, Connection, Route

NO_TARGET = "choose a connection of this workspace with an outbound channel"
#: Request headers whose values a preview shows; every other value is masked.
SHOWN_HEADERS = frozenset({"content-type", "content-length", "accept", "user-agent", "webhook-id",
                           "webhook-timestamp"})


def preview_draft(routes: RouteService, workspace: str, draft: Mapping[str, Any], *, event_id: str | None = None,
                  sample: Any = None) -> dict[str, Any]:
    """Render the targets of ``draft`` (``source``, ``match``, ``event_types``, ``targets`` as the
    route API takes them) against the stored event ``event_id`` or a ``sample`` payload.

    Returns the preview (``matched``, ``targets``: one per draft target, in order) and
    ``problems``: the parts that could not be checked against the event (an invalid rule or
    type pattern leaves ``matched`` None; a target outside the workspace gets an ``error``)."""
    session = routes.session
    problems: dict[str, Any] = {}
    rules = list(draft.get("match") or [])
    if rule_problems := {str(n): p for n, rule in enumerate(rules) if (p := check_rule(rule))}:
        problems["match"] = rule_problems
    types = draft.get("event_types") or []
    if type_problems := check_event_types(types):
        problems["event_types"] = type_problems
    source = _source(session, workspace, draft.get("source"))
    if source is None and event_id is None:
        return {"matched": None, "targets": [], "problems": {**problems, "source": ["choose a source"]}}
    targets = list(draft.get("targets") or [])
    usable = [t for t in targets if _target_connection(session, workspace, t) is not None]
    route = Route(workspace_id=workspace, source_id=source.id if source else "", match=[] if problems else rules,
                  event_types=[] if problems else [str(t).strip() for t in types], targets=usable)
    preview = routes.preview(route, event_id=event_id, sample=sample)
    rendered = iter([_masked(routes, item) for item in preview["targets"]])
    preview["targets"] = [next(rendered) if t in usable else {"connection": t.get("connection"), "error": NO_TARGET}
                          for t in targets]
    if problems:
        preview["matched"] = None
    preview["problems"] = problems
    return preview


def held_request(routes: RouteService, approval: Approval) -> dict[str, Any]:
    """The message and request an approval's held delivery would send if approved now: its
    template (or the channel's default message) rendered against its event."""
    delivery = approval.delivery
    if delivery.event_id is None:
        return {"connection": delivery.connection_id, "error": "the delivery has no event to render"}
    route = Route(workspace_id=delivery.workspace_id, source_id="",
                  targets=[{"connection": delivery.connection_id, "template": delivery.template}])
    try:
        [target] = routes.preview(route, event_id=delivery.event_id)["targets"]
    except NotFound:
        return {"connection": delivery.connection_id, "error": "its event is gone (deleted by retention)"}
    return _masked(routes, target)


def _masked(routes: RouteService, item: dict[str, Any]) -> dict[str, Any]:
    request = item.get("request")
    conn = routes.session.get(Connection, item.get("connection") or "")
    if request is None or conn is None:
        return item
    view = routes.connections.view(conn)
    secrets = [v for name in view.secrets for v in view.secret_values(name) if len(v) >= 4]
    body = request.get("body") or ""
    for value in sorted(secrets, key=len, reverse=True):
        body = body.replace(value, SECRET_PLACEHOLDER)
    headers = {name: value if name.lower() in SHOWN_HEADERS else SECRET_PLACEHOLDER
               for name, value in (request.get("headers") or {}).items()}
    return {**item, "request": {**request, "headers": headers, "body": body}}


def _source(session: Any, workspace: str, source: Any) -> Connection | None:
    if source == lifecycle.PROVIDER:
        return lifecycle.source(session, workspace)
    conn = session.get(Connection, source) if isinstance(source, str) and source else None
    return conn if conn is not None and conn.workspace_id == workspace and conn.provider else None


def _target_connection(session: Any, workspace: str, target: Any) -> Connection | None:
    if not isinstance(target, Mapping) or not isinstance(target.get("connection"), str):
        return None
    conn = session.get(Connection, target["connection"])
    return conn if conn is not None and conn.workspace_id == workspace and not conn.system and conn.channel else None
