"""Bring a database up to date with the migrations shipped in ``store/migrations``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from store.db import prepare_sqlite_file
from store.secrets import SecretBox

MIGRATIONS = Path(__file__).with_name("migrations")
SECRET_BOX = "secret_box"  # the config attribute a migration finds the SecretBox under


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest migration shipped: what every database is at after an upgrade."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def upgrade(url: str, revision: str = "head", *, secret_key: SecretBox | None = None) -> None:
    """Run the migrations; blocking, so call it before the event loop starts or in a thread.
    ``secret_key``: what seals the secrets stored before encryption (migration 0007); without it
    they stay as they are until a start with OKRBOT_SECRET_KEY seals them."""
    prepare_sqlite_file(url)  # `okrbot db upgrade` runs before any Database has made the folder
    config = alembic_config(url)
    config.attributes[SECRET_BOX] = secret_key
    command.upgrade(config, revision)


async def upgrade_async(url: str, *, secret_key: SecretBox | None = None) -> None:
    await asyncio.to_thread(upgrade, url, secret_key=secret_key)
