"""Scale-out: three `okrbot serve` processes on one PostgreSQL and a loopback fake Slack API.

A check-in schedule that fell due 30 minutes ago is caught up by all three instances at start;
the unique outbox rows make one prompt per owner, the three dispatchers share the sending, and
the fake counts exactly one direct message per owner.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import POSTGRES_URL, _postgres_database
from fakes.slack_api import TOKEN, FakeSlack
from sqlmodel import select
from test_serve import free_port

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from store.db import Database
from store.migrate import upgrade_async
from store.models import Delivery

OWNERS = 40
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    if not POSTGRES_URL:
        pytest.skip("OKRBOT_TEST_POSTGRES_URL is not set")
    url, drop = await _postgres_database()
    try:
        await upgrade_async(url)
        yield url
    finally:
        await drop()


async def seed(url: str) -> None:
    db = Database(url)
    bot = Bot(db)

    async def say(user: str, text: str) -> None:
        reply = await bot.handle(Command(WorkspaceRef("slack", "T1", "Acme"), Actor(user, user), text, "C1", "slack"))
        assert not reply.is_error, reply.text

    await say("ULEAD", 'team add growth "Growth"')
    await say("ULEAD", 'objective add "Grow" --team growth')
    for i in range(OWNERS):
        await say("ULEAD", f'kr add O-1 "Result {i}" --target 100 --owner <@U{i:03d}>')
    due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    await say("ULEAD", f"schedule checkin team growth {due.strftime('%a').lower()} {due:%H:%M} UTC --remind-after 0")
    await db.dispose()


async def test_three_instances_send_each_prompt_exactly_once(pg_url: str) -> None:
    await seed(pg_url)
    fake = await FakeSlack().start()
    processes = []
    try:
        for _ in range(3):
            env = {**os.environ, "OKRBOT_DATABASE_URL": pg_url, "OKRBOT_PORT": str(free_port()),
                   "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "test-signing-secret",
                   "OKRBOT_SLACK_API_URL": fake.api_url, "OKRBOT_LOG_LEVEL": "WARNING"}  # fmt: skip
            env.pop("SLACK_APP_TOKEN", None)
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "adapters.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    env=env,
                    cwd=ROOT,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
            )
        await fake.wait_for("chat.postMessage", OWNERS, seconds=60)
        await asyncio.sleep(3)  # a little longer: would any instance send a second one?
        per_owner = Counter(call.args["channel"] for call in fake.of("chat.postMessage"))
        assert len(per_owner) == OWNERS and set(per_owner.values()) == {1}, per_owner
        assert all(call.token == TOKEN for call in fake.of("chat.postMessage"))
        db = Database(pg_url)
        async with db.read() as session:
            rows = (await session.exec(select(Delivery))).all()
        await db.dispose()
        assert Counter(r.status for r in rows) == {"sent": OWNERS}
        assert {r.attempts for r in rows} == {1}
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
        await fake.close()
    errors = [(await p.stderr.read()).decode()[-2000:] for p in processes if p.stderr is not None]
    assert all(p.returncode == 0 for p in processes), errors
