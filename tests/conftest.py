"""Shared fixtures: real SQLite files (and a real PostgreSQL when OKRBOT_TEST_POSTGRES_URL is set),
a clock the test controls, and a ``chat`` helper that reads like the conversation it checks."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlalchemy.engine import make_url

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.messages import Message
from store.db import Database
from store.migrate import upgrade_async

POSTGRES_URL = os.environ.get("OKRBOT_TEST_POSTGRES_URL")
NO_POSTGRES = "OKRBOT_TEST_POSTGRES_URL is not set (point it at a PostgreSQL to run these tests there too)"


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC))  # a Friday in 2026-Q4


async def _postgres_database() -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh, empty database on the test server, and how to drop it."""
    import asyncpg

    assert POSTGRES_URL is not None
    admin_url = make_url(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    name = f"okrbot_{uuid.uuid4().hex[:12]}"
    dsn = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
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

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """A migrated database URL: a SQLite file, then (when configured) a new PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'okrbot.db'}"
        await upgrade_async(url)
        yield url
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    url, drop = await _postgres_database()
    try:
        await upgrade_async(url)
        yield url
    finally:
        await drop()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def bot(db: Database, clock: Clock) -> Bot:
    return Bot(db, clock=clock)


Chat = Callable[..., Awaitable[Message]]


def command(user: str, text: str, *, workspace: str = "acme", platform: str = "local", **mentions: str) -> Command:
    return Command(
        workspace=WorkspaceRef(platform, workspace, workspace),  # type: ignore[arg-type]
        actor=Actor(user, user.title()),
        text=text,
        channel="test",
        source="test",
        mentions=mentions,
    )


@pytest.fixture
def chat(bot: Bot) -> Chat:
    """``await chat("alice", "checkin KR-1 40")``: the reply as a Message (``.text`` is plain text)."""

    async def say(user: str, text: str, *, workspace: str = "acme") -> Message:
        return await bot.handle(command(user, text, workspace=workspace))

    return say
