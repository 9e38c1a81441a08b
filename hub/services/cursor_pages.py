"""One newest-first page of a list over time-ordered ids (``evt_…``, ``dlv_…``), with the cursor of
the next page: the read every admin list (API, console, CLI) shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.errors import invalid

T = TypeVar("T")
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to ``limit`` items, newest first; ``next`` is the cursor of the following page (None on the last)."""

    items: list[T]
    next: str | None


def page_of(session: Session, query: sa.Select[Any], id_column: Any, cursor: str | None, limit: int) -> Page[Any]:
    """The rows of ``query`` with ids below ``cursor`` (ids are time-ordered), newest first: one
    read of ``limit + 1`` rows, the extra one only telling whether there is a next page."""
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid({"limit": [f"between 1 and {MAX_LIMIT}"]})
    if cursor:
        query = query.where(id_column < cursor)
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return Page(rows[:limit], rows[limit - 1].id)
    return Page(rows, None)

