"""What would be sent, for messages that are not a saved route's: a route as typed in the console's
editor, and the held delivery an approval waits on. Both are rendered by
:meth:`RouteService.preview` on a route that is never saved — nothing is sent and no secret is
shown — and neither reaches a connection of another workspace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.core.errors import NotFound
from hub.core.matching import check_event_types, check_rule
from hub.runtime import lifecycle
from hub.services.events import latest_events
from hub.services.routes import RouteService
from hub.storage.models import Approval, Connection, Event, Route

NO_TARGET = "choose a connection of this workspace with an outbound channel"


def preview_draft(routes: RouteService, workspace: str, draft: Mapping[str, Any], *, event_id: str | None = None,
                  sample: Any = None) -> dict[str, Any]:
    """Render the targets of ``draft`` (``source``, ``match``, ``event_types``, ``targets`` as the
    route API takes them) against the stored event ``event_id``, a ``sample`` payload, or else
    the latest event of the draft's source (:class:`NotFound` when it has none).

    Returns the preview (``matched``, ``targets``: one per draft target, in order; ``against``:
    the event's id, None for the sample) and ``problems``: the parts that could not be checked
    (an invalid rule or type pattern leaves ``matched`` None; a target outside the workspace gets
    an ``error``)."""
    session = routes.session
    if not event_id and sample is None:
        latest = source_events(session, workspace, draft.get("source"), 1)
        if not latest:
            raise NotFound("this source has no events yet: preview against a sample payload")
        event_id = latest[0].id
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
    rendered = iter(preview["targets"])
    preview["targets"] = [next(rendered) if t in usable else {"connection": t.get("connection"), "error": NO_TARGET}
                          for t in targets]
    if problems:
        preview["matched"] = None
    return {**preview, "problems": problems, "against": event_id}


def source_events(session: Any, workspace: str, source: Any, limit: int) -> list[Event]:
    """The latest events of a draft's source (a connection id, or ``lifecycle``), newest first."""
    conn = _source(session, workspace, source)
    return latest_events(session, workspace, conn.id, limit) if conn is not None else []


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
    return target



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
