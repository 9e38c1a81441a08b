"""Cursor pagination shared by the list endpoints: newest first, ``?cursor=`` and ``?limit=``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session


class PageArgs(Schema):
    cursor = fields.String(load_default=None, metadata={"description": "The `next` value of the previous page."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


def paginate(session: Session, query: sa.Select, id_column: Any, cursor: str | None,
             limit: int) -> tuple[list, str | None]:
    """Rows of ``query`` with ids below ``cursor`` (ids are time-ordered), and the next cursor."""
    if cursor:
        query = query.where(id_column < cursor)
    rows = list(session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None
