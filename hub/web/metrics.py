"""``GET /metrics``: the Prometheus text format — the counters every web and worker process of this
instance adds to (:mod:`hub.runtime.metrics`) and the gauges read at scrape time
(:mod:`hub.services.gauges`, :mod:`hub.worker.status`). Open unless ``HOOKHUB_METRICS_TOKEN`` is set; then it takes
``Authorization: Bearer <that token>``.

prometheus-client is imported on the first scrape, not with the app: a worker builds the same
app, and must choose the metrics folder before prometheus-client is first imported."""

from __future__ import annotations

import hmac
import logging

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request

from hub.runtime import metrics
from hub.services.gauges import Gauges, read_gauges
from hub.storage.db import get_database
from hub.storage.redis import get_redis
from hub.web.errors import error_response
from hub.worker.status import WorkerStatus, worker_status

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    token = current_app.config.get("HOOKHUB_METRICS_TOKEN")
    if token:
        offered = request.headers.get("Authorization", "")
        scheme, _, value = offered.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            response = error_response(401, "unauthorized", "send Authorization: Bearer <HOOKHUB_METRICS_TOKEN>")
            response.headers["WWW-Authenticate"] = 'Bearer realm="hookhub metrics"'
            return response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    body = generate_latest(metrics.registry(current_app.config["HOOKHUB_INSTANCE_PATH"]))
    scraped = CollectorRegistry()
    scraped.register(_GaugeCollector(_gauges(), worker_status(get_redis())))
    body += generate_latest(scraped)
    return Response(body, mimetype=None, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _gauges() -> Gauges | None:
    try:
        with get_database().session() as session:
            return read_gauges(session)
    except sa.exc.SQLAlchemyError as exc:   # the counters still answer; /readyz says what is down
        log.warning("metrics: the database did not answer: %s", exc)
        return None


class _GaugeCollector:
    """What is read at scrape time; a part whose store did not answer is left out (not zero)."""

    def __init__(self, gauges: Gauges | None, workers: WorkerStatus) -> None:
        self.gauges = gauges
        self.workers = workers

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        if self.gauges is not None:
            yield GaugeMetricFamily("hookhub_approvals_pending", "Deliveries waiting for an approval decision.",
                                    value=self.gauges.approvals_pending)
            yield GaugeMetricFamily("hookhub_connections_inactive", "Connections deactivated by an admin or "
                                    "disabled by the hub after repeated failures.",
                                    value=self.gauges.connections_inactive)
        if self.workers.available:
            depth = GaugeMetricFamily("hookhub_queue_depth", "Jobs waiting in each queue for a worker.",
                                      labels=["queue"])
            scheduled = GaugeMetricFamily("hookhub_queue_scheduled", "Jobs due later (retries) in each queue.",
                                          labels=["queue"])
            for queue in self.workers.queues:
                depth.add_metric([queue.name], queue.waiting)
                scheduled.add_metric([queue.name], queue.scheduled)
            yield depth
            yield scheduled
            yield GaugeMetricFamily("hookhub_workers_alive", "Worker processes with a live heartbeat.",
                                    value=self.workers.live_workers)


def init_app(app) -> None:
    app.register_blueprint(bp)
