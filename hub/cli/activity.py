"""``hookhub events tail`` and ``hookhub deliveries retry``: watching what arrives, and sending
again, from a shell on the hub's machine."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from hub.core.times import iso

#: A poll looks this far behind the newest event seen: an event is committed a little after it is
#: received, and several processes commit at once, so arrival order is not id order.
LOOK_BEHIND = timedelta(seconds=10)


@click.group("events")
def events_group() -> None:
    """Accepted inbound events."""


@events_group.command("tail")
@click.option("--workspace", default="default", show_default=True)
@click.option("--connection", default=None, help="Only this connection's events.")
@click.option("-n", "--lines", default=10, show_default=True, type=click.IntRange(0, 1000),
              help="How many of the latest events to print first.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing events as they are accepted (Ctrl-C stops).")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60),
              help="Seconds between polls with --follow.")
@click.option("--json", "as_json", is_flag=True, help="One JSON envelope per line instead of a summary.")
@with_appcontext
def events_tail(workspace: str, connection: str | None, lines: int, follow: bool, interval: float,
                as_json: bool) -> None:
    """Print the latest events, oldest first; with -f, keep printing new ones."""
    from hub.core.times import utcnow
    from hub.storage.db import get_database
    from hub.storage.models import Event

    database = get_database()
    query = sa.select(Event).where(Event.workspace_id == workspace)
    if connection:
        query = query.where(Event.connection_id == connection)
    seen: OrderedDict[str, None] = OrderedDict()       # ids printed lately: polls overlap

    def show(events: list[Event]) -> None:
        for event in events:
            if event.id in seen:
                continue
            seen[event.id] = None
            if len(seen) > 50_000:
                seen.popitem(last=False)
            click.echo(_as_json(event) if as_json else _summary(event))

    with database.session() as session:
        latest = list(session.scalars(query.order_by(Event.received_at.desc(), Event.id.desc()).limit(lines)))
        show(latest[::-1])
        if not follow:
            return
        # Older events the first poll looks back over were not asked for: mark them seen.
        newest = max([e.received_at for e in latest] + [utcnow()])
        recent = query.where(Event.received_at >= newest - LOOK_BEHIND).with_only_columns(Event.id)
        for event_id in session.scalars(recent):
            seen.setdefault(event_id, None)
    click.echo("following new events (Ctrl-C stops)", err=True)   # stderr: stdout stays one event per line
    try:
        while True:
            time.sleep(interval)
            with database.session() as session:
                batch = query.where(Event.received_at >= newest - LOOK_BEHIND)
                events = list(session.scalars(batch.order_by(Event.received_at, Event.id).limit(20_000)))
            show(events)
            newest = max([e.received_at for e in events] + [newest])
    except KeyboardInterrupt:
        pass


def _summary(event: Any) -> str:
    envelope = event.envelope or {}
    text = envelope.get("text") or ""
    text = text if len(text) <= 60 else text[:59] + "…"
    return "  ".join([iso(event.received_at), event.id, event.connection_id, f"{event.status:<8}",
                      envelope.get("event_id") or "-", text.replace("\n", " ")]).rstrip()


def _as_json(event: Any) -> str:
    return json.dumps({**(event.envelope or {}), "status": event.status, "connection_id": event.connection_id},
                      ensure_ascii=False, separators=(",", ":"))


@click.group("deliveries")
def deliveries_group() -> None:
    """Outbound deliveries."""


@deliveries_group.command("retry")
@click.argument("delivery_ids", nargs=-1)
@click.option("--dead-of", "connection", default=None, metavar="CONNECTION_ID",
              help="Retry every dead delivery of this connection.")
@click.option("--workspace", default="default", show_default=True)
@with_appcontext
def deliveries_retry(delivery_ids: tuple[str, ...], connection: str | None, workspace: str) -> None:
    """Send deliveries again now (same webhook-id, fresh retry schedule): by id, or every dead
    one of a connection with --dead-of."""
    from hub.core.errors import HookhubError
    from hub.services.deliveries import DeliveryService
    from hub.storage.db import get_database

    if not delivery_ids and not connection:
        raise click.UsageError("give delivery ids, or --dead-of CONNECTION_ID")
    failed = 0
    app = current_app._get_current_object()
    for delivery_id in delivery_ids:
        try:
            with get_database().session() as session:
                svc = DeliveryService(session, app, actor="cli")
                delivery = svc.get(workspace, delivery_id)
                was = delivery.status
                svc.retry(delivery)
            click.echo(f"{delivery_id}: queued again (was {was})")
        except HookhubError as exc:
            failed += 1
            click.echo(f"{delivery_id}: {exc.message}", err=True)
    if connection:
        with get_database().session() as session:
            ids = DeliveryService(session, app, actor="cli").retry_dead(workspace, connection)
        noun = "delivery" if len(ids) == 1 else "deliveries"
        click.echo(f"{len(ids)} dead {noun} of {connection} queued again" if ids
                   else f"no dead deliveries for {connection}")
    if failed:
        raise SystemExit(1)
