"""API tokens, the answers kept for Idempotency-Key retries, and a check-in source long enough
for ``api:<token name>``

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STRING = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", _STRING(length=32), nullable=False),
        sa.Column("digest", _STRING(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("last_used_at", _TIME(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["member.id"], name=op.f("fk_api_token_created_by_id_member")),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], name=op.f("fk_api_token_workspace_id_workspace")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_token_digest")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_api_token_workspace_id_name")),
    )
    op.create_index(op.f("ix_api_token_workspace_id"), "api_token", ["workspace_id"], unique=False)
    op.create_table(
        "api_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", _STRING(length=255), nullable=False),
        sa.Column("fingerprint", _STRING(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["api_token.id"], name=op.f("fk_api_answer_token_id_api_token")),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"], name=op.f("fk_api_answer_workspace_id_workspace")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_answer")),
        sa.UniqueConstraint("token_id", "key", name=op.f("uq_api_answer_token_id_key")),
    )
    op.create_index(op.f("ix_api_answer_created_at"), "api_answer", ["created_at"], unique=False)
    op.create_index(op.f("ix_api_answer_workspace_id"), "api_answer", ["workspace_id"], unique=False)
    with op.batch_alter_table("check_in", schema=None) as batch_op:
        batch_op.alter_column(
            "source", existing_type=sa.VARCHAR(length=16), type_=_STRING(length=40), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("check_in", schema=None) as batch_op:
        batch_op.alter_column(
            "source", existing_type=_STRING(length=40), type_=sa.VARCHAR(length=16), existing_nullable=False
        )
    op.drop_table("api_answer")
    op.drop_table("api_token")
