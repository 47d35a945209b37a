"""Slack installations' tokens kept encrypted: the four token columns become text long enough for
a Fernet token, and the tokens already stored are sealed with OKRBOT_SECRET_KEY when the upgrade
is given it (store/secrets.py); otherwise the first start with the key seals them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TOKENS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")


def upgrade() -> None:
    with op.batch_alter_table("slack_installation", schema=None) as batch_op:
        for name in _TOKENS:
            batch_op.alter_column(name, existing_type=sa.VARCHAR(length=255), type_=sa.Text(), existing_nullable=True)
    box = op.get_context().config.attributes.get("secret_box")  # type: ignore[union-attr]
    if box is None:
        return
    connection = op.get_bind()
    table = sa.table("slack_installation", sa.column("id"), *(sa.column(name) for name in _TOKENS))
    for row in connection.execute(sa.select(table)).mappings().all():
        sealed = {name: row[name] if _is_sealed(row[name]) else box.seal(row[name]) for name in _TOKENS}
        connection.execute(sa.update(table).where(table.c.id == row["id"]).values(**sealed))


def _is_sealed(value: str | None) -> bool:
    return value is None or value.startswith("fernet:")


def downgrade() -> None:
    # Sealed tokens stay sealed (they may be longer than 255 characters): downgrade only a
    # database whose installations were removed, or restore its backup.
    with op.batch_alter_table("slack_installation", schema=None) as batch_op:
        for name in _TOKENS:
            batch_op.alter_column(name, existing_type=sa.Text(), type_=sa.VARCHAR(length=255), existing_nullable=True)
