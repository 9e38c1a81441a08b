"""The audit of exchanges: one entry per inbound request the hub accepted or refused and per
outbound attempt, newest first, with the digests of what was received or sent.

Nothing is written for it: the entries are the rows the pipeline writes anyway — events (accepted
requests), failures (refused ones) and delivery attempts — read through one cursor. Each source is
asked for one page at most, newest first along its own time index, and the pages are merged by
(time, id): a page costs three bounded reads whatever the tables hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.errors import invalid
from hub.core.times import iso
from hub.storage.models import Delivery, DeliveryAttempt, Event, Failure

DIRECTIONS = ("inbound", "outbound")
#: Requests to unknown connections belong to no workspace; this one sees them (as /failures does).
UNOWNED_FAILURES_WORKSPACE = "default"
_CURSOR_TIME = "%Y%m%dT%H%M%S%f"


@dataclass(frozen=True)
class Cursor:
    """A position in the merged list: the entries strictly older than (at, id)."""

    at: datetime
    id: str

    def encode(self) -> str:
        return f"{self.at.astimezone(UTC).strftime(_CURSOR_TIME)}~{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        when, _, row_id = text.partition("~")
        try:
            at = datetime.strptime(when, _CURSOR_TIME).replace(tzinfo=UTC)
        except ValueError:
            raise invalid({"cursor": ["not a cursor of this list: pass the `next` of the previous page"]}) from None
        if not row_id:
            raise invalid({"cursor": ["not a cursor of this list: pass the `next` of the previous page"]})
        return cls(at, row_id)


def _before(at_column: Any, id_column: Any, cursor: Cursor | None) -> Any:
    """Rows older than the cursor, written so that the time index bounds the scan (``at <=``)."""
    if cursor is None:
        return sa.true()
    return sa.and_(at_column <= cursor.at, sa.or_(at_column < cursor.at, id_column < cursor.id))


def _events(session: Session, workspace: str, connection: str | None, cursor: Cursor | None,
            limit: int) -> list[dict[str, Any]]:
    query = sa.select(Event.id, Event.connection_id, Event.received_at, Event.headers_sha256, Event.body_sha256,
                      Event.duration_ms).where(Event.workspace_id == workspace)
    if connection:
        query = query.where(Event.connection_id == connection)
    query = query.where(_before(Event.received_at, Event.id, cursor))
    rows = session.execute(query.order_by(Event.received_at.desc(), Event.id.desc()).limit(limit))
    return [{"id": r.id, "direction": "inbound", "connection": r.connection_id, "event": r.id, "at": r.received_at,
             "headers_sha256": r.headers_sha256, "body_sha256": r.body_sha256, "duration_ms": r.duration_ms,
             "retry": 0, "outcome": "accepted"} for r in rows]


def _failures(session: Session, workspace: str, connection: str | None, cursor: Cursor | None,
              limit: int) -> list[dict[str, Any]]:
    scope = Failure.workspace_id == workspace
    if workspace == UNOWNED_FAILURES_WORKSPACE:
        scope = sa.or_(scope, Failure.workspace_id.is_(None))
    query = sa.select(Failure.id, Failure.connection_id, Failure.at, Failure.headers_sha256, Failure.body_sha256,
                      Failure.code).where(scope)
    if connection:
        query = query.where(Failure.connection_id == connection)
    query = query.where(_before(Failure.at, Failure.id, cursor))
    rows = session.execute(query.order_by(Failure.at.desc(), Failure.id.desc()).limit(limit))
    # A refusal records no duration: its row does not keep when the request arrived.
    return [{"id": r.id, "direction": "inbound", "connection": r.connection_id, "event": None, "at": r.at,
             "headers_sha256": r.headers_sha256, "body_sha256": r.body_sha256, "duration_ms": None,
             "retry": 0, "outcome": r.code} for r in rows]


def _attempts(session: Session, workspace: str, connection: str | None, cursor: Cursor | None,
              limit: int) -> list[dict[str, Any]]:
    query = (sa.select(DeliveryAttempt.id, DeliveryAttempt.delivery_id, DeliveryAttempt.at, DeliveryAttempt.number,
                       DeliveryAttempt.outcome, DeliveryAttempt.duration_ms, DeliveryAttempt.request_headers_sha256,
                       DeliveryAttempt.request_body_sha256, Delivery.connection_id)
             .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
             .where(Delivery.workspace_id == workspace))
    if connection:
        query = query.where(Delivery.connection_id == connection)
    query = query.where(_before(DeliveryAttempt.at, DeliveryAttempt.id, cursor))
    rows = session.execute(query.order_by(DeliveryAttempt.at.desc(), DeliveryAttempt.id.desc()).limit(limit))
    # Attempts are numbered from 1 per delivery (manual retries go on counting): retry 0 is the first.
    return [{"id": r.id, "direction": "outbound", "connection": r.connection_id, "delivery": r.delivery_id,
             "at": r.at, "headers_sha256": r.request_headers_sha256, "body_sha256": r.request_body_sha256,
             "duration_ms": r.duration_ms, "retry": max(0, r.number - 1), "outcome": r.outcome} for r in rows]


def exchanges(session: Session, workspace: str, *, direction: str | None = None, connection: str | None = None,
              cursor: str | None = None, limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``workspace``'s exchanges, newest first, and the cursor of the next page (None
    at the end). ``direction``: ``inbound``, ``outbound`` or both; ``connection``: one connection's."""
    position = Cursor.decode(cursor) if cursor else None
    sources = []
    if direction in (None, "inbound"):
        sources += [_events, _failures]
    if direction in (None, "outbound"):
        sources.append(_attempts)
    entries = [entry for source in sources for entry in source(session, workspace, connection, position, limit + 1)]
    entries.sort(key=lambda e: (e["at"], e["id"]), reverse=True)
    page = entries[:limit]
    following = Cursor(page[-1]["at"], page[-1]["id"]).encode() if len(entries) > limit else None
    for entry in page:
        entry["at"] = iso(entry["at"])
    return page, following
