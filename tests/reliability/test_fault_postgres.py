"""PostgreSQL connections cut (``pg_terminate_backend``) and `okrbot serve` killed and restarted,
both during traffic: every request answered in time with a result or okrbot's "try again"
sentence (never a hang, never a 5xx), service back by itself, no acknowledged check-in lost."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import asyncpg
import pytest
from conftest import POSTGRES_URL, _postgres_database
from harness import Serve, webchat, webchat_env, with_password
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.core import INTERNAL_ERROR
from store.db import Database
from store.migrate import upgrade_async

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="OKRBOT_TEST_POSTGRES_URL is not set")
USERS = 5
ANSWER_WITHIN = 15.0


async def cut(database: str) -> int:
    assert POSTGRES_URL is not None
    admin = make_url(POSTGRES_URL.replace("postgres://", "postgresql://", 1)).set(drivername="postgresql")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return len(rows)


async def test_connections_cut_and_a_restart_during_traffic(tmp_path) -> None:
    url, drop = await _postgres_database()
    await upgrade_async(url)
    database = make_url(url).database
    assert database is not None
    serve = await Serve(webchat_env(with_password(url)), tmp_path).start()
    acknowledged: list[int] = []
    outcomes = {"ok": 0, "try again": 0, "refused while restarting": 0}
    try:
        async with aiohttp.ClientSession() as http:
            for line in ['team add growth "Growth"', 'objective add "Grow" --team growth',
                         'kr add O-1 "Users" --target 100000']:  # fmt: skip
                assert not (await webchat(http, serve.base, "alice", line))["error"]
            counter = iter(range(1, 100_000))
            stop = asyncio.Event()

            async def traffic() -> None:
                for _ in range(10_000):  # bounded in count, and by ``stop``
                    if stop.is_set():
                        return
                    value = next(counter)
                    started = time.monotonic()
                    try:
                        reply = await webchat(http, serve.base, "alice", f"checkin KR-1 {value}", seconds=ANSWER_WITHIN)
                    except aiohttp.ClientConnectionError:
                        outcomes["refused while restarting"] += 1  # no server at all for a moment: the client retries
                        await asyncio.sleep(0.1)
                        continue
                    assert time.monotonic() - started < ANSWER_WITHIN
                    assert reply["status"] == 200, reply
                    if reply["error"]:
                        assert reply["text"] == INTERNAL_ERROR, reply  # "… please try again in a moment."
                        outcomes["try again"] += 1
                    else:
                        acknowledged.append(value)
                        outcomes["ok"] += 1

            async def faults() -> None:
                for _ in range(3):
                    await asyncio.sleep(1.5)
                    assert await cut(database) > 0
                await asyncio.sleep(1.5)
                await serve.kill()
                await serve.start()
                await asyncio.sleep(2)
                stop.set()

            await asyncio.gather(faults(), *(traffic() for _ in range(USERS)))
            # and afterwards, by itself: every request answered
            for i in range(10):
                reply = await webchat(http, serve.base, "alice", f"checkin KR-1 {200_000 + i}")
                assert not reply["error"], reply
                acknowledged.append(200_000 + i)
        db = Database(url)
        try:
            async with db.read() as session:
                stored = {int(v[0]) for v in (await session.exec(text("SELECT value FROM check_in"))).all()}  # type: ignore[call-overload]
        finally:
            await db.dispose()
    finally:
        await serve.stop()
        await drop()
    assert set(acknowledged) <= stored, "an acknowledged check-in is missing"
    assert outcomes["ok"] > 50
    print(f"PostgreSQL cut 3 times and serve killed once during traffic: {outcomes}; {len(acknowledged)} kept")
