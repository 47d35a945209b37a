"""The scheduler on a clock the test controls: each owner prompted at their own local time, away
members skipped, reminders only to those who did not answer, catch-up after a restart, digests."""

from __future__ import annotations

import datetime as dt
import logging

from sqlmodel import select

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.messages import Form, Header, Message, Text
from bot.outbox import Envelope
from scheduler.dispatch import Dispatcher
from scheduler.service import SchedulerService
from store.db import Database
from store.models import Delivery

ZONES = {"alice": "Europe/Paris", "bob": "America/New_York", "carol": None}


class Recorder:
    """An Outbound for the "local" platform that keeps what it was asked to send."""

    platform = "local"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Message]] = []

    async def send_direct(self, workspace: WorkspaceRef, member_id: str, message: Message) -> None:
        self.sent.append(("dm", member_id, message))

    async def post_channel(self, workspace: WorkspaceRef, channel: str, message: Message) -> None:
        self.sent.append(("channel", channel, message))


async def say(bot: Bot, user: str, text: str, channel: str = "C1") -> Message:
    actor = Actor(user, user.title(), timezone=ZONES.get(user))
    reply = await bot.handle(
        Command(WorkspaceRef("local", "acme", "Acme"), actor, text, channel=channel, source="test")
    )
    assert not reply.is_error, reply.text
    return reply


async def organisation(bot: Bot) -> None:
    """alice (Paris) leads growth; bob (New York) and carol (timezone unknown) own key results."""
    await say(bot, "alice", 'team add growth "Growth"')
    await say(bot, "alice", 'objective add "Grow" --team growth')
    for number, who in enumerate(("alice", "bob", "carol"), start=1):
        await say(bot, who, "team join growth") if who != "alice" else None
        await say(bot, "alice", f'kr add O-1 "KR of {who}" --target 100 --owner <@{who}>')
        assert number
    await say(bot, "alice", "schedule checkin team growth fri 10:00 Europe/Paris --remind-after 24")


async def deliveries(db: Database, kind: str | None = None) -> list[Delivery]:
    async with db.read() as session:
        rows = list((await session.exec(select(Delivery).order_by(Delivery.id))).all())
    return [r for r in rows if kind is None or r.kind == kind]


def service(db: Database, clock) -> SchedulerService:  # type: ignore[no-untyped-def]
    return SchedulerService(db, clock=clock)


async def test_each_owner_is_prompted_at_their_own_local_time(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    clock.now = dt.datetime(2026, 11, 20, 8, 59, tzinfo=dt.UTC)  # Friday 09:59 in Paris
    scheduler = service(db, clock)
    await scheduler.reload()
    assert await scheduler.run_due(catch_up=True) == 0
    clock.advance(minutes=1)  # 10:00 Paris: alice, and carol (the schedule's timezone)
    assert await scheduler.run_due() == 2
    assert sorted(d.recipient for d in await deliveries(db, "prompt")) == ["alice", "carol"]
    clock.advance(hours=5, minutes=59)  # 09:59 in New York
    assert await scheduler.run_due() == 0
    clock.advance(minutes=1)  # 10:00 in New York
    assert await scheduler.run_due() == 1
    prompts = await deliveries(db, "prompt")
    assert [(d.recipient, d.period_key) for d in prompts][-1] == ("bob", "2026-W47")
    bob = Envelope.loads(prompts[-1].payload)
    assert bob.to == "direct" and bob.target == "bob"
    form = next(b for b in bob.message.blocks if isinstance(b, Form))
    assert [g.ref for g in form.groups] == ["KR-2"] and form.action == "checkin"
    assert "KR-2" in bob.message.text and "confidence" in bob.message.text.lower()
    assert await scheduler.run_due(catch_up=True) == 0  # again after a restart: nothing new


async def test_away_members_get_no_prompt_or_reminder(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    await say(bot, "carol", "away until 2026-11-27")
    clock.now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    scheduler = service(db, clock)
    await scheduler.reload()
    await scheduler.run_due(catch_up=True)
    assert [d.recipient for d in await deliveries(db, "prompt")] == ["alice"]


async def test_someone_the_platform_says_left_gets_no_prompt_until_they_are_back(db: Database, bot: Bot, clock) -> None:  # type: ignore[no-untyped-def]
    await organisation(bot)
    acme = WorkspaceRef("local", "acme", "acme")
    assert await bot.member_left(acme, "carol", left=True)
    assert not await bot.member_left(acme, "nobody-here", left=True)
    clock.now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    scheduler = service(db, clock)
    await scheduler.reload()
    await scheduler.run_due(catch_up=True)
    assert [d.recipient for d in await deliveries(db, "prompt")] == ["alice"]
    assert await bot.member_left(acme, "carol", left=False)  # reactivated: the next week's prompt goes
    clock.advance(days=7)
    await scheduler.run_due(catch_up=True)
    assert "carol" in [d.recipient for d in await deliveries(db, "prompt")]


async def test_reminder_goes_only_to_those_who_did_not_check_in(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    clock.now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    scheduler = service(db, clock)
    await scheduler.reload()
    await scheduler.run_due(catch_up=True)
    clock.advance(hours=1)
    await say(bot, "alice", "checkin KR-1 30 7")
    clock.advance(hours=5)  # Friday 10:00 in New York: bob's prompt
    assert await scheduler.run_due() == 1
    clock.advance(hours=18)  # Saturday 10:00 in Paris: the reminder
    assert await scheduler.run_due() == 1
    assert [d.recipient for d in await deliveries(db, "reminder")] == ["carol"]
    clock.advance(hours=6)  # Saturday 10:00 in New York: bob was prompted, did not answer
    assert await scheduler.run_due() == 1
    assert [d.recipient for d in await deliveries(db, "reminder")] == ["carol", "bob"]
    reminder = Envelope.loads((await deliveries(db, "reminder"))[0].payload).message
    assert "not checked in" in reminder.text and any(isinstance(b, Form) for b in reminder.blocks)


async def test_a_missed_run_fires_on_start_within_the_grace_and_is_skipped_after(
    db: Database, bot: Bot, clock, caplog
) -> None:
    await organisation(bot)
    clock.now = dt.datetime(2026, 11, 20, 9 + 5, 30, tzinfo=dt.UTC)  # 5 h 30 after 10:00 Paris
    first = service(db, clock)
    await first.reload()
    assert await first.run_due(catch_up=True) == 2  # alice and carol, late but within 6 h
    clock.advance(hours=2)  # 7 h 30 late for Paris: skipped; 1 h 30 late for New York: fires
    second = service(db, clock)
    await second.reload()
    with caplog.at_level(logging.INFO, logger="scheduler.service"):
        assert await second.run_due(catch_up=True) == 1
    assert any(
        "skipped okrbot:prompt:1:Europe/Paris" in r.getMessage() and "grace" in r.getMessage() for r in caplog.records
    )
    assert sorted(d.recipient for d in await deliveries(db, "prompt")) == ["alice", "bob", "carol"]


async def test_digest_goes_once_to_the_subscribed_channel(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    await say(bot, "alice", "subscribe digest team growth mon 09:00 Europe/Paris", channel="C-GROWTH")
    clock.now = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # Monday 09:00 in Paris
    scheduler = service(db, clock)
    await scheduler.reload()
    await scheduler.run_due(catch_up=True)
    await scheduler.run_due(catch_up=True)
    (digest,) = await deliveries(db, "digest")
    assert (digest.recipient, digest.period_key) == ("C-GROWTH", f"2026-W48:t{1}")
    recorder = Recorder()
    await Dispatcher(db, {"local": recorder}, clock=clock).drain()
    assert [(kind, to) for kind, to, _ in recorder.sent] == [("channel", "C-GROWTH")]


async def test_the_apscheduler_jobs_follow_the_schedule_table(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    scheduler = service(db, clock)
    await scheduler.start()
    try:
        assert scheduler.scheduler is not None
        ids = {job.id for job in scheduler.scheduler.get_jobs()}
        assert "okrbot:prompt:1:America/New_York" in ids and "okrbot:reminder:1:Europe/Paris" in ids
        job = scheduler.scheduler.get_job("okrbot:prompt:1:Europe/Paris")
        assert job.misfire_grace_time == 6 * 3600 and job.coalesce is True
        await say(bot, "alice", "schedule checkin team growth --remind-after 0")
        assert await scheduler.reload() is True
        assert not any(j.id.startswith("okrbot:reminder") for j in scheduler.scheduler.get_jobs())
    finally:
        await scheduler.stop()


async def test_the_prompt_opens_every_key_result_in_one_click_on_slack(db: Database, bot: Bot, clock) -> None:
    from adapters.slack.render import CHECKIN_ACTION, to_messages

    await organisation(bot)
    await say(bot, "alice", 'kr add O-1 "Second KR of bob" --target 10 --owner <@bob>')
    clock.now = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)  # Friday 10:00 in New York
    scheduler = service(db, clock)
    await scheduler.reload()
    await scheduler.run_due(catch_up=True)
    (prompt,) = [d for d in await deliveries(db, "prompt") if d.recipient == "bob"]
    message = Envelope.loads(prompt.payload).message
    form = next(b for b in message.blocks if isinstance(b, Form))
    assert [g.ref for g in form.groups] == ["KR-2", "KR-4"]
    blocks = [block for part in to_messages(message) for block in part["blocks"]]
    buttons = [b["accessory"]["action_id"] for b in blocks if "accessory" in b]
    assert f"{CHECKIN_ACTION}:all" in buttons  # one click: the modal with both key results


def test_a_message_a_surface_has_drawn_is_stored_as_it_says_not_as_it_was_drawn() -> None:
    """A kept reply carries its Slack and Teams drawings (Message.drawn); the outbox stores none."""
    from adapters.slack.render import to_messages
    from adapters.teams.render import to_activities

    message = Message.of(Header(("Weekly check-in",)), Text(("How did KR-1 go?",)))
    to_messages(message), to_activities(message)
    assert set(message.drawn) == {"slack", "teams"}
    stored = Envelope("direct", "U1", message).dumps()
    assert "drawn" not in stored
    again = Envelope.loads(stored).message
    assert again == message and again.drawn == {}
