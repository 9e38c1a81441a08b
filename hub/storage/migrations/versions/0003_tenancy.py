"""Tenancy: workspace settings (inbound rate limit, retention), token expiry and creator

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inbound_rate_limit', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), server_default='30', nullable=False))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    # The bootstrap token was an admin; it is an owner now (every workspace). Tokens created by
    # hand keep their role.
    op.execute("UPDATE api_tokens SET role = 'owner' WHERE name = 'bootstrap' AND role = 'admin'")


def downgrade() -> None:
    op.execute("UPDATE api_tokens SET role = 'admin' WHERE role = 'owner'")
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('created_by')
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('retention_days')
        batch_op.drop_column('inbound_rate_limit')
