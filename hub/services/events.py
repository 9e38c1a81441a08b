"""Accepted events and refused inbound requests ("failed triggers") of a workspace: filtered,
newest-first pages and single events, read alike by the admin API and the console."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer

from hub.services.cursor_pages import Page, page_of
from hub.services.exchanges import UNOWNED_FAILURES_WORKSPACE
from hub.storage.lookup import in_workspace
from hub.storage.models import Event, Failure

#: The envelope's ``type``: a key of the JSON column, read with SQLAlchemy's JSON path access
#: (``JSON_EXTRACT`` on SQLite, ``->>`` on PostgreSQL). No index serves it: a filter on a rare
#: type reads the workspace's events newest first until it has a page (see ``event_page``).
EVENT_TYPE = Event.envelope["type"].as_string()


@dataclass(frozen=True)
class EventFilter:
    """Which events a list shows; every field left None matches all."""

    connection: str | None = None
    status: str | None = None
    type: str | None = None          # exact, or with ``*`` for any run of characters (``invoice.*``)
    since: datetime | None = None    # received at or after


@dataclass(frozen=True)
class FailureFilter:
    """Which refused requests a list shows; every field left None matches all."""

    connection: str | None = None
    code: str | None = None          # the error code the request was answered with
    since: datetime | None = None


def event_page(session: Session, workspace: str, filters: EventFilter, cursor: str | None,
               limit: int) -> Page[Event]:
    """A page of the workspace's events, newest first. The raw bodies are not read: a list shows
    envelopes only."""
    query = sa.select(Event).where(Event.workspace_id == workspace).options(defer(Event.raw_body))
    if filters.connection:
        query = query.where(Event.connection_id == filters.connection)
    if filters.status:
        query = query.where(Event.status == filters.status)
    if filters.type:
        query = query.where(type_condition(session, filters.type))
    if filters.since is not None:
        query = query.where(Event.received_at >= filters.since)
    return page_of(session, query, Event.id, cursor, limit)


def type_condition(session: Session, pattern: str) -> Any:
    """The events whose type is ``pattern``, where ``*`` stands for any run of characters — the
    same rule as a route's ``event_types``, case-sensitive on every database (SQLite's LIKE is
    not, so SQLite gets GLOB with its own special characters quoted)."""
    pattern = pattern.strip()
    if "*" not in pattern:
        return EVENT_TYPE == pattern
    if session.get_bind().dialect.name == "sqlite":
        quoted = "".join(f"[{c}]" if c in "?[" else c for c in pattern)
        return EVENT_TYPE.op("GLOB")(quoted)
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
    return EVENT_TYPE.like(escaped, escape="\\")


def get_event(session: Session, workspace: str, event_id: str) -> Event:
    return in_workspace(session, Event, workspace, event_id, "event")


def raw_body_text(event: Event) -> tuple[str, str]:
    """The exact bytes received as ``(text, encoding)``: UTF-8 text when they are, else base64."""
    try:
        return event.raw_body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(event.raw_body).decode("ascii"), "base64"


def latest_events(session: Session, workspace: str, connection: str, limit: int = 10) -> list[Event]:
    """The newest events of one connection (a route editor previews against them)."""
    return event_page(session, workspace, EventFilter(connection=connection), None, limit).items


def failure_page(session: Session, workspace: str, filters: FailureFilter, cursor: str | None,
                 limit: int) -> Page[Failure]:
    """A page of the requests the hub refused, newest first. Requests to unknown connections
    belong to no workspace: the default workspace sees them."""
    scope = Failure.workspace_id == workspace
    if workspace == UNOWNED_FAILURES_WORKSPACE:
        scope = sa.or_(scope, Failure.workspace_id.is_(None))
    query = sa.select(Failure).where(scope)
    if filters.connection:
        query = query.where(Failure.connection_id == filters.connection)
    if filters.code:
        query = query.where(Failure.code == filters.code)
    if filters.since is not None:
        query = query.where(Failure.at >= filters.since)
    return page_of(session, query, Failure.id, cursor, limit)
