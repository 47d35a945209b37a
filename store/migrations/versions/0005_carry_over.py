"""objectives and key results remember what they were carried over from

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("objective", "key_result")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("carried_from_id", sa.Integer(), nullable=True))
            batch_op.create_index(f"ix_{table}_carried_from_id", ["carried_from_id"], unique=False)
            batch_op.create_foreign_key(f"fk_{table}_carried_from_id", table, ["carried_from_id"], ["id"])


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_carried_from_id", type_="foreignkey")
            batch_op.drop_index(f"ix_{table}_carried_from_id")
            batch_op.drop_column("carried_from_id")
