"""``/api/v1/event-types``: the catalogue of the hub's own lifecycle events, which a route with
``"source": "lifecycle"`` subscribes to by listing them in ``event_types``."""

from __future__ import annotations

from marshmallow import Schema, fields

from hub.runtime.lifecycle import CATALOGUE
from hub.web.api.auth import protect
from hub.web.api.openapi import ApiBlueprint, page_of

blp = ApiBlueprint("event_types", __name__, url_prefix="/api/v1/event-types",
                   description="The hub's lifecycle events: what a route with source `lifecycle` can receive.")
protect(blp)


class EventTypeOut(Schema):
    type = fields.String(required=True, metadata={"description": "e.g. `delivery.dead`"})
    description = fields.String(required=True, metadata={"description": "When it happens, and what its "
                                                                        "`payload.data` is."})


@blp.route("")
@blp.response(200, page_of(EventTypeOut, "EventTypeList"))
def list_event_types():
    return {"items": [{"type": name, "description": text} for name, text in CATALOGUE.items()], "next": None}
