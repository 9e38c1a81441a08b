"""One delivery attempt, without the transactions around it: build and sign the request, send it
(SSRF-checked at connect time), read the channel's verdict, and write down what it means —
delivered, retry later (with backoff), failed or dead — into the caller's session."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from hub.core.digests import body_sha256, headers_sha256
from hub.core.statuses import DeliveryStatus
from hub.core.times import utcnow
from hub.delivery import approval, approvers, pacing
from hub.delivery import endpoint_health as health
from hub.delivery.dispatch import assign_job, enqueue, queue_of
from hub.delivery.signing import sign_headers
from hub.outbound.errors import SendError, SSRFBlocked
from hub.outbound.transport import get_sender
from hub.plugin import Channel, ConnectionView, DeliveryView, HttpRequest, HttpResponse, OutboundMessage, SendResult
from hub.runtime import lifecycle, metrics
from hub.runtime.plugin_host import get_host
from hub.runtime.representations import connection_item
from hub.storage.models import Connection, Delivery, DeliveryAttempt, Event

log = logging.getLogger(__name__)
EXCERPT_BYTES = 4096
MIN_DELAY_AFTER_429 = 60.0
#: Work for after the commit that records an outcome (enqueue a retry, hooks, pacing): a retry job
#: must never exist before the state it acts on is committed.
AfterCommit = list[Callable[[], None]]


@dataclass
class Attempt:
    """What one try produced, before it is written down."""

    result: SendResult
    response: HttpResponse | None = None
    error: str | None = None
    duration_ms: float | None = None
    outcome: str = ""                      # delivered | retry | failed | blocked (recorded as dead when
                                           # a retry would exceed the schedule)
    #: False when the failure is the hub's side (a template, a channel that cannot build the
    #: request): it says nothing of the endpoint, so it does not count toward disabling it.
    endpoint: bool = True
    #: Digests of the request as the channel built it and the core signed it (hub.core.digests),
    #: when one was sent: the audit of exchanges reads them on the attempt's row.
    request_headers_sha256: str | None = None
    request_body_sha256: str | None = None


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


def send_and_interpret(app: Flask, channel: Channel, request: HttpRequest, view: ConnectionView) -> Attempt:
    """The core's HTTP send and the channel's verdict, as an Attempt with the request's digests;
    never raises."""
    attempt = _send_and_interpret(app, channel, request, view)
    attempt.request_headers_sha256 = headers_sha256(request.headers.items())
    attempt.request_body_sha256 = body_sha256(request.body)
    return attempt


def _send_and_interpret(app: Flask, channel: Channel, request: HttpRequest, view: ConnectionView) -> Attempt:
    timeout = float(view.channel_config.get("timeout") or app.config["HOOKHUB_OUTBOUND_TIMEOUT"])
    started = time.monotonic()
    try:
        response = get_sender(app).send(request, timeout=timeout, client_cert=_client_cert(view))
    except SSRFBlocked as exc:
        return Attempt(SendResult("failed", f"blocked: {exc.reason}"), error=f"blocked: {exc.reason}",
                       outcome="blocked", duration_ms=_ms(started))
    except SendError as exc:
        return Attempt(SendResult("retry", str(exc)), error=str(exc), outcome="retry", duration_ms=_ms(started))
    except Exception as exc:  # a bug below us: the delivery stays alive and says why
        log.exception("sending %s %s crashed", request.method, channel.name)
        detail = f"the send crashed: {exc!r}"
        return Attempt(SendResult("retry", detail), error=detail, outcome="retry", duration_ms=_ms(started))
    try:
        result = channel.interpret(response, view)
    except Exception as exc:  # a channel bug: keep the delivery alive and say why
        log.exception("channel %s crashed interpreting HTTP %s", channel.name, response.status)
        result = SendResult("retry", f"the {channel.name} channel could not read the answer: {exc!r}")
    if result.status_code is None:
        result = result.replace(status_code=response.status)
    return Attempt(result, response=response, duration_ms=response.elapsed_ms or _ms(started),
                   outcome=result.outcome)


def record(app: Flask, session: Session, delivery: Delivery, conn: Connection, attempt: Attempt,
           dview: DeliveryView | None, after: AfterCommit, rows: list[dict[str, Any]] | None = None) -> str:
    """Write ``attempt`` and its consequences into ``session`` (the caller commits, then runs
    ``after``); returns the delivery's new status. The attempt row's outcome is its fate: a
    retryable failure that exhausts the retry schedule is recorded as ``dead``, not ``retry``.

    With ``rows``, the attempt's row is appended there for the caller to insert with others in one
    statement before its commit (:func:`insert_attempts`) — unless a lifecycle report of this
    delivery, which lists its attempts, is to be written now: then it is added to ``session``."""
    result = attempt.result
    now = utcnow()
    response = attempt.response
    approved, outcome = None, attempt.outcome or result.outcome
    if delivery.purpose == approvers.PURPOSE and result.ok:   # an approver answered: its answer decides
        unreadable, approved = approvers.settle(session, delivery, response, approval.decide)
        if unreadable is not None:
            result, outcome = unreadable, unreadable.outcome
    retryable = result.outcome == "retry"
    retry = retryable and _attempts_in_cycle(delivery) <= len(_schedule(app, conn))
    reported = _reported(result, retry, retryable)
    row = dict(
        delivery_id=delivery.id, number=delivery.attempt_count, at=now,
        outcome="dead" if retryable and not retry else outcome,
        status_code=response.status if response else None, duration_ms=attempt.duration_ms,
        response_excerpt=response.body[:EXCERPT_BYTES].decode("utf-8", "replace") if response else None,
        error=attempt.error or (None if result.ok else result.detail),
        request_headers_sha256=attempt.request_headers_sha256, request_body_sha256=attempt.request_body_sha256)
    if rows is not None and not lifecycle.reports(session, delivery, reported):
        rows.append(row)
    else:
        session.add(DeliveryAttempt(**row))
    delivery.last_error = None if result.ok else result.detail
    delivery.next_attempt_at = None
    if result.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        health.record_success(session, conn)
    elif retry:
        delay = retry_delay(app, conn, _attempts_in_cycle(delivery), result)
        reschedule(delivery, delay, after, app)
        if attempt.endpoint:
            health.record_failure(app, session, conn, result.detail)
    else:
        delivery.status = DeliveryStatus.DEAD if retryable else DeliveryStatus.FAILED
        if attempt.endpoint:
            health.record_failure(app, session, conn, result.detail)
    lifecycle.delivery_changed(session, delivery, reported)
    if approved is not None:
        reschedule(approved, 0, after, app)          # the held delivery goes out now
    if result.disable_connection:
        health.disable(app, session, conn, result.detail)
    if result.flag and result.flag != conn.flag:
        conn.flag = result.flag
        lifecycle.emit(session, conn.workspace_id, "connection.flagged", connection_item(conn),
                       text=f"{conn.name}: {result.flag}")
    if result.cooldown:
        after.append(lambda: pacing.cool_down(app, conn, result.cooldown or 0))
    fate = "retry" if retry else str(delivery.status)
    if dview is not None:
        after.append(lambda: _finished_hook(dview, result, fate))
    after.append(_counted(session, delivery, fate))
    if not result.ok:
        after.append(_logged(delivery, conn, fate, result.detail))
    return delivery.status


def _reported(result: SendResult, retry: bool, retryable: bool) -> str:
    """The lifecycle event type :func:`record` reports for an attempt with this outcome."""
    if result.ok:
        return "delivery.succeeded"
    if retry:
        return "delivery.failed"
    return "delivery.dead" if retryable else "delivery.refused"


def insert_attempts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the attempt rows :func:`record` collected, in one statement (in ``session``'s
    transaction, before its commit): the ORM built each attempt's INSERT object by object, the
    largest single part of a worker's time recording outcomes."""
    if rows:
        session.execute(sa.insert(DeliveryAttempt), rows)
        rows.clear()


def _logged(delivery: Delivery, conn: Connection, fate: str, detail: str | None) -> Callable[[], None]:
    """The log line of a failed attempt, written once it is committed: INFO while it will be
    retried, WARNING when the delivery has failed or is dead (values read now, not after the commit)."""
    level = logging.INFO if fate == "retry" else logging.WARNING
    what = (delivery.id, delivery.attempt_count, conn.id, fate, (detail or "")[:300])
    return lambda: log.log(level, "delivery %s attempt %d to %s: %s (%s)", *what)


def _counted(session: Session, delivery: Delivery, outcome: str) -> Callable[[], None]:
    """The metrics of a recorded attempt, counted once it is committed: its outcome, and for a
    delivered one the seconds since its event was accepted."""
    seconds = None
    if outcome == DeliveryStatus.DELIVERED and delivery.event_id and delivery.delivered_at:
        event = session.get(Event, delivery.event_id)      # loaded with the batch: no query
        seconds = (delivery.delivered_at - event.received_at).total_seconds() if event is not None else None
    return lambda: metrics.delivery(str(outcome), seconds)


def reschedule(delivery: Delivery, wait: float, after: AfterCommit, app: Flask, why: str = "") -> None:
    """Queue ``delivery`` again in ``wait`` seconds (its job is enqueued after the commit)."""
    delivery.status = DeliveryStatus.QUEUED
    delivery.next_attempt_at = utcnow() + timedelta(seconds=wait)
    job_id = assign_job(delivery, f"-{why}" if why else "")
    at = delivery.next_attempt_at
    after.append(lambda: enqueue(app, [delivery.id], job_id, at=at, queue_name=queue_of(delivery)))


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


def _finished_hook(dview: DeliveryView, result: SendResult, fate: str) -> None:
    try:
        get_host().hook.hub_delivery_finished(delivery=dview, result=result, fate=fate)
    except Exception:
        log.exception("a hub_delivery_finished hook failed for %s", dview.id)


def _schedule(app: Flask, conn: Connection) -> list[float]:
    """The connection's retry schedule, the hub's when it sets none; ``[]`` means no retry at all."""
    configured = (conn.channel_config or {}).get("retry_schedule")
    return list(app.config["HOOKHUB_RETRY_SCHEDULE"] if configured is None else configured)


def _attempts_in_cycle(delivery: Delivery) -> int:
    return delivery.attempt_count - (delivery.cycle_start or 0)


def _client_cert(view: ConnectionView) -> tuple[str, str] | None:
    cert, key = view.channel_config.get("client_cert"), view.secrets.get("client_key")
    return (cert, key) if cert and key else None


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
