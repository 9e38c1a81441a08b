"""Test a connection: send one clearly labelled message through the real outbound path (pacing,
signing, SSRF-checked send, the channel's verdict) and say in plain words what happened."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from hub.core.errors import Conflict, HookhubError
from hub.core.ids import new_id
from hub.delivery import pacing
from hub.delivery.attempt import build_request, send_and_interpret
from hub.plugin import OutboundMessage
from hub.runtime.plugin_host import get_host
from hub.services.connections import ConnectionService
from hub.storage import audit
from hub.storage.models import Connection

MAX_PACING_WAIT = 5.0   # seconds an admin waits for the connection's rate limit before we give up


def labelled_test_envelope(conn: Connection, now: datetime) -> dict[str, Any]:
    """The event a test message is rendered from, labelled as a test in every visible field."""
    text = f"Test message from Hookhub for the connection {conn.name!r}: if you can read this, it works."
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": "evt_test", "workspace": conn.workspace_id, "connection": conn.name, "provider": "hookhub-test",
            "received_at": stamp, "event_id": f"test-{int(now.timestamp())}", "channel": conn.default_channel,
            "message_id": None, "event_ts": stamp, "text": text, "event_type": "hookhub.test",
            "payload": {"test": True, "text": text}, "headers": {}, "query": {}}


def run_connection_test(app: Flask, session: Session, connections: ConnectionService, conn: Connection,
                        actor: str) -> dict[str, Any]:
    """``{"ok", "status", "detail"}``: ``status`` is the HTTP status of the answer, 0 when none came."""
    host = get_host(app)
    if not conn.channel:
        raise Conflict("this connection has no outbound channel, so there is nothing to send a test to")
    if conn.channel not in host.channels:
        raise Conflict(f"the {conn.channel!r} channel is not installed")
    channel = host.channels.get(conn.channel)
    view = connections.view(conn)
    now = datetime.now(UTC)
    envelope = labelled_test_envelope(conn, now)
    message = OutboundMessage(body=channel.default_body(envelope, view), delivery_id="dlv_test",
                              webhook_id=new_id("msg"), timestamp=int(now.timestamp()), envelope=envelope,
                              is_test=True)
    outcome = _send(app, conn, channel, message, view)
    audit.record(session, actor=actor, action="connection.tested", workspace=conn.workspace_id,
                 object_type="connection", object_id=conn.id, details=outcome)
    return outcome


def _send(app: Flask, conn: Connection, channel: Any, message: OutboundMessage, view: Any) -> dict[str, Any]:
    try:
        request = build_request(channel, message, view)
    except HookhubError as exc:
        return {"ok": False, "status": 0, "detail": f"the message could not be built: {exc.message}"}
    deadline = time.monotonic() + MAX_PACING_WAIT
    holder = f"test_{message.webhook_id}"
    while (paced := pacing.acquire(app, conn, channel, holder)).wait > 0:
        if time.monotonic() + paced.wait > deadline:
            return {"ok": False, "status": 0, "detail": "the connection's rate limit allows no send for another "
                                                        f"{paced.wait:.0f} s; try again then"}
        time.sleep(paced.wait)
    try:
        attempt = send_and_interpret(app, channel, request, view)
    finally:
        pacing.release(app, paced.slot)
    result = attempt.result
    status = attempt.response.status if attempt.response is not None else 0
    if result.ok:
        detail = f"delivered: the endpoint answered HTTP {status}"
    elif attempt.outcome == "blocked":
        detail = result.detail
    elif attempt.response is None:
        detail = f"no answer: {result.detail}"
    else:
        detail = f"not delivered: {result.detail}"
    if result.disable_connection:
        detail += " (a real delivery would disable this connection)"
    return {"ok": result.ok, "status": status, "detail": detail}
