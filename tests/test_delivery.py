"""The outbox and its dispatchers on real SQLite and PostgreSQL: a restart mid fan-out loses
nothing, a 429 storm ends with every message sent once, errors end in `failed` with the reason,
three dispatchers on one database send each message once, and `okrbot send` is idempotent."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import pytest
from sqlmodel import select
from test_scheduler import Recorder, organisation, say

from adapters.cli import main
from bot.command import WorkspaceRef
from bot.core import Bot
from bot.messages import Message, Text
from bot.outbound import DeliveryError
from bot.outbox import Envelope, Outgoing, enqueue
from scheduler.dispatch import Dispatcher
from scheduler.pacing import Limit, Pacer, PlatformLimits
from store.db import Database
from store.models import Delivery, Workspace


class Flaky(Recorder):
    """Fails the first ``failures`` sends with the given error, then records."""

    def __init__(self, failures: int, error: DeliveryError) -> None:
        super().__init__()
        self.failures, self.error, self.calls = failures, error, 0

    async def send_direct(self, workspace: WorkspaceRef, member_id: str, message: Message) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        await super().send_direct(workspace, member_id, message)


async def queue(db: Database, bot: Bot, count: int, clock) -> int:  # type: ignore[no-untyped-def]
    await say(bot, "alice", "team list")
    async with db.write() as session:
        workspace = (await session.exec(select(Workspace))).one()
        rows = [Outgoing("prompt", f"U{i:05d}", "2026-W47", Envelope("direct", f"U{i:05d}", Message.of(Text(("hi",)))))
                for i in range(count)]  # fmt: skip
        assert await enqueue(session, workspace.id, rows, clock()) == count  # type: ignore[arg-type]
        assert await enqueue(session, workspace.id, rows, clock()) == 0  # a second run creates nothing
    return workspace.id  # type: ignore[return-value]


async def statuses(db: Database) -> Counter[str]:
    async with db.read() as session:
        return Counter(d.status for d in (await session.exec(select(Delivery))).all())


def controlled(db: Database, outbound, clock, **options) -> Dispatcher:  # type: ignore[no-untyped-def]
    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    pacer = Pacer(options.pop("limits", {}), monotonic=lambda: clock.now.timestamp())
    return Dispatcher(db, {"local": outbound}, clock=clock, pacer=pacer, sleep=sleep, **options)


async def test_a_restart_mid_fan_out_loses_nothing(db: Database, bot: Bot, clock) -> None:
    await queue(db, bot, 25, clock)
    recorder = Recorder()
    crashed = controlled(db, recorder, clock, batch=10)
    claimed = await crashed.claim()  # the process dies holding ten claims, having sent one of them
    await recorder.send_direct(claimed[0].workspace, "U00000", Message.of(Text(("hi",))))
    survivor = controlled(db, recorder, clock, batch=10)
    assert (await survivor.drain()).sent == 15  # the others are sent at once; the dead claims wait
    clock.advance(seconds=crashed.lease + 1)  # the lease lapses: the dead instance's rows are taken again
    assert (await survivor.drain()).sent == 10
    counts = Counter(to for _, to, _ in recorder.sent)
    # one duplicate, for the one dispatcher that died: the message it sent before its claim lapsed
    assert counts == Counter(f"U{i:05d}" for i in range(25)) + Counter({"U00000": 1})
    assert await statuses(db) == {"sent": 25}


async def test_a_429_storm_ends_with_every_message_sent_once(db: Database, bot: Bot, clock) -> None:
    await queue(db, bot, 20, clock)
    storm = Flaky(30, DeliveryError("Slack answered ratelimited", retry_after=30))
    dispatcher = controlled(db, storm, clock, limits={"local": PlatformLimits(None, Limit(5, 5))}, max_attempts=8)
    for _ in range(60):  # bounded: a simulated half hour
        await dispatcher.drain()
        if (await statuses(db)) == {"sent": 20}:
            break
        clock.advance(seconds=31)
    assert await statuses(db) == {"sent": 20}
    assert Counter(to for _, to, _ in storm.sent).most_common(1)[0][1] == 1 and len(storm.sent) == 20
    assert storm.calls == 50  # thirty 429s, each retried after its Retry-After: none dropped, none doubled


async def test_retry_after_and_backoff_set_the_next_attempt(db: Database, bot: Bot, clock) -> None:
    dispatcher = controlled(db, Recorder(), clock, base_delay=30)
    dispatcher.rng = lambda: 0.5
    assert dispatcher.backoff(1, None) == 30 and dispatcher.backoff(3, None) == 120
    assert dispatcher.backoff(9, 17.0) == pytest.approx(17.0 * 1.05)
    assert dispatcher.backoff(40, None) == dispatcher.max_delay


async def test_a_platform_error_ends_in_failed_with_the_reason(db: Database, bot: Bot, clock) -> None:
    await queue(db, bot, 2, clock)
    broken = Flaky(10**6, DeliveryError("Slack answered fatal_error"))
    dispatcher = controlled(db, broken, clock, max_attempts=3)
    for _ in range(10):  # bounded
        await dispatcher.drain()
        clock.advance(hours=2)
    assert broken.calls == 6 and await statuses(db) == {"failed": 2}
    async with db.read() as session:
        row = (await session.exec(select(Delivery))).first()
    assert row is not None and row.attempts == 3
    assert row.last_error == "Slack answered fatal_error (gave up after 3 attempts)"


async def test_a_permanent_error_fails_at_once(db: Database, bot: Bot, clock) -> None:
    await queue(db, bot, 1, clock)
    gone = Flaky(1, DeliveryError("Slack answered user_not_found", permanent=True))
    await controlled(db, gone, clock).drain()
    assert gone.calls == 1 and await statuses(db) == {"failed": 1}


async def test_three_dispatchers_on_one_database_send_each_message_once(db: Database, bot: Bot, clock) -> None:
    await queue(db, bot, 300, clock)
    recorder = Recorder()
    dispatchers = [Dispatcher(Database(db.url.replace("+aiosqlite", "").replace("+asyncpg", "")), {"local": recorder},
                              clock=clock, batch=7) for _ in range(3)]  # fmt: skip
    try:
        results = await asyncio.gather(*(d.drain(workers=2) for d in dispatchers))
    finally:
        for d in dispatchers:
            await d.db.dispose()
    assert sum(r.sent for r in results) == 300
    if not db.is_sqlite:  # SQLite has one writer at a time: one dispatcher may well take it all
        assert all(r.sent > 0 for r in results)  # they shared the work
    assert Counter(Counter(to for _, to, _ in recorder.sent).values()) == {1: 300}


async def test_okrbot_send_is_idempotent_and_deliveries_lists_them(db_url: str, capsys, clock) -> None:
    db = Database(db_url)
    bot = Bot(db, clock=lambda: dt.datetime.now(dt.UTC))
    await organisation(bot)
    await db.dispose()
    argv = ["--database-url", db_url]
    assert await asyncio.to_thread(main, [*argv, "send", "prompts", "--team", "growth", "--workspace", "acme"]) == 0
    assert "Queued 3 prompts; sent 0, failed 0, 3 waiting" in capsys.readouterr().out  # nothing sends to "local"
    assert await asyncio.to_thread(main, [*argv, "send", "prompts"]) == 0
    assert "Queued 0 prompts" in capsys.readouterr().out
    assert await asyncio.to_thread(main, [*argv, "deliveries"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == 3 and all("pending" in line and "prompt" in line for line in listing)
    assert await asyncio.to_thread(main, [*argv, "deliveries", "--status", "failed"]) == 0
    assert "No deliveries." in capsys.readouterr().out


def test_slack_pacing_is_one_message_a_second_per_channel() -> None:
    now = [0.0]
    pacer = Pacer(monotonic=lambda: now[0])  # the documented defaults
    assert pacer.reserve("slack", "T1", "C1", max_wait=5) == 0
    assert pacer.reserve("slack", "T1", "C1", max_wait=5) == pytest.approx(1.0)
    assert pacer.reserve("slack", "T1", "C2", max_wait=5) == 0  # another channel: at once
    assert pacer.reserve("slack", "T1", "C1", max_wait=1.5) == pytest.approx(2.0)  # too long: not reserved
    now[0] = 2.0  # the second message to C1 went at 1.0
    assert pacer.reserve("slack", "T1", "C1", max_wait=5) == 0
    pacer.block("slack", "T1", 30)  # Retry-After: 30
    assert pacer.reserve("slack", "T1", "C9", max_wait=60) == pytest.approx(30)


async def test_one_workspace_s_fan_out_does_not_hold_back_another(db: Database, bot: Bot, clock) -> None:
    await queue(db, bot, 40, clock)  # workspace acme: forty prompts queued first
    await say(bot, "alice", "team list")
    async with db.write() as session:
        other = Workspace(platform="local", external_id="other", name="Other")
        session.add(other)
        await session.flush()
        rows = [Outgoing("prompt", f"V{i}", "2026-W47", Envelope("direct", f"V{i}", Message.of(Text(("hi",)))))
                for i in range(3)]  # fmt: skip
        await enqueue(session, other.id, rows, clock())  # type: ignore[arg-type]
    recorder = Recorder()
    dispatcher = controlled(db, recorder, clock, batch=8, limits={"local": PlatformLimits(None, Limit(1, 1))})
    await dispatcher.run_once()
    await dispatcher.run_once()
    assert {to for _, to, _ in recorder.sent} >= {"V0", "V1", "V2"}  # in the first two batches, not after forty


async def test_an_idle_round_takes_no_write_lock(tmp_path, clock) -> None:
    """Four dispatchers poll every second: with nothing due they must not queue behind (or hold up)
    the check-ins' writes. Another connection holds SQLite's write lock; the round still answers."""
    import sqlite3

    from store.migrate import upgrade_async

    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    await upgrade_async(url)
    db = Database(url)
    holder = sqlite3.connect(tmp_path / "okrbot.db", isolation_level=None)
    try:
        await say(Bot(db, clock=clock), "alice", "team list")
        holder.execute("BEGIN IMMEDIATE")  # a writer in another process, mid-transaction
        stats = await asyncio.wait_for(controlled(db, Recorder(), clock).run_once(), 5)  # not the 30 s busy wait
        assert stats.claimed == 0
    finally:
        holder.rollback()
        holder.close()
        await db.dispose()
