"""The query arguments every list endpoint takes: ``?cursor=`` (the ``next`` of the previous page)
and ``?limit=``. The pages themselves are read by the services (:mod:`hub.services.cursor_pages`)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.services.cursor_pages import MAX_LIMIT


class PageArgs(Schema):
    cursor = fields.String(load_default=None, metadata={"description": "The `next` value of the previous page."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_LIMIT))
