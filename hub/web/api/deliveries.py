"""``/api/v1/deliveries``: outbound messages with their attempts; retry, bulk retry, event replay."""

from __future__ import annotations

from flask import current_app
from marshmallow import RAISE, Schema, fields, validate

from hub.core.statuses import DeliveryStatus
from hub.runtime.representations import delivery_item
from hub.services.deliveries import DeliveryFilter, DeliveryService, delivery_page
from hub.storage import db
from hub.web.api.auth import actor, current_workspace, protect
from hub.web.api.openapi import ApiBlueprint, page_of, timestamp
from hub.web.api.pagination import PageArgs

blp = ApiBlueprint("deliveries", __name__, url_prefix="/api/v1",
                   description="Deliveries (outbound messages), their attempts, retries and replays.")
protect(blp)

STATUSES = [status.value for status in DeliveryStatus]


class DeliveryArgs(PageArgs):
    event = fields.String(load_default=None)
    connection = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    type = fields.String(load_default=None, metadata={
        "description": "Only deliveries of events of this type (the event envelope's `type`), e.g. `push`; `*` "
                       "stands for any run of characters: `invoice.*`."})


class BulkRetryIn(Schema):
    class Meta:
        unknown = RAISE

    connection = fields.String(required=True)
    status = fields.String(load_default="dead", validate=validate.OneOf([DeliveryStatus.DEAD.value]))


class AttemptOut(Schema):
    at = timestamp()
    status_code = fields.Integer(allow_none=True, metadata={"description": "null when no answer came back."})
    duration_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    outcome = fields.String(metadata={"description": "delivered, retry, failed or blocked."})


class AttemptDetail(AttemptOut):
    response_excerpt = fields.String(allow_none=True, metadata={"description": "The answer's first 4 KiB."})


class DeliveryOut(Schema):
    id = fields.String(required=True)
    event = fields.String()
    route = fields.String(allow_none=True, metadata={"description": "null once the route is deleted."})
    connection = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    webhook_id = fields.String(metadata={"description": "Stable across retries."})
    attempt_count = fields.Integer()
    next_attempt_at = timestamp(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = timestamp(allow_none=True)
    delivered_at = timestamp(allow_none=True)
    erased = fields.Boolean()
    attempts = fields.List(fields.Nested(AttemptOut))


class DeliveryDetail(DeliveryOut):
    attempts = fields.List(fields.Nested(AttemptDetail))
    body = fields.Raw(allow_none=True, metadata={"description": "The rendered message; null once erased."})
    template = fields.Raw(allow_none=True)


class BulkRetryOut(Schema):
    retried = fields.List(fields.String(), metadata={"description": "The deliveries sent again."})
    count = fields.Integer()


class ReplayOut(Schema):
    deliveries = fields.List(fields.String(), metadata={"description": "The new deliveries."})
    count = fields.Integer()


def service() -> DeliveryService:
    return DeliveryService(db.session(), current_app._get_current_object(), actor())


@blp.route("/deliveries")
@blp.arguments(DeliveryArgs, location="query")
@blp.response(200, page_of(DeliveryOut, "DeliveryPage"))
def list_deliveries(args):
    filters = DeliveryFilter(event=args["event"], connection=args["connection"], status=args["status"],
                             type=args["type"])
    page = delivery_page(db.session(), current_workspace(), filters, args["cursor"], args["limit"])
    return {"items": [delivery_item(d) for d in page.items], "next": page.next}


@blp.route("/deliveries/<delivery_id>")
@blp.response(200, DeliveryDetail)
def get_delivery(delivery_id):
    return delivery_item(service().get(current_workspace(), delivery_id), full=True)


@blp.route("/deliveries/<delivery_id>/retry", methods=["POST"])
@blp.response(200, DeliveryOut)
@blp.errors(409)
def retry_delivery(delivery_id):
    svc = service()
    delivery = svc.retry(svc.get(current_workspace(), delivery_id))
    return delivery_item(delivery)


@blp.route("/deliveries/retry", methods=["POST"])
@blp.arguments(BulkRetryIn)
@blp.response(200, BulkRetryOut)
def retry_dead_deliveries(data):
    ids = service().retry_dead(current_workspace(), data["connection"])
    return {"retried": ids, "count": len(ids)}


@blp.route("/events/<event_id>/replay", methods=["POST"])
@blp.response(200, ReplayOut)
@blp.errors(409)
def replay_event(event_id):
    ids = service().replay(current_workspace(), event_id)
    return {"deliveries": ids, "count": len(ids)}
