"""The dashboard (``/console/``): events received and deliveries delivered, failed and dead over the
last 24 hours and 7 days, overall and per connection, the acceptance-to-delivery latency, and the
queues and live workers — numbers from :mod:`hub.services.dashboard` and
:mod:`hub.worker.status`, charts drawn on the server by :mod:`hub.web.console.svg`."""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from hub.services.dashboard import OUTCOMES, Window
from hub.services.dashboard import dashboard as dashboard_numbers
from hub.storage import db
from hub.storage.redis import get_redis
from hub.web.console.blueprint import bp
from hub.web.console.connections import service as connection_service
from hub.web.console.session import signed_in
from hub.web.console.svg import Series, bar_chart, sparkline
from hub.worker.status import worker_status

OUTCOME_NAMES = {"delivered": "Delivered", "failed": "Failed", "dead": "Dead"}


@bp.route("/")
def dashboard():
    workspace = signed_in().workspace
    numbers = dashboard_numbers(db.session(), workspace, connection_service().list(workspace))
    return render_template("console/dashboard.html", title="Dashboard", numbers=numbers,
                           workers=worker_status(get_redis()), charts={
                               "day": charts_of(numbers.day, "day"), "week": charts_of(numbers.week, "week")},
                           sparkline=lambda window, name: sparkline(window.counts["events"], name))


def charts_of(window: Window, key: str) -> dict[str, Markup]:
    """The window's two charts: events received, and deliveries by outcome, per bucket."""
    if window.unit == "hour":
        labels, every = [f"{bucket:%H}:00" for bucket in window.buckets], 3
        names = [f"{bucket:%a %d %b, %H}:00–{bucket.hour + 1:02d}:00 UTC" for bucket in window.buckets]
    else:   # short labels under the bars (they must fit a phone), the whole date on hover
        labels, every = [f"{bucket:%a}" for bucket in window.buckets], 1
        names = [f"{bucket:%a %d %b} (UTC)" for bucket in window.buckets]
    events = bar_chart(f"chart-{key}-events", f"Events received per {window.unit}, last {window.name}", labels,
                       [Series("Events", "bar-events", window.counts["events"])], label_every=every, names=names)
    deliveries = bar_chart(f"chart-{key}-deliveries", f"Deliveries per {window.unit} by outcome, last {window.name}",
                           labels, [Series(OUTCOME_NAMES[str(o)], f"bar-{o}", window.counts[str(o)]) for o in OUTCOMES],
                           label_every=every, names=names)
    return {"events": events, "deliveries": deliveries}
