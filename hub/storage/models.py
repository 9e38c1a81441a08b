"""Storage models (SQLAlchemy 2). Alembic migrations in ``hub/storage/migrations`` follow these.
Status columns hold the values of :mod:`hub.core.statuses`, and every assignment is checked
against its table of allowed moves."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from hub.core.ids import new_id
from hub.core.statuses import APPROVAL, DELIVERY, EVENT, ApprovalStatus, DeliveryStatus, EventStatus
from hub.core.times import utcnow


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}


class Workspace(Base):
    """A tenant: owns connections, routes and tokens."""

    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)   # a slug, e.g. "default"
    name: Mapped[str] = mapped_column(sa.String(100))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inbound_rate_limit: Mapped[str | None] = mapped_column(sa.String(64))   # all its connections together
    retention_days: Mapped[int] = mapped_column(default=30, server_default="30")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for the admin API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("tok"))
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    role: Mapped[str] = mapped_column(sa.String(16))                  # owner | admin | viewer
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(sa.String(100))    # the actor: token:<id>, cli, system
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Connection(Base):
    """One link to one external system: an inbound provider, an outbound channel, or both."""

    __tablename__ = "connections"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name", name="uq_connections_workspace_name"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("con"))
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    provider: Mapped[str | None] = mapped_column(sa.String(40))
    provider_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel: Mapped[str | None] = mapped_column(sa.String(40))
    channel_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Fernet token of {"current": {name: value}, "previous": {name: [{"value", "expires_at"}]}}.
    secrets_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    # The inbound key: its SHA-256 verifies requests; the Fernet copy lets an admin see the URL again.
    api_key_hash: Mapped[str | None] = mapped_column(sa.String(64))
    api_key_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    default_channel: Mapped[str | None] = mapped_column(sa.String(200))
    field_map: Mapped[dict[str, Any]] = mapped_column(default=dict)
    approval: Mapped[str] = mapped_column(sa.String(16), default="none")   # none | manual | policy | external
    approval_config: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")  # {"approver": con_…}
    # Inbound: where a callback's payload names the approval it decides (see hub.delivery.callbacks).
    correlation: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    # Inbound: what the sender gets back instead of the hub's JSON ({"status", "headers", "body"}).
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    # The hub's own source of lifecycle events in a workspace: not listed, not editable.
    system: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Inbound: the client networks (CIDRs) allowed to call the inbound URL; empty: anyone with the key.
    allowed_ips: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(sa.Text)
    flag: Mapped[str | None] = mapped_column(sa.Text)                   # a channel's warning for the admin
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(default=1)                     # bumped by every admin change (cache key)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Param(Base):
    """A workspace's named value that connection settings and secrets use as ``${param.NAME}``;
    encrypted at rest like secrets, its value never returned when it is secret."""

    __tablename__ = "params"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name", name="uq_params_workspace_name"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("prm"))
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    value_encrypted: Mapped[str] = mapped_column(sa.Text)
    secret: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Route(Base):
    """Match rules on a source connection's events → one or more target connections."""

    __tablename__ = "routes"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("rte"))
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    source_id: Mapped[str] = mapped_column(sa.ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    match: Mapped[list[Any]] = mapped_column(default=list)
    event_types: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")  # ["invoice.*"]; []: all
    targets: Mapped[list[Any]] = mapped_column(default=list)            # [{"connection": id, "template": …}]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Event(Base):
    """An accepted inbound request: its envelope and the raw body, byte for byte."""

    __tablename__ = "events"
    # Each index costs the inbound insert; these are the ones the queries use (migration 0007).
    __table_args__ = (
        sa.Index("ix_events_status_received", "status", "received_at"),     # the hand-off pump, the sweeper
        # Newest first per workspace or connection (the lists, the audit of exchanges, retention).
        sa.Index("ix_events_workspace_received", "workspace_id", "received_at"),
        sa.Index("ix_events_connection_received", "connection_id", "received_at"),
        # Exactly-once acceptance: the external id while inside its dedupe window, NULL after.
        sa.UniqueConstraint("connection_id", "dedupe_key", name="uq_events_connection_dedupe_key"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("evt"))
    workspace_id: Mapped[str] = mapped_column(sa.String(64))
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey("connections.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(sa.String(40))
    event_id: Mapped[str] = mapped_column(sa.String(255))               # the external id
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(255))      # = event_id during the window
    status: Mapped[str] = mapped_column(sa.String(16), default=EventStatus.ACCEPTED)
    envelope: Mapped[dict[str, Any]] = mapped_column()
    raw_body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    content_type: Mapped[str | None] = mapped_column(sa.String(255))
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    routed_at: Mapped[datetime | None] = mapped_column(default=None)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)   # claimed by a hand-off pump
    route_job: Mapped[str | None] = mapped_column(sa.String(120))       # the RQ job routing it (with others)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # The audit of exchanges (hub.core.digests), written with the row: no second write on the inbound path.
    headers_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    body_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    duration_ms: Mapped[float | None] = mapped_column(sa.Float)         # receipt to the insert (not its commit)
    erased_at: Mapped[datetime | None] = mapped_column(default=None)    # payload, body and headers removed

    @validates("status")
    def _check_status(self, _key: str, value: str) -> str:
        return EVENT.check(self.status, value)


class Delivery(Base):
    """One outbound message to one target connection."""

    __tablename__ = "deliveries"
    __table_args__ = (sa.Index("ix_deliveries_status_next", "status", "next_attempt_at"),
                      sa.Index("ix_deliveries_workspace_created", "workspace_id", "created_at"))   # retention

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("dlv"))
    workspace_id: Mapped[str] = mapped_column(sa.String(64))
    event_id: Mapped[str | None] = mapped_column(sa.ForeignKey("events.id", ondelete="CASCADE"), index=True)
    route_id: Mapped[str | None] = mapped_column(sa.ForeignKey("routes.id", ondelete="SET NULL"), index=True)
    connection_id: Mapped[str] = mapped_column(sa.ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    webhook_id: Mapped[str] = mapped_column(sa.String(64))              # stable across retries
    status: Mapped[str] = mapped_column(sa.String(20), default=DeliveryStatus.QUEUED)
    template: Mapped[Any | None] = mapped_column(JSONType, default=None)
    body: Mapped[Any | None] = mapped_column(JSONType, default=None)   # the rendered message
    attempt_count: Mapped[int] = mapped_column(default=0)
    cycle_start: Mapped[int] = mapped_column(default=0)                 # attempt_count at the last manual retry
    job_id: Mapped[str | None] = mapped_column(sa.String(120))          # the RQ job that holds it now
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    erased_at: Mapped[datetime | None] = mapped_column(default=None)    # body, template and excerpts removed
    # "message": a route's message; "approval_request": asks an external approver about ``approval_id``.
    purpose: Mapped[str] = mapped_column(sa.String(20), default="message", server_default="message")
    approval_id: Mapped[str | None] = mapped_column(sa.String(40), default=None)

    attempts: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="delivery", order_by="DeliveryAttempt.at", cascade="all, delete-orphan")

    @validates("status")
    def _check_status(self, _key: str, value: str) -> str:
        return DELIVERY.check(self.status, value)


class DeliveryAttempt(Base):
    """One HTTP try of a delivery."""

    __tablename__ = "delivery_attempts"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("att"))
    delivery_id: Mapped[str] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)   # the audit of exchanges, newest first
    outcome: Mapped[str] = mapped_column(sa.String(16))                 # delivered | retry | failed | blocked
    status_code: Mapped[int | None] = mapped_column()
    duration_ms: Mapped[float | None] = mapped_column(sa.Float)
    response_excerpt: Mapped[str | None] = mapped_column(sa.Text)       # at most 4 KiB
    error: Mapped[str | None] = mapped_column(sa.Text)
    # The request as the channel built it and the core signed it (hub.core.digests); None when
    # nothing was sent (a template or a channel that failed first).
    request_headers_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    request_body_sha256: Mapped[str | None] = mapped_column(sa.String(64))

    delivery: Mapped[Delivery] = relationship(back_populates="attempts")


class Approval(Base):
    """A delivery held for a decision."""

    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("apr"))
    workspace_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    delivery_id: Mapped[str] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=ApprovalStatus.PENDING)
    decided_by: Mapped[str | None] = mapped_column(sa.String(100))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)

    delivery: Mapped[Delivery] = relationship()

    @validates("status")
    def _check_status(self, _key: str, value: str) -> str:
        return APPROVAL.check(self.status, value)


class AuditRecord(Base):
    """Append-only record of every exchange and admin action."""

    __tablename__ = "audit_records"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("aud"))
    workspace_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(100))                  # token id, "system", "cli"
    action: Mapped[str] = mapped_column(sa.String(64))                  # e.g. connection.created
    object_type: Mapped[str | None] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    headers_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    body_sha256: Mapped[str | None] = mapped_column(sa.String(64))


class Failure(Base):
    """An inbound request the hub refused, with its cause (the "failed triggers" view)."""

    __tablename__ = "failures"
    __table_args__ = (sa.Index("ix_failures_workspace_at", "workspace_id", "at"),     # newest first, retention
                      sa.Index("ix_failures_connection_at", "connection_id", "at"))

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True, default=lambda: new_id("fai"))
    workspace_id: Mapped[str | None] = mapped_column(sa.String(64))
    connection_id: Mapped[str | None] = mapped_column(sa.String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    status: Mapped[int] = mapped_column()
    code: Mapped[str] = mapped_column(sa.String(40))
    message: Mapped[str] = mapped_column(sa.Text)
    method: Mapped[str | None] = mapped_column(sa.String(10))
    path: Mapped[str | None] = mapped_column(sa.String(500))
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    header_names: Mapped[list[Any]] = mapped_column(default=list)
    body_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    body_size: Mapped[int | None] = mapped_column()
    headers_sha256: Mapped[str | None] = mapped_column(sa.String(64))   # hub.core.digests
