"""Workspaces: the tenants of a hub. Each owns its connections, routes, events, deliveries and
tokens, and has an inbound rate limit (all its connections together) and a retention period."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.errors import Conflict, NotFound, invalid
from hub.runtime.changes import ConnectionChanges
from hub.storage import audit
from hub.storage.models import Workspace
from hub.storage.ratelimit import parse_limit

DEFAULT_WORKSPACE = "default"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
SLUG_RULE = "2 to 63 characters: lower-case letters, digits, - and _, starting with a letter or digit"
MAX_RETENTION_DAYS = 3650


def ensure_workspace(session: Session, workspace_id: str = DEFAULT_WORKSPACE) -> Workspace:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        try:
            with session.begin_nested():
                ws = Workspace(id=workspace_id, name=workspace_id, retention_days=30)
                session.add(ws)
        except IntegrityError:      # another node created it at the same moment (nodes starting together)
            ws = session.get(Workspace, workspace_id)
    return ws


def workspaces(session: Session, only: str | None = None) -> list[Workspace]:
    """Every workspace, or just ``only``, in creation order."""
    query = sa.select(Workspace).order_by(Workspace.created_at, Workspace.id)
    if only is not None:
        query = query.where(Workspace.id == only)
    return list(session.scalars(query))


def get_workspace(session: Session, workspace_id: str) -> Workspace:
    ws = session.get(Workspace, workspace_id) if workspace_id else None
    if ws is None:
        raise NotFound(f"no workspace {workspace_id!r}")
    return ws


def create_workspace(session: Session, data: Mapping[str, Any], actor: str) -> Workspace:
    """A new workspace named ``data["name"]``, which is also its id."""
    name = data.get("name")
    errors = _check(data, creating=True)
    if not errors and session.get(Workspace, name) is not None:
        raise Conflict(f"a workspace named {name!r} already exists")
    if errors:
        raise invalid(errors)
    ws = Workspace(id=name, name=name, inbound_rate_limit=data.get("inbound_rate_limit"),
                   retention_days=int(data.get("retention_days") or 30))
    session.add(ws)
    session.flush()
    audit.record(session, actor=actor, action="workspace.created", workspace=ws.id, object_type="workspace",
                 object_id=ws.id, details={"inbound_rate_limit": ws.inbound_rate_limit,
                                           "retention_days": ws.retention_days})
    return ws


def update_workspace(session: Session, ws: Workspace, data: Mapping[str, Any], actor: str,
                     changes: ConnectionChanges | None = None) -> Workspace:
    """Change the settings present in ``data`` (``inbound_rate_limit`` may be null: no limit);
    ``changes`` tells every process's connection cache, which holds the workspace's limit."""
    errors = _check(data, creating=False)
    if "name" in data and data["name"] != ws.id:
        errors["name"] = ["a workspace's name is its id and cannot change"]
    if errors:
        raise invalid(errors)
    if "inbound_rate_limit" in data:
        ws.inbound_rate_limit = data["inbound_rate_limit"] or None
        if changes is not None:
            changes.after_commit(session)
    if "retention_days" in data:
        ws.retention_days = int(data["retention_days"])
    session.flush()
    audit.record(session, actor=actor, action="workspace.updated", workspace=ws.id, object_type="workspace",
                 object_id=ws.id, details={"fields": sorted(data)})
    return ws


def _check(data: Mapping[str, Any], *, creating: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if creating and (not isinstance(data.get("name"), str) or not SLUG.match(data["name"])):
        errors["name"] = [f"must be {SLUG_RULE}"]
    limit = data.get("inbound_rate_limit")
    if limit is not None:
        try:
            parse_limit(limit)
        except (ValueError, TypeError) as exc:
            errors["inbound_rate_limit"] = [str(exc)]
    if "retention_days" in data and data["retention_days"] is not None:
        days = data["retention_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
            errors["retention_days"] = [f"whole days, from 1 to {MAX_RETENTION_DAYS}"]
    return errors
