"""Retention: what is older than its workspace's ``retention_days`` is deleted — events, deliveries,
their attempts and approvals, and refused requests — by the housekeeping, workspace by workspace.

Work in progress is never deleted, whatever its age: an event not yet routed (``accepted``), a
delivery still ``queued``, ``sending`` or ``pending_approval``, and the event of any delivery that
is left. Refused requests to unknown connections belong to no workspace and are kept 30 days. The
audit trail (``audit_records``) is the append-only record and is never purged.

Each transaction deletes at most ``batch_size`` rows of one table, children first (attempts and
approvals, then deliveries, then events), so SQLite's single writer is never held for long and no
cascade hides a bigger delete; each workspace gets at most ``max_batches`` transactions per pass
and the next pass goes on where this one stopped — at the next sweep, when this one left a
backlog (:data:`~hub.worker.sweeper.RETENTION_BACKLOG_KEY`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.statuses import DeliveryStatus, EventStatus
from hub.core.times import utcnow
from hub.storage.models import Approval, Delivery, DeliveryAttempt, Event, Failure, Workspace

BATCH = 500
MAX_BATCHES = 40                     # per workspace and pass: 20,000 rows every HOUSEKEEPING_INTERVAL
UNOWNED_FAILURE_RETENTION = timedelta(days=30)
#: Deliveries that are still work: never purged.
UNFINISHED = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.PENDING_APPROVAL)


@dataclass
class PurgeReport:
    """What one pass deleted: rows per table, and the rows of each transaction (in order)."""

    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("delivery_attempts", "approvals", "deliveries", "events", "failures"), 0))
    batches: list[int] = field(default_factory=list)
    #: Workspaces whose backlog was bigger than one pass: the next pass goes on.
    unfinished: list[str] = field(default_factory=list)

    def total(self) -> int:
        return sum(self.deleted.values())


def purge_expired(session: Session, *, now: datetime | None = None, batch_size: int = BATCH,
                  max_batches: int = MAX_BATCHES) -> PurgeReport:
    """One retention pass over every workspace (see the module); commits after each batch."""
    now = now or utcnow()
    report = PurgeReport()
    workspaces = session.execute(sa.select(Workspace.id, Workspace.retention_days).order_by(Workspace.id)).all()
    session.commit()
    for workspace_id, days in workspaces:
        cutoff = now - timedelta(days=int(days))
        budget = _Budget(session, report, batch_size, max_batches)
        for table, statement in _statements(workspace_id, cutoff):
            if not budget.drain(table, statement):
                report.unfinished.append(workspace_id)
                break
    unowned = sa.select(Failure.id).where(Failure.workspace_id.is_(None), Failure.at < now - UNOWNED_FAILURE_RETENTION)
    if not _Budget(session, report, batch_size, max_batches).drain("failures", lambda n: _delete(Failure, unowned, n)):
        report.unfinished.append("(no workspace)")
    return report


class _Budget:
    """Runs one workspace's batches, each in its own transaction, up to ``max_batches``."""

    def __init__(self, session: Session, report: PurgeReport, batch_size: int, max_batches: int) -> None:
        self.session, self.report, self.size, self.left = session, report, batch_size, max_batches

    def drain(self, table: str, statement: Callable[[int], sa.Delete]) -> bool:
        """Delete ``table``'s expired rows batch by batch; False when the budget ran out first."""
        while self.left > 0:
            self.left -= 1
            deleted = self.session.execute(statement(self.size)).rowcount or 0
            self.session.commit()
            if deleted:
                self.report.deleted[table] += deleted
                self.report.batches.append(deleted)
            if deleted < self.size:
                return True
        return False


def _delete(model: type, ids: sa.Select, limit: int) -> sa.Delete:
    """``DELETE … WHERE id IN (the first ``limit`` ids)``: portable, and bounded by the LIMIT."""
    return (sa.delete(model).where(model.id.in_(ids.limit(limit).scalar_subquery()))
            .execution_options(synchronize_session=False))


def _statements(workspace_id: str, cutoff: datetime) -> list[tuple[str, Callable[[int], sa.Delete]]]:
    """The deletes of one workspace, children before parents."""
    finished = sa.and_(Delivery.workspace_id == workspace_id, Delivery.created_at < cutoff,
                       Delivery.status.not_in(UNFINISHED))
    attempts = sa.select(DeliveryAttempt.id).join(Delivery, Delivery.id == DeliveryAttempt.delivery_id).where(finished)
    approvals = sa.select(Approval.id).join(Delivery, Delivery.id == Approval.delivery_id).where(finished)
    deliveries = sa.select(Delivery.id).where(finished)
    # An event goes once routed (or failed) and without deliveries left: a replay's new delivery,
    # or one still being sent, keeps its event.
    events = sa.select(Event.id).where(
        Event.workspace_id == workspace_id, Event.received_at < cutoff, Event.status != EventStatus.ACCEPTED,
        ~sa.exists().where(Delivery.event_id == Event.id))
    failures = sa.select(Failure.id).where(Failure.workspace_id == workspace_id, Failure.at < cutoff)
    return [("delivery_attempts", lambda n: _delete(DeliveryAttempt, attempts, n)),
            ("approvals", lambda n: _delete(Approval, approvals, n)),
            ("deliveries", lambda n: _delete(Delivery, deliveries, n)),
            ("events", lambda n: _delete(Event, events, n)),
            ("failures", lambda n: _delete(Failure, failures, n))]
