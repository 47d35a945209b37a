"""The schedule, subscribe, unsubscribe, nudge and away commands: defaults, rights, one-sentence errors."""

from __future__ import annotations

from sqlmodel import select

from bot.core import Bot
from store.db import Database
from store.models import Delivery, Member, Schedule


async def setup(chat) -> None:  # type: ignore[no-untyped-def]
    await chat("alice", 'team add growth "Growth"')
    await chat("bob", "team join growth")
    await chat("alice", 'objective add "Grow" --team growth')
    await chat("alice", 'kr add O-1 "Users" --target 100 --owner <@bob>')


async def rows(db: Database, model):  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return list((await session.exec(select(model))).all())


async def test_checkin_schedule_defaults_to_friday_10_with_a_24_h_reminder(chat, db: Database) -> None:
    await setup(chat)
    reply = await chat("alice", "schedule checkin team growth")
    assert "Friday 10:00 UTC" in reply.text and "24 h" in reply.text
    reply = await chat("alice", "schedule checkin team growth tue 08:30 Europe/Paris --remind-after 4")
    assert "Tuesday 08:30 Europe/Paris" in reply.text and "4 h" in reply.text
    (row,) = await rows(db, Schedule)
    assert (row.what, row.weekday, row.time, row.timezone, row.remind_after_hours) == (
        "checkin", 1, "08:30", "Europe/Paris", 4)  # fmt: skip
    await chat("alice", "schedule checkin team growth --remind-after 0")
    (row,) = await rows(db, Schedule)
    assert row.weekday == 1 and row.remind_after_hours is None  # kept what was not said


async def test_schedule_errors_are_one_sentence(chat) -> None:
    await setup(chat)
    cases = {
        "schedule checkin team growth fryday": 'The weekday must be a day like friday or fri, not "fryday".',
        "schedule checkin team growth 25:00": 'The time must be a 24-hour time like 09:30, not "25:00".',
        "schedule checkin team growth mon 10:00 Mars/Olympus": "The timezone must be an IANA name",
        "schedule checkin team nope": 'There is no team "nope" in this workspace',
    }
    for text, expected in cases.items():
        reply = await chat("alice", text)
        assert reply.is_error and expected in reply.text, text
    reply = await chat("bob", "schedule checkin team growth")
    assert reply.is_error and "Only the lead of team growth or a workspace admin" in reply.text


async def test_subscribe_list_and_unsubscribe_digest(chat, db: Database) -> None:
    await setup(chat)
    assert "team growth every Monday 09:00 UTC" in (await chat("alice", "subscribe digest")).text
    assert "organisation every Wednesday 07:00 Asia/Tokyo" in (
        await chat("alice", "subscribe digest all wed 07:00 Asia/Tokyo")).text  # fmt: skip
    listing = (await chat("alice", "schedule list")).text
    assert "Digest · team growth" in listing and "Digest · all teams" in listing
    assert (await chat("bob", "subscribe digest all")).is_error  # only admins for the organisation
    assert "no longer" in (await chat("alice", "unsubscribe digest team growth")).text
    assert (await chat("alice", "unsubscribe digest team growth")).is_error
    assert [s.team_id for s in await rows(db, Schedule)] == [None]


async def test_nudge_is_once_per_owner_per_week(chat, db: Database, bot: Bot, clock) -> None:
    await setup(chat)
    assert "Nudged 1 owner who has not checked in this week: @Bob" in (await chat("alice", "nudge team growth")).text
    assert "Nobody new" in (await chat("alice", "nudge KR-1")).text
    assert len([d for d in await rows(db, Delivery) if d.kind == "nudge"]) == 1
    assert (await chat("bob", "nudge team growth")).is_error
    clock.advance(days=7)
    await chat("alice", "nudge team growth")  # a new week, a new nudge
    assert len(await rows(db, Delivery)) == 2
    await chat("bob", "checkin KR-1 10")
    assert "Nobody new" in (await chat("alice", "nudge team growth")).text


async def test_away_until_and_off(chat, db: Database) -> None:
    await setup(chat)
    assert "away until 2026-12-01" in (await chat("bob", "away until 2026-12-01")).text
    bob = next(m for m in await rows(db, Member) if m.external_id == "bob")
    assert str(bob.away_until) == "2026-12-01"
    assert "Away: @Bob" in (await chat("alice", "nudge team growth")).text
    assert "in the past" in (await chat("bob", "away until 2020-01-01")).text
    assert "Welcome back" in (await chat("bob", "away off")).text
