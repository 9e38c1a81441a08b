"""External approvers (``"approval": "external"``): the approval request is a delivery to the
approver connection — sent, signed, SSRF-checked and retried like any other — and the approver's
answer decides, in the format the seeds use:

- a 2xx JSON body with ``output.response`` (read first) or ``response``: ``approve`` / ``approved``
  / ``true`` approves, ``reject`` / ``rejected`` / ``deny`` / ``false`` rejects (the reason from
  ``output.reason`` / ``reason``), ``pending`` leaves it for a correlated callback;
- a 202 or 204 without a body leaves it pending too;
- anything else is retried like a failed delivery; an approver that never answers leaves the
  approval pending until it expires."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from hub.core.errors import Conflict
from hub.core.ids import new_id
from hub.core.statuses import DeliveryStatus
from hub.core.times import iso
from hub.delivery.render import RenderError, render_body
from hub.plugin import ConnectionView, HttpResponse, OutboundMessage, SendResult
from hub.runtime.plugin_host import get_host
from hub.storage.models import Approval, Connection, Delivery, Event

log = logging.getLogger(__name__)
PURPOSE = "approval_request"
APPROVE = frozenset({"approve", "approved", "true"})
REJECT = frozenset({"reject", "rejected", "deny", "denied", "false"})
PENDING = frozenset({"pending"})


def approval_request(app: Flask, session: Session, approval: Approval, held: Delivery, conn: Connection,
                     event: Event | None, connection_view: Callable[[Connection], ConnectionView]) -> Delivery:
    """The delivery that asks ``conn``'s approver about ``held`` (added to ``session``, queued)."""
    approver = (conn.approval_config or {}).get("approver")
    envelope = dict(event.envelope) if event is not None else {}
    body = {"type": "approval.requested",
            "approval": {"id": approval.id, "delivery": held.id, "connection": conn.id,
                         "expires_at": iso(approval.expires_at) if approval.expires_at else None},
            "event": envelope, "request": _preview(app, held, conn, envelope, connection_view)}
    request = Delivery(id=new_id("dlv"), workspace_id=held.workspace_id, event_id=held.event_id, route_id=None,
                       connection_id=approver, webhook_id=new_id("msg"), status=DeliveryStatus.QUEUED,
                       body=body, purpose=PURPOSE, approval_id=approval.id)
    session.add(request)
    return request


def _preview(app: Flask, held: Delivery, conn: Connection, envelope: dict[str, Any],
             connection_view: Callable[[Connection], ConnectionView]) -> dict[str, Any]:
    """What the held delivery would send: its method and body (never its URL, which may hold a token)."""
    host = get_host(app)
    if conn.channel not in host.channels:
        return {"method": None, "body": None, "error": f"the {conn.channel!r} channel is not installed"}
    channel, view = host.channels.get(conn.channel), connection_view(conn)
    try:
        rendered = render_body(held, channel, envelope, view)
        built = channel.build(OutboundMessage(body=rendered, delivery_id=held.id, webhook_id=held.webhook_id,
                                              envelope=envelope), view)
    except RenderError as exc:
        return {"method": None, "body": None, "error": str(exc)}
    except Exception as exc:  # a channel that cannot build it now: the approver sees why
        return {"method": None, "body": None, "error": f"the request cannot be built: {exc}"}
    text = built.body.decode("utf-8", "replace")
    try:
        shown: Any = json.loads(text)
    except ValueError:
        shown = text
    return {"method": built.method, "body": shown}


def read_answer(response: HttpResponse) -> tuple[str, str | None] | None:
    """``("approve" | "reject" | "pending", reason)`` from an approver's answer, or None when it
    says none of these (then it is retried)."""
    if response.status in (202, 204) and not response.body.strip():
        return "pending", None
    body = response.json()
    if not isinstance(body, dict):
        return None
    output = body.get("output") if isinstance(body.get("output"), dict) else {}
    said = output["response"] if "response" in output else body.get("response")
    reason = output.get("reason") or body.get("reason")
    word = json.dumps(said) if isinstance(said, bool) else str(said).strip().lower() if said is not None else ""
    reason = str(reason)[:500] if reason not in (None, "") else None
    for verdict, words in (("approve", APPROVE), ("reject", REJECT), ("pending", PENDING)):
        if word in words:
            return verdict, reason
    return None


def settle(session: Session, request: Delivery, response: HttpResponse | None,
           decide: Callable[[Session, Approval, bool, str, str | None], Delivery]) -> tuple[SendResult | None,
                                                                                        Delivery | None]:
    """Act on an approver's 2xx answer to ``request``: decide its approval (with ``decide``),
    or leave it pending. Returns a verdict to use instead of "delivered" when the answer cannot
    be read (a retry), and the held delivery to dispatch when it was approved."""
    approval = session.get(Approval, request.approval_id) if request.approval_id else None
    answer = read_answer(response) if response is not None else None
    if answer is None:
        return (SendResult("retry", "the approver's answer says neither approve, reject nor pending "
                                    "(output.response or response)", status_code=response.status if response else None),
                None)
    verdict, reason = answer
    if approval is None or verdict == "pending":
        return None, None
    try:
        held = decide(session, approval, verdict == "approve", f"approver:{request.connection_id}", reason)
    except Conflict as exc:     # decided or expired meanwhile: the answer comes too late
        log.info("approver %s answered %s for %s too late: %s", request.connection_id, verdict, approval.id, exc)
        return None, None
    return None, held if held.status == DeliveryStatus.QUEUED else None
