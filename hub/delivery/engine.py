"""One delivery attempt per job: pace, render, veto, build, sign, send (SSRF-checked at connect
time), interpret, record, then deliver / retry later / fail / dead-letter. Never sleeps: whatever
must wait is re-scheduled."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, current_app

from hub import db
from hub.delivery import health, pacing
from hub.delivery.dispatch import assign_job, enqueue
from hub.delivery.render import RenderError, render_body
from hub.delivery.signing import sign_headers
from hub.models import Connection, Delivery, DeliveryAttempt, Event, utcnow
from hub.outbound.http import SendError
from hub.outbound.ssrf import SSRFBlocked
from hub.plugin import (
    Channel,
    ConnectionView,
    DeliveryView,
    EventView,
    HookhubError,
    HttpRequest,
    HttpResponse,
    OutboundMessage,
    SendResult,
    Veto,
)
from hub.plugin_host import get_host
from hub.services.connections import ConnectionService

log = logging.getLogger(__name__)
EXCERPT_BYTES = 4096
MIN_DELAY_AFTER_429 = 60.0
ACTIVE = ("queued", "sending")


@dataclass
class Attempt:
    """What one try produced, before it is written down."""

    result: SendResult
    response: HttpResponse | None = None
    error: str | None = None
    duration_ms: float | None = None
    outcome: str = ""                      # delivered | retry | failed | blocked


def deliver(delivery_id: str) -> str:
    """The ``deliver`` queue's job."""
    app = current_app._get_current_object()
    session = db.session()
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.status not in ACTIVE:
        return f"nothing to do ({delivery.status if delivery else 'missing'})"
    conn = session.get(Connection, delivery.connection_id)
    if conn is None or not conn.active or conn.channel not in get_host().channels:
        # Held: re-activating the connection dispatches its queued deliveries again.
        delivery.status = "queued"
        delivery.last_error = "the target connection is inactive or its channel is not installed"
        session.commit()
        return "held"
    early = (delivery.next_attempt_at - utcnow()).total_seconds() if delivery.next_attempt_at else 0.0
    if early > 0.05:  # never sooner than the retry schedule or a Retry-After said, whoever enqueued us
        return _reschedule(app, session, delivery, early, "early")
    channel = get_host().channels.get(conn.channel)
    view = ConnectionService(session, get_host(), _vault(), public_url="").view(conn)
    wait = pacing.acquire(app, conn, channel)
    if wait:
        return _reschedule(app, session, delivery, wait, "paced")
    try:
        return _attempt(app, session, delivery, conn, channel, view)
    finally:
        pacing.release(app, conn)


def _attempt(app: Flask, session: Any, delivery: Delivery, conn: Connection, channel: Channel,
             view: ConnectionView) -> str:
    event = session.get(Event, delivery.event_id) if delivery.event_id else None
    envelope = dict(event.envelope) if event else {}
    try:
        body = render_body(delivery, channel, envelope, view)
    except RenderError as exc:
        return _finish(app, session, delivery, conn, Attempt(SendResult("failed", str(exc)), outcome="failed"))
    delivery.body = body
    dview = DeliveryView(id=delivery.id, webhook_id=delivery.webhook_id,
                         event=EventView(event.id, event.connection_id, envelope) if event else None,
                         connection=view, route_id=delivery.route_id, body=body,
                         attempt=delivery.attempt_count + 1)
    vetoes = [v for v in get_host().hook.hub_before_delivery(delivery=dview) if isinstance(v, Veto)]
    if vetoes:
        delivery.status = "rejected"
        delivery.last_error = "vetoed: " + "; ".join(v.reason for v in vetoes)
        session.commit()
        return "rejected"
    now = int(time.time())
    message = OutboundMessage(body=dview.body, delivery_id=delivery.id, webhook_id=delivery.webhook_id,
                              attempt=dview.attempt, timestamp=now, envelope=envelope, headers=dview.headers)
    try:
        request = build_request(channel, message, view)
    except HookhubError as exc:  # PermanentFailure, ConfigInvalid: the message can never go out
        return _finish(app, session, delivery, conn, Attempt(SendResult("failed", exc.message), outcome="failed"),
                       dview)
    except Exception as exc:  # a channel bug: say so rather than fail the job over and over
        log.exception("channel %s crashed building delivery %s", channel.name, delivery.id)
        detail = f"the {channel.name} channel could not build the request: {exc!r}"
        return _finish(app, session, delivery, conn, Attempt(SendResult("failed", detail), outcome="failed"), dview)
    delivery.status = "sending"
    delivery.attempt_count += 1
    session.commit()
    attempt = send_and_interpret(app, channel, request, view)
    return _finish(app, session, delivery, conn, attempt, dview)


def send_and_interpret(app: Flask, channel: Channel, request: HttpRequest, view: ConnectionView) -> Attempt:
    """The core's HTTP send and the channel's verdict, as an Attempt (also used by connection tests)."""
    from hub.delivery.sender import get_sender

    timeout = float(view.channel_config.get("timeout") or app.config["HOOKHUB_OUTBOUND_TIMEOUT"])
    started = time.monotonic()
    try:
        response = get_sender(app).send(request, timeout=timeout, client_cert=_client_cert(view))
    except SSRFBlocked as exc:
        return Attempt(SendResult("failed", f"blocked: {exc.reason}"), error=f"blocked: {exc.reason}",
                       outcome="blocked", duration_ms=_ms(started))
    except SendError as exc:
        return Attempt(SendResult("retry", str(exc)), error=str(exc), outcome="retry", duration_ms=_ms(started))
    try:
        result = channel.interpret(response, view)
    except Exception as exc:  # a channel bug: keep the delivery alive and say why
        log.exception("channel %s crashed interpreting HTTP %s", channel.name, response.status)
        result = SendResult("retry", f"the {channel.name} channel could not read the answer: {exc!r}")
    if result.status_code is None:
        result = result.replace(status_code=response.status)
    return Attempt(result, response=response, duration_ms=response.elapsed_ms or _ms(started),
                   outcome=result.outcome)


def _finish(app: Flask, session: Any, delivery: Delivery, conn: Connection, attempt: Attempt,
            dview: DeliveryView | None = None) -> str:
    result = attempt.result
    now = utcnow()
    response = attempt.response
    session.add(DeliveryAttempt(
        delivery_id=delivery.id, number=delivery.attempt_count, at=now, outcome=attempt.outcome or result.outcome,
        status_code=response.status if response else None, duration_ms=attempt.duration_ms,
        response_excerpt=response.body[:EXCERPT_BYTES].decode("utf-8", "replace") if response else None,
        error=attempt.error or (None if result.ok else result.detail)))
    if result.ok:
        delivery.status = "delivered"
        delivery.delivered_at = now
        delivery.last_error = None
        delivery.next_attempt_at = None
        health.record_success(session, conn)
    elif result.outcome == "retry" and _attempts_in_cycle(delivery) <= len(_schedule(app, conn)):
        delay = retry_delay(app, conn, _attempts_in_cycle(delivery), result)
        delivery.status = "queued"
        delivery.last_error = result.detail
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        health.record_failure(session, conn, result.detail)
    else:
        delivery.status = "dead" if result.outcome == "retry" else "failed"
        delivery.last_error = result.detail
        delivery.next_attempt_at = None
        health.record_failure(session, conn, result.detail)
    if result.disable_connection:
        health.disable(session, conn, result.detail)
    if result.flag:
        conn.flag = result.flag
    job_id = assign_job(delivery) if delivery.status == "queued" else None
    session.commit()
    if result.cooldown:
        pacing.cool_down(app, conn, result.cooldown)
    if job_id:
        enqueue(app, delivery.id, job_id, at=delivery.next_attempt_at)
    if dview is not None:
        try:
            get_host().hook.hub_delivery_finished(delivery=dview, result=result)
        except Exception:
            log.exception("a hub_delivery_finished hook failed for %s", delivery.id)
    return f"{delivery.status}: {result.detail}"


def retry_delay(app: Flask, conn: Connection, attempt: int, result: SendResult) -> float:
    """Seconds before the next attempt: the schedule's step with ±20 % jitter, never sooner than the
    receiver's Retry-After, and never sooner than a minute after a 429."""
    schedule = _schedule(app, conn)
    base = schedule[min(attempt, len(schedule)) - 1]
    delay = base * random.uniform(0.8, 1.2)
    if result.retry_after is not None:
        delay = max(delay, result.retry_after)
    if result.status_code == 429:
        delay = max(delay, float(app.config.get("HOOKHUB_MIN_DELAY_AFTER_429", MIN_DELAY_AFTER_429)))
    return delay


def _schedule(app: Flask, conn: Connection) -> list[float]:
    return list((conn.channel_config or {}).get("retry_schedule") or app.config["HOOKHUB_RETRY_SCHEDULE"])


def _attempts_in_cycle(delivery: Delivery) -> int:
    return delivery.attempt_count - (delivery.cycle_start or 0)


def _reschedule(app: Flask, session: Any, delivery: Delivery, wait: float, why: str) -> str:
    delivery.status = "queued"
    delivery.next_attempt_at = utcnow() + timedelta(seconds=wait)
    job_id = assign_job(delivery, f"-{why}")
    session.commit()
    enqueue(app, delivery.id, job_id, at=delivery.next_attempt_at)
    return f"{why}: rescheduled in {wait:.2f} s"


def build_request(channel: Channel, message: OutboundMessage, view: ConnectionView) -> HttpRequest:
    """The channel's request for ``message`` with the core's headers: those of
    ``hub_before_delivery``, then ``webhook-id`` (the receiver's idempotency key) and, when the
    connection has a signing secret, the Standard Webhooks signature of every unexpired secret."""
    request = channel.build(message, view)
    headers = dict(request.headers)
    headers.update(message.headers)
    secrets = view.secret_values("signing_secret")
    if secrets:
        headers.update(sign_headers(message.webhook_id, message.timestamp, request.body, secrets))
    else:
        headers.setdefault("webhook-id", message.webhook_id)
    return HttpRequest(request.method, request.url, headers, request.body)


def _client_cert(view: ConnectionView) -> tuple[str, str] | None:
    cert, key = view.channel_config.get("client_cert"), view.secrets.get("client_key")
    return (cert, key) if cert and key else None


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _vault():
    from hub.vault import get_vault

    return get_vault()

