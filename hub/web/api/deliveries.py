"""``/api/v1/deliveries``: outbound messages with their attempts; retry, bulk retry, event replay."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from hub.core.statuses import DeliveryStatus
from hub.core.times import iso
from hub.services.deliveries import DeliveryService
from hub.storage import db
from hub.storage.models import Delivery
from hub.web.api.auth import actor, current_workspace, protect
from hub.web.api.pagination import PageArgs, paginate

blp = Blueprint("deliveries", __name__, url_prefix="/api/v1",
                description="Deliveries (outbound messages), their attempts, retries and replays.")
protect(blp)

STATUSES = [status.value for status in DeliveryStatus]


class DeliveryArgs(PageArgs):
    event = fields.String(load_default=None)
    connection = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))


class BulkRetryIn(Schema):
    class Meta:
        unknown = RAISE

    connection = fields.String(required=True)
    status = fields.String(load_default="dead", validate=validate.OneOf([DeliveryStatus.DEAD.value]))


def service() -> DeliveryService:
    return DeliveryService(db.session(), current_app._get_current_object(), actor())


def _time(value: Any) -> str | None:
    return iso(value) if value else None


def delivery_item(d: Delivery, *, full: bool = False) -> dict[str, Any]:
    item = {"id": d.id, "event": d.event_id, "route": d.route_id, "connection": d.connection_id,
            "status": d.status, "webhook_id": d.webhook_id, "attempt_count": d.attempt_count,
            "next_attempt_at": _time(d.next_attempt_at), "last_error": d.last_error,
            "created_at": _time(d.created_at), "delivered_at": _time(d.delivered_at),
            "erased": d.erased_at is not None,
            "attempts": [{"at": _time(a.at), "status_code": a.status_code, "duration_ms": a.duration_ms,
                          "error": a.error, "outcome": a.outcome}
                         | ({"response_excerpt": a.response_excerpt} if full else {})
                         for a in d.attempts]}
    if full:
        item["body"] = d.body
        item["template"] = d.template
    return item


@blp.route("/deliveries")
@blp.arguments(DeliveryArgs, location="query")
def list_deliveries(args):
    query = sa.select(Delivery).where(Delivery.workspace_id == current_workspace())
    for key, column in (("event", Delivery.event_id), ("connection", Delivery.connection_id),
                        ("status", Delivery.status)):
        if args[key]:
            query = query.where(column == args[key])
    rows, nxt = paginate(db.session(), query, Delivery.id, args["cursor"], args["limit"])
    return {"items": [delivery_item(d) for d in rows], "next": nxt}


@blp.route("/deliveries/<delivery_id>")
def get_delivery(delivery_id):
    return delivery_item(service().get(current_workspace(), delivery_id), full=True)


@blp.route("/deliveries/<delivery_id>/retry", methods=["POST"])
def retry_delivery(delivery_id):
    svc = service()
    delivery = svc.retry(svc.get(current_workspace(), delivery_id))
    return delivery_item(delivery)


@blp.route("/deliveries/retry", methods=["POST"])
@blp.arguments(BulkRetryIn)
def retry_dead_deliveries(data):
    ids = service().retry_dead(current_workspace(), data["connection"])
    return {"retried": ids, "count": len(ids)}


@blp.route("/events/<event_id>/replay", methods=["POST"])
def replay_event(event_id):
    ids = service().replay(current_workspace(), event_id)
    return {"deliveries": ids, "count": len(ids)}
