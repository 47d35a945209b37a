"""Shared fixtures: real SQLite files (and a real PostgreSQL when OKRBOT_TEST_POSTGRES_URL is set),
a clock the test controls, and a ``chat`` helper that reads like the conversation it checks."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.messages import Message
from store.db import Database
from store.migrate import upgrade_async
from store.models import metadata

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The platforms' validators check what the fakes received from every other test: last."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_platform_validators.py"))


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


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """A database URL with nothing in it yet, not even the migrations: for migration tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'okrbot.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    url, drop = await _postgres_database()
    try:
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


# -- scenario helpers: a reply that must be accepted, one that must be refused -----------------


Rows = dict[str, list[tuple]]


async def snapshot(db: Database) -> Rows:
    """Every row of every table, so "nothing was written" can be checked exactly."""
    out: Rows = {}
    async with db.read() as session:
        connection = await session.connection()
        for table in metadata.sorted_tables:
            result = await connection.execute(select(table))
            out[table.name] = sorted((tuple(row) for row in result.all()), key=repr)
    return out


@pytest.fixture
def refused(chat, db):
    """``await refused("bob", "checkin KR-1 5", "Only the owner")``: an error reply, and nothing written."""

    async def check(user: str, text: str, *words: str, workspace: str = "acme") -> Message:
        before = await snapshot(db)
        reply = await chat(user, text, workspace=workspace)
        assert reply.is_error, f"{text!r} was accepted: {reply.text}"
        for word in words:
            assert word in reply.text, reply.text
        assert "\n" not in reply.text.strip(), "an error is one sentence"
        assert await snapshot(db) == before, f"{text!r} wrote to the database"
        return reply

    return check


@pytest.fixture
def ok(chat):
    """``await ok("alice", "team list")``: a reply that is not an error."""

    async def check(user: str, text: str, *words: str, workspace: str = "acme") -> Message:
        reply = await chat(user, text, workspace=workspace)
        assert not reply.is_error, f"{text!r} was refused: {reply.text}"
        for word in words:
            assert word in reply.text, reply.text
        return reply

    return check


@pytest.fixture
async def okr(ok):
    """alice (the admin) leads team growth and owns O-1 with KR-1 (0 → 100 teams)."""
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", 'objective add "Grow revenue" --team growth')
    await ok("alice", 'kr add O-1 "Active teams" --target 100 --unit teams')


def okrbot_cli(db_url: str, *words: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
    """``okrbot <words>`` in a process of its own, on ``db_url``, with none of this machine's
    platform settings: blocking, so ``await asyncio.to_thread(okrbot_cli, ...)`` from a test."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OKRBOT_", "SLACK_", "MICROSOFT_"))}
    environment |= {"OKRBOT_DATABASE_URL": db_url, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **env}
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *words], env=environment, capture_output=True, text=True, timeout=timeout
    )
