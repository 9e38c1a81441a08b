"""``/api/v1/audit/exchanges``: every inbound request accepted or refused and every outbound
attempt of the token's workspace, newest first, with the SHA-256 of what was received or sent."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields, validate

from hub.services.exchanges import DIRECTIONS, exchanges
from hub.storage import db
from hub.web.api.auth import current_workspace, protect
from hub.web.api.pagination import PageArgs

blp = Blueprint("exchanges", __name__, url_prefix="/api/v1",
                description="The audit of exchanges: one entry per inbound request (accepted or refused) and "
                            "per outbound attempt, with the digests of its headers and body.")
protect(blp)


class ExchangeArgs(PageArgs):
    direction = fields.String(load_default=None, validate=validate.OneOf(DIRECTIONS),
                              metadata={"description": "`inbound` or `outbound`; both when absent."})
    connection = fields.String(load_default=None, metadata={"description": "One connection's exchanges."})


@blp.route("/audit/exchanges")
@blp.arguments(ExchangeArgs, location="query")
def list_exchanges(args):
    items, following = exchanges(db.session(), current_workspace(), direction=args["direction"],
                                 connection=args["connection"], cursor=args["cursor"], limit=args["limit"])
    return {"items": items, "next": following}
