"""check-in remembers what it replaced, so it can be undone

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("check_in", sa.Column("previous_value", sa.Float(), nullable=True))
    op.add_column("check_in", sa.Column("previous_confidence", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_in", schema=None) as batch_op:
        batch_op.drop_column("previous_confidence")
        batch_op.drop_column("previous_value")
