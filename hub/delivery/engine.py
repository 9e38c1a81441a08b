"""The ``deliver`` queue's job: one attempt for each delivery of a batch. The job's thread does all
the batch's database work in a few short transactions (load; mark the sends; record outcomes as
they come in), and the sends overlap on the process's send pool, because deliveries wait on the
network, not on the CPU. Nothing here sleeps: whatever must wait is re-scheduled."""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from rq import get_current_job
from sqlalchemy.orm import Session

from hub.core.errors import HookhubError
from hub.core.statuses import ACTIVE_DELIVERY, DeliveryStatus
from hub.core.times import utcnow
from hub.delivery import pacing
from hub.delivery.attempt import (
    AfterCommit,
    Attempt,
    build_request,
    insert_attempts,
    record,
    reschedule,
    send_and_interpret,
)
from hub.delivery.render import RenderError, render_body
from hub.plugin import Channel, ConnectionView, DeliveryView, EventView, HttpRequest, OutboundMessage, SendResult, Veto
from hub.runtime.plugin_host import get_host
from hub.runtime.views import ViewCache, view_cache
from hub.storage import db
from hub.storage.extensions import app_object
from hub.storage.models import Connection, Delivery, Event
from hub.storage.queue import WORKING_FOR, current_job_id

log = logging.getLogger(__name__)
RECORD_EVERY = 0.02      # seconds: outcomes that arrive together are written in one transaction


@dataclass
class Send:
    """A delivery ready to go: its request and what its outcome is recorded with."""

    delivery: Delivery
    conn: Connection
    channel: Channel
    view: ConnectionView
    dview: DeliveryView
    request: HttpRequest
    slot: pacing.Slot | None = None     # the concurrency slot this send holds, when its connection caps them


def deliver_many(delivery_ids: list[str]) -> str:
    """Attempt each delivery once; returns a summary of the outcomes."""
    app = current_app._get_current_object()
    session = db.session()
    deliveries = session.scalars(sa.select(Delivery).where(Delivery.id.in_(delivery_ids))).all()
    job = get_current_job()
    superseded = 0
    if job is not None:   # a delivery re-dispatched meanwhile (by the sweeper) belongs to its newer job
        kept = [d for d in deliveries if d.job_id in (None, job.id)]
        superseded, deliveries = len(deliveries) - len(kept), kept
    conns = {c.id: c for c in session.scalars(sa.select(Connection).where(
        Connection.id.in_({d.connection_id for d in deliveries})))}
    events = {e.id: e for e in session.scalars(sa.select(Event).where(
        Event.id.in_({d.event_id for d in deliveries if d.event_id})))}
    # End the read here: each transaction holds SQLite's write lock (see hub.storage.db), so none may span
    # Redis round trips, templates, plugins or the sends.
    session.commit()
    outcomes: Counter[str] = Counter({"skipped (superseded by a newer job)": superseded} if superseded else {})
    after: AfterCommit = []
    views = view_cache(app, session)      # secrets decrypted once per connection and batch
    cooldowns: dict[str, int] = {}        # read once per connection and batch (pacing.acquire)
    sends: list[Send] = []
    for delivery in deliveries:
        prepared = _prepare(app, session, delivery, conns.get(delivery.connection_id),
                            events.get(delivery.event_id or ""), views, after, cooldowns)
        if isinstance(prepared, Send):
            sends.append(prepared)
        else:
            outcomes[prepared] += 1
    for send in sends:
        send.delivery.status = DeliveryStatus.SENDING
        send.delivery.attempt_count += 1
    _commit(session, after)
    outcomes.update(_send_all(app, session, sends))
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items())) or "nothing to do"


def _prepare(app: Flask, session: Session, delivery: Delivery, conn: Connection | None, event: Event | None,
             views: ViewCache, after: AfterCommit, cooldowns: dict[str, int]) -> Send | str:
    """Everything before the send; returns the Send, or what happened instead (in ``session``)."""
    if delivery.status not in ACTIVE_DELIVERY:
        return f"skipped ({delivery.status})"
    if delivery.erased_at is not None:   # erased while its send was on the wire: no retry goes out
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = "its content was erased"
        return "failed (erased)"
    host = get_host()
    if conn is None or not conn.active or conn.channel not in host.channels:
        # Held: re-activating the connection dispatches its queued deliveries again.
        delivery.status = DeliveryStatus.QUEUED
        delivery.last_error = "the target connection is inactive or its channel is not installed"
        return "held"
    early = (delivery.next_attempt_at - utcnow()).total_seconds() if delivery.next_attempt_at else 0.0
    if early > 0.05:  # never sooner than the retry schedule or a Retry-After said, whoever enqueued us
        reschedule(delivery, early, after, app, "early")
        return "rescheduled"
    channel = host.channels.get(conn.channel)
    paced = pacing.acquire(app, conn, channel, holder=delivery.id, cooldowns=cooldowns)
    if paced.wait:
        reschedule(delivery, paced.wait, after, app, "paced")
        return "paced"
    view = views(conn)
    prepared = _render_and_build(app, session, delivery, conn, event, channel, view, after)
    if not isinstance(prepared, Send):
        pacing.release(app, paced.slot)
        return prepared
    prepared.slot = paced.slot
    return prepared


def _render_and_build(app: Flask, session: Session, delivery: Delivery, conn: Connection, event: Event | None,
                      channel: Channel, view: ConnectionView, after: AfterCommit) -> Send | str:
    envelope = dict(event.envelope) if event else {}
    try:
        body = render_body(delivery, channel, envelope, view)
    except RenderError as exc:   # the template's fault (or a busy worker's), not the endpoint's
        outcome = "retry" if exc.transient else "failed"
        delivery.attempt_count += 1   # an attempt: numbered, and counted against the retry schedule
        return record(app, session, delivery, conn, Attempt(SendResult(outcome, str(exc)), outcome=outcome,
                                                            endpoint=False), None, after)
    delivery.body = body
    dview = DeliveryView(id=delivery.id, webhook_id=delivery.webhook_id,
                         event=EventView(event.id, event.connection_id, envelope) if event else None,
                         connection=view, route_id=delivery.route_id, body=body,
                         attempt=delivery.attempt_count + 1)
    vetoes = [v for v in get_host().hook.hub_before_delivery(delivery=dview) if isinstance(v, Veto)]
    if vetoes:
        delivery.status = DeliveryStatus.REJECTED
        delivery.last_error = "vetoed: " + "; ".join(v.reason for v in vetoes)
        return "rejected"
    message = OutboundMessage(body=dview.body, delivery_id=delivery.id, webhook_id=delivery.webhook_id,
                              attempt=dview.attempt, timestamp=int(time.time()), envelope=envelope,
                              headers=dview.headers)
    try:
        request = build_request(channel, message, view)
    except HookhubError as exc:  # PermanentFailure, ConfigInvalid: the message can never go out
        detail = exc.message
    except Exception as exc:  # a channel bug: say so rather than fail the job over and over
        log.exception("channel %s crashed building delivery %s", channel.name, delivery.id)
        detail = f"the {channel.name} channel could not build the request: {exc!r}"
    else:
        return Send(delivery, conn, channel, view, dview, request)
    delivery.attempt_count += 1
    return record(app, session, delivery, conn, Attempt(SendResult("failed", detail), outcome="failed",
                                                        endpoint=False), dview, after)


def _send_all(app: Flask, session: Session, sends: list[Send]) -> Counter[str]:
    """Send on the pool; record outcomes as they arrive, a group per transaction."""
    outcomes: Counter[str] = Counter()
    pool = send_pool(app)
    job_id = current_job_id()
    futures: dict[Future[Attempt], Send] = {
        pool.submit(_working_for, job_id, app, s): s for s in sends}
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=RECORD_EVERY)
        if not done:
            continue
        after: AfterCommit = []
        rows: list[dict[str, Any]] = []           # the group's attempts, inserted in one statement
        for future in done:
            send = futures[future]
            outcomes[record(app, session, send.delivery, send.conn, future.result(), send.dview, after, rows)] += 1
            after.append(lambda slot=send.slot: pacing.release(app, slot))
        insert_attempts(session, rows)
        _commit(session, after)
    return outcomes


def _working_for(job_id: str | None, app: Flask, send: Send) -> Attempt:
    """One send on a pool thread, its log lines stamped with the job it works for."""
    token = WORKING_FOR.set(job_id)
    try:
        pacing.renew(app, send.slot)
        return send_and_interpret(app, send.channel, send.request, send.view)
    finally:
        WORKING_FOR.reset(token)


def _commit(session: Session, after: AfterCommit) -> None:
    session.commit()
    for action in after:
        try:
            action()
        except Exception:  # the state is committed; the sweeper covers a job that was not enqueued
            log.exception("an after-commit step of a delivery failed")
    after.clear()


def send_pool(app: Flask) -> ThreadPoolExecutor:
    """The process's threads for sends (HOOKHUB_SEND_CONCURRENCY), shared by every job."""
    size = int(app.config.get("HOOKHUB_SEND_CONCURRENCY", 64))
    return app_object(app, "hookhub.send_pool", lambda: ThreadPoolExecutor(size, thread_name_prefix="hookhub-send"))

