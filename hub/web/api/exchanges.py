"""``/api/v1/audit/exchanges``: every inbound request accepted or refused and every outbound
attempt of the token's workspace, newest first, with the SHA-256 of what was received or sent."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from hub.services.exchanges import DIRECTIONS, exchanges
from hub.storage import db
from hub.web.api.auth import current_workspace, protect
from hub.web.api.openapi import ApiBlueprint, page_of, timestamp
from hub.web.api.pagination import PageArgs

blp = ApiBlueprint("exchanges", __name__, url_prefix="/api/v1",
                   description="The audit of exchanges: one entry per inbound request (accepted or refused) and "
                            "per outbound attempt, with the digests of its headers and body.")
protect(blp)


#: What ``Cursor.encode`` writes: the time (%Y%m%dT%H%M%S%f) of the last entry, ``~`` and its id.
CURSOR = (r"^([1-9][0-9]{3}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9][0-9]{1,6}"
          r"~.+)?$")


class ExchangeArgs(PageArgs):
    cursor = fields.String(load_default=None, metadata={"description": "The `next` value of the previous page.",
                                                        "pattern": CURSOR})
    direction = fields.String(load_default=None, validate=validate.OneOf(DIRECTIONS),
                              metadata={"description": "`inbound` or `outbound`; both when absent."})
    connection = fields.String(load_default=None, metadata={"description": "One connection's exchanges."})


class ExchangeOut(Schema):
    id = fields.String(required=True, metadata={"description": "The event, failure or attempt it is."})
    direction = fields.String(validate=validate.OneOf(DIRECTIONS))
    connection = fields.String(allow_none=True)
    event = fields.String(allow_none=True, metadata={"description": "Inbound: the event (null when refused)."})
    delivery = fields.String(metadata={"description": "Outbound: the delivery attempted."})
    at = timestamp()
    headers_sha256 = fields.String(allow_none=True)
    body_sha256 = fields.String(allow_none=True, metadata={"description": "Hex SHA-256 of the exact bytes."})
    duration_ms = fields.Float(allow_none=True)
    retry = fields.Integer(metadata={"description": "0 for the first attempt."})
    outcome = fields.String(metadata={"description": "accepted, the refusal's error code, or the attempt's outcome."})


@blp.route("/audit/exchanges")
@blp.arguments(ExchangeArgs, location="query")
@blp.response(200, page_of(ExchangeOut, "ExchangePage"))
def list_exchanges(args):
    items, following = exchanges(db.session(), current_workspace(), direction=args["direction"],
                                 connection=args["connection"], cursor=args["cursor"], limit=args["limit"])
    return {"items": items, "next": following}
