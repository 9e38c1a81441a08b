"""Audit of exchanges and data lifecycle: the hashes of every inbound request and outbound attempt,
the inbound processing time, erasure marks, and indexes that keep the exchange view and the
retention purge bounded (newest first per workspace or connection)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('headers_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('duration_ms', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        # The composite indexes serve every query the single-column ones did (same leading column),
        # so the inbound insert maintains no more indexes than before.
        batch_op.drop_index(batch_op.f('ix_events_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_events_connection_id'))
        batch_op.create_index('ix_events_workspace_received', ['workspace_id', 'received_at'], unique=False)
        batch_op.create_index('ix_events_connection_received', ['connection_id', 'received_at'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index(batch_op.f('ix_deliveries_workspace_id'))
        batch_op.create_index('ix_deliveries_workspace_created', ['workspace_id', 'created_at'], unique=False)
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_headers_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('request_body_sha256', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_delivery_attempts_at'), ['at'], unique=False)
    with op.batch_alter_table('failures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('headers_sha256', sa.String(length=64), nullable=True))
        batch_op.drop_index(batch_op.f('ix_failures_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_failures_connection_id'))
        batch_op.create_index('ix_failures_workspace_at', ['workspace_id', 'at'], unique=False)
        batch_op.create_index('ix_failures_connection_at', ['connection_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('failures', schema=None) as batch_op:
        batch_op.drop_index('ix_failures_connection_at')
        batch_op.drop_index('ix_failures_workspace_at')
        batch_op.create_index(batch_op.f('ix_failures_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_failures_workspace_id'), ['workspace_id'], unique=False)
        batch_op.drop_column('headers_sha256')
    with op.batch_alter_table('delivery_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempts_at'))
        batch_op.drop_column('request_body_sha256')
        batch_op.drop_column('request_headers_sha256')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_workspace_created')
        batch_op.create_index(batch_op.f('ix_deliveries_workspace_id'), ['workspace_id'], unique=False)
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_connection_received')
        batch_op.drop_index('ix_events_workspace_received')
        batch_op.create_index(batch_op.f('ix_events_connection_id'), ['connection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_workspace_id'), ['workspace_id'], unique=False)
        batch_op.drop_column('erased_at')
        batch_op.drop_column('duration_ms')
        batch_op.drop_column('body_sha256')
        batch_op.drop_column('headers_sha256')
