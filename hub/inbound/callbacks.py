"""Correlated callbacks: an inbound connection with ``correlation`` decides the approval whose id
its request carries at ``path``, with the decision at ``decision_path`` (approve / reject / pending,
in the words an external approver uses). Checked before the event is stored — a request naming
nothing is refused, and recorded as a failure — and decided after it is: the decision is taken by
``connection:<id>``, and an approved delivery goes out at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from hub.core.errors import Conflict, HookhubError, NotFound
from hub.core.paths import MISSING, compile_path
from hub.core.statuses import ApprovalStatus, DeliveryStatus
from hub.core.times import utcnow
from hub.delivery.approval import decide
from hub.delivery.approvers import APPROVE, PENDING, REJECT
from hub.delivery.dispatch import dispatch_now
from hub.storage.db import get_database
from hub.storage.models import Approval


class CorrelationMissing(HookhubError):
    """The request does not say which approval it decides, or what the decision is."""

    code = "correlation_missing"
    status = 400


class CorrelationUnmatched(NotFound):
    """The request names an approval this workspace does not have."""

    code = "correlation_unmatched"


@dataclass(frozen=True)
class Callback:
    """What a callback request asks: decide ``approval_id`` (None: leave it pending)."""

    approval_id: str
    approve: bool | None
    reason: str | None


def read(correlation: dict[str, Any], workspace: str, envelope: dict[str, Any], app: Flask) -> Callback:
    """The callback a request makes (its paths are read in the event's envelope, like a route's
    rules: ``payload.approval_id``), checked against the stored approvals (400, 404, 409)."""
    found = _at(envelope, correlation["path"])
    if not isinstance(found, (str, int)) or isinstance(found, bool) or not str(found):
        raise CorrelationMissing(f"the request carries no approval id at {correlation['path']!r}")
    decision = _at(envelope, correlation["decision_path"])
    word = str(decision).strip().lower() if isinstance(decision, (str, bool)) and decision != "" else ""
    if isinstance(decision, bool):
        word = "true" if decision else "false"
    if word not in APPROVE | REJECT | PENDING:
        raise CorrelationMissing(f"the request carries no decision at {correlation['decision_path']!r} "
                                 "(approve, reject or pending)")
    reason = _at(envelope, correlation["reason_path"]) if correlation.get("reason_path") else None
    approval_id = str(found)
    with get_database(app).session() as session:
        approval = session.get(Approval, approval_id)
        if approval is None or approval.workspace_id != workspace:
            raise CorrelationUnmatched(f"no approval {approval_id!r} is waiting for this callback")
        expired = approval.expires_at is not None and approval.expires_at <= utcnow()
        if approval.status != ApprovalStatus.PENDING or expired:
            state = "expired" if expired else approval.status
            raise Conflict(f"the approval {approval_id!r} is already {state}")
    return Callback(approval_id, None if word in PENDING else word in APPROVE,
                    str(reason)[:500] if isinstance(reason, (str, int, float)) and reason != "" else None)


def apply(callback: Callback, connection_id: str, app: Flask) -> None:
    """Decide the approval as ``connection:<id>`` (after the event is stored); an approved delivery
    is dispatched at once. A decision that lost a race to another decider changes nothing."""
    if callback.approve is None:
        return
    with get_database(app).session() as session:
        approval = session.get(Approval, callback.approval_id)
        try:
            held = decide(session, approval, callback.approve, f"connection:{connection_id}", callback.reason)
        except Conflict:
            return
        if held.status == DeliveryStatus.QUEUED:
            dispatch_now(app, session, [held])


def _at(envelope: Any, path: str) -> Any:
    value = compile_path(path)(envelope)
    return None if value is MISSING else value
