"""Deliveries, approvals and connections as clients see them (the admin API's items), so that a
lifecycle event carries the same object the API would show for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.core.times import iso
from hub.storage.models import Approval, Connection, Delivery


def _time(value: datetime | None) -> str | None:
    return iso(value) if value else None


def delivery_item(d: Delivery, *, full: bool = False) -> dict[str, Any]:
    item = {"id": d.id, "event": d.event_id, "route": d.route_id, "connection": d.connection_id,
            "status": d.status, "webhook_id": d.webhook_id, "attempt_count": d.attempt_count,
            "next_attempt_at": _time(d.next_attempt_at), "last_error": d.last_error,
            "created_at": _time(d.created_at), "delivered_at": _time(d.delivered_at),
            "erased": d.erased_at is not None,
            "attempts": [{"at": _time(a.at), "status_code": a.status_code, "duration_ms": a.duration_ms,
                          "error": a.error, "outcome": a.outcome}
                         | ({"response_excerpt": a.response_excerpt} if full else {})
                         for a in d.attempts]}
    if full:
        item["body"] = d.body
        item["template"] = d.template
    return item


def approval_item(a: Approval, delivery: Delivery | None = None) -> dict[str, Any]:
    delivery = delivery or a.delivery    # always there: an approval is deleted with its delivery
    return {"id": a.id, "status": a.status, "delivery": a.delivery_id, "connection": delivery.connection_id,
            "event": delivery.event_id, "delivery_status": delivery.status,
            "decided_by": a.decided_by, "reason": a.reason,
            "created_at": _time(a.created_at), "decided_at": _time(a.decided_at), "expires_at": _time(a.expires_at)}


def connection_item(conn: Connection) -> dict[str, Any]:
    """A connection without its secrets or inbound URL (what a subscriber may be told of it)."""
    return {"id": conn.id, "name": conn.name, "workspace": conn.workspace_id, "provider": conn.provider,
            "channel": conn.channel, "active": conn.active, "disabled_reason": conn.disabled_reason,
            "flag": conn.flag, "approval": conn.approval, "created_at": _time(conn.created_at),
            "updated_at": _time(conn.updated_at)}
