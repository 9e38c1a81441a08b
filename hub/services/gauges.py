"""What a Prometheus scrape reads from the database at the moment it asks, hub-wide: approvals
waiting for a decision and inactive connections (deactivated by an admin or disabled by the hub).
Two indexed counts: no sample is kept between scrapes."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.core.statuses import ApprovalStatus
from hub.storage.models import Approval, Connection


@dataclass(frozen=True)
class Gauges:
    approvals_pending: int
    connections_inactive: int


def read_gauges(session: Session) -> Gauges:
    pending = session.scalar(sa.select(sa.func.count()).select_from(Approval)
                             .where(Approval.status == ApprovalStatus.PENDING)) or 0
    inactive = session.scalar(sa.select(sa.func.count()).select_from(Connection)
                              .where(Connection.active.is_(False), Connection.system.is_(False))) or 0
    return Gauges(pending, inactive)
