"""A fresh PostgreSQL database for one benchmark, on the server the tests use."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.engine import make_url


async def fresh_database(admin_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """A new, empty database on ``admin_url``'s server: its URL, and how to drop it."""
    import asyncpg

    admin = make_url(admin_url.replace("postgres://", "postgresql://", 1))
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"okrbot_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    return admin.set(database=name).render_as_string(hide_password=False), drop
