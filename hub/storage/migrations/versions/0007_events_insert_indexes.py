"""The events table keeps the indexes its queries use: (connection, event_id) goes

No query looks events up by (connection, external id): duplicates are decided by the unique
(connection_id, dedupe_key) index, and every list, the console, retention, the hand-off pump and
the sweeper are served by (workspace_id, received_at), (connection_id, received_at) and
(status, received_at). The index cost the inbound insert more than any other — its keys are random,
so each new event wrote a page of its own — and served nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

"""
from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_events_connection_event_id', table_name='events')


def downgrade() -> None:
    op.create_index('ix_events_connection_event_id', 'events', ['connection_id', 'event_id'], unique=False)
