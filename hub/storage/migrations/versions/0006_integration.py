"""Integration semantics: route event types, external approvals and correlated callbacks,
replies to senders, the lifecycle source, approval requests as deliveries

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_config', JSON, server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('correlation', JSON, nullable=True))
        batch_op.add_column(sa.Column('reply', JSON, nullable=True))
        batch_op.add_column(sa.Column('system', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_types', JSON, server_default='[]', nullable=False))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=20), server_default='message', nullable=False))
        batch_op.add_column(sa.Column('approval_id', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('approval_id')
        batch_op.drop_column('purpose')
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.drop_column('event_types')
    with op.batch_alter_table('connections', schema=None) as batch_op:
        batch_op.drop_column('system')
        batch_op.drop_column('reply')
        batch_op.drop_column('correlation')
        batch_op.drop_column('approval_config')
