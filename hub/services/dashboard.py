"""The dashboard's numbers for a workspace: events received and deliveries delivered, failed and
dead per hour over the last 24 hours and per day over the last 7 days, per connection and
overall, and the acceptance-to-delivery latency (p50, p95) over both windows.

Eight grouped queries whatever the tables hold, each bounded by its time window on an index
(events: ``ix_events_workspace_received``; deliveries: ``ix_deliveries_workspace_created``, the
event of each delivered one by its primary key): none reads the whole table, and what comes back
is one row per (connection, bucket, outcome), or two per connection for the percentiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.statuses import DeliveryStatus
from hub.core.times import utcnow
from hub.storage.models import Connection, Delivery, Event

HOURS = 24
DAYS = 7
#: The outcomes a dashboard counts, in the order its charts stack them.
OUTCOMES = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.DEAD)
SERIES = ("events", *(str(outcome) for outcome in OUTCOMES))
#: Bucket keys as both databases write them (UTC): per hour and per day.
_FORMATS = {"hour": ("%Y-%m-%d %H", "YYYY-MM-DD HH24"), "day": ("%Y-%m-%d", "YYYY-MM-DD")}


@dataclass(frozen=True)
class Latency:
    """Acceptance (the event received) to delivery (the answer that counted), in seconds, over
    ``count`` delivered deliveries; the percentiles are None when there were none."""

    count: int = 0
    p50: float | None = None
    p95: float | None = None


@dataclass
class Window:
    """One window's numbers: a count per series and bucket, and the latency."""

    name: str                                   # "24 hours" | "7 days"
    unit: str                                   # hour | day
    buckets: list[datetime]                     # the start of each bucket, oldest first
    counts: dict[str, list[int]]                # series → one count per bucket
    latency: Latency = field(default_factory=Latency)

    def total(self, series: str) -> int:
        return sum(self.counts[series])


@dataclass
class ConnectionNumbers:
    connection: Connection
    day: Window
    week: Window


@dataclass
class Dashboard:
    now: datetime
    day: Window                                 # the last 24 hours, per hour (the current hour included)
    week: Window                                # the last 7 days, per day (today included)
    connections: list[ConnectionNumbers]


def dashboard(session: Session, workspace: str, connections: Sequence[Connection],
              now: datetime | None = None) -> Dashboard:
    """The numbers of ``workspace`` overall (its lifecycle events included) and of each of
    ``connections`` (in their order)."""
    now = now or utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    hours = [hour - timedelta(hours=n) for n in range(HOURS - 1, -1, -1)]
    days = [day - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    ids = [conn.id for conn in connections]
    overall = {"hour": _empty("24 hours", "hour", hours), "day": _empty("7 days", "day", days)}
    per_connection = {conn_id: {"hour": _empty("24 hours", "hour", hours), "day": _empty("7 days", "day", days)}
                      for conn_id in ids}
    for unit, buckets in (("hour", hours), ("day", days)):
        start = buckets[0]
        index = {bucket.strftime(_FORMATS[unit][0]): n for n, bucket in enumerate(buckets)}
        event_bucket = _bucket(session, Event.received_at, unit)
        events = sa.select(Event.connection_id, event_bucket, sa.literal("events"), sa.func.count()).where(
            Event.workspace_id == workspace, Event.received_at >= start).group_by(Event.connection_id, event_bucket)
        delivery_bucket = _bucket(session, Delivery.created_at, unit)
        deliveries = sa.select(Delivery.connection_id, delivery_bucket, Delivery.status, sa.func.count()).where(
            Delivery.workspace_id == workspace, Delivery.created_at >= start, Delivery.status.in_(OUTCOMES)
        ).group_by(Delivery.connection_id, delivery_bucket, Delivery.status)
        for query in (events, deliveries):
            for connection_id, key, series, count in session.execute(query):
                if key not in index:          # a row written in the future (clock skew): not on the chart
                    continue
                overall[unit].counts[str(series)][index[key]] += count
                if connection_id in per_connection:
                    per_connection[connection_id][unit].counts[str(series)][index[key]] += count
        for connection_id, latency in _latencies(session, workspace, start).items():
            if connection_id is None:
                overall[unit].latency = latency
            elif connection_id in per_connection:
                per_connection[connection_id][unit].latency = latency
    return Dashboard(now=now, day=overall["hour"], week=overall["day"], connections=[
        ConnectionNumbers(conn, per_connection[conn.id]["hour"], per_connection[conn.id]["day"])
        for conn in connections])


def _empty(name: str, unit: str, buckets: list[datetime]) -> Window:
    return Window(name, unit, buckets, {series: [0] * len(buckets) for series in SERIES})


def _bucket(session: Session, column: Any, unit: str) -> Any:
    """The UTC hour or day of ``column`` as text, e.g. ``2026-03-23 15``."""
    sqlite_format, postgres_format = _FORMATS[unit]
    if session.get_bind().dialect.name == "sqlite":      # SQLite stores UTC as text: strftime reads it
        return sa.func.strftime(sqlite_format, column)
    return sa.func.to_char(sa.func.timezone("UTC", column), postgres_format)


def _seconds_between(session: Session, start: Any, end: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0
    return sa.extract("epoch", end - start)


def _latencies(session: Session, workspace: str, start: datetime) -> dict[str | None, Latency]:
    """p50 and p95 (nearest rank) of the deliveries created since ``start`` and delivered, per
    connection and overall (key None). Window functions rank them in the database: two rows come
    back per connection, not one per delivery."""
    seconds = _seconds_between(session, Event.received_at, Delivery.delivered_at)
    delivered = (Delivery.workspace_id == workspace, Delivery.created_at >= start,
                 Delivery.status == DeliveryStatus.DELIVERED, Delivery.delivered_at.is_not(None))
    out: dict[str | None, Latency] = {}
    for partition in (Delivery.connection_id, None):
        ranked = sa.select(
            (Delivery.connection_id if partition is not None else sa.literal(None, sa.String)).label("conn"),
            seconds.label("seconds"),
            sa.func.row_number().over(partition_by=partition, order_by=seconds).label("rank"),
            sa.func.count().over(partition_by=partition).label("n"),
        ).join(Event, Event.id == Delivery.event_id).where(*delivered).subquery()
        p50, p95 = (ranked.c.n * 50 + 99) // 100, (ranked.c.n * 95 + 99) // 100     # ceil(n·p): nearest rank
        rows = session.execute(sa.select(ranked.c.conn, ranked.c.n, ranked.c.rank, ranked.c.seconds, p50, p95)
                               .where(sa.or_(ranked.c.rank == p50, ranked.c.rank == p95)))
        found: dict[str | None, dict[str, Any]] = {}
        for conn, count, rank, value, rank50, rank95 in rows:
            entry = found.setdefault(conn, {"count": count})
            if rank == rank50:
                entry["p50"] = max(0.0, float(value))
            if rank == rank95:
                entry["p95"] = max(0.0, float(value))
        out.update({conn: Latency(**entry) for conn, entry in found.items()})
    return out
