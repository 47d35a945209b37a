"""Grading at a cycle's end: the prompt in a cycle's last 7 days, through the outbox once per
person and cycle (away and fully graded owners skipped, two instances sending once), the form
that grades every key result in one submit, and its Slack modal through the real Bolt app."""

from __future__ import annotations

import asyncio
import datetime as dt

from fakes.slack_api import FakeSlack, SlackClient
from test_scheduler import Recorder, deliveries, say, service
from test_slack_app import count, fake, reply_text, setup_okrs, slack  # noqa: F401  (fixtures)

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.messages import Form, Message
from bot.outbox import Envelope
from scheduler.dispatch import Dispatcher
from scheduler.ops import send
from store.db import Database

FRIDAY_BEFORE_THE_END = dt.datetime(2026, 12, 25, 8, 59, tzinfo=dt.UTC)  # 09:59 in Paris; 2026-Q4 ends on the 31st


async def organisation(bot: Bot) -> None:
    """alice (Paris) owns KR-1 and KR-4, bob (New York) KR-2, carol (the schedule's zone) KR-3.

    KR-1 stands at 30 of 100; bob has graded everything; alice has graded KR-4 only."""
    await say(bot, "alice", 'team add growth "Growth"')
    await say(bot, "alice", 'objective add "Grow" --team growth')
    for who in ("bob", "carol"):
        await say(bot, who, "team join growth")
    for who in ("alice", "bob", "carol", "alice"):
        await say(bot, "alice", f'kr add O-1 "KR of {who}" --target 100 --owner <@{who}>')
    await say(bot, "alice", "checkin KR-1 30 6")
    await say(bot, "bob", "grade KR-2 0.5")
    await say(bot, "alice", "grade KR-4 1")
    await say(bot, "alice", "schedule checkin team growth fri 10:00 Europe/Paris")


def grading_form(message: Message) -> Form:
    return next(b for b in message.blocks if isinstance(b, Form))


async def test_owners_are_asked_to_grade_once_in_the_cycles_last_week(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    clock.now = dt.datetime(2026, 12, 23, 9, 0, tzinfo=dt.UTC)  # 10:00 in Paris, 8 days before the end
    scheduler = service(db, clock)
    await scheduler.reload()
    assert await scheduler.run_due(catch_up=True) == 0
    assert await deliveries(db, "grading") == []

    clock.now = FRIDAY_BEFORE_THE_END
    await scheduler.run_due()
    clock.advance(minutes=1)  # 10:00 in Paris, 7 days before the end: alice and carol, not bob (all graded)
    await scheduler.run_due()
    rows = await deliveries(db, "grading")
    assert sorted(d.recipient for d in rows) == ["alice", "carol"]
    assert len({d.period_key for d in rows}) == 1 and rows[0].period_key.startswith("c")  # the cycle's row id
    alice = Envelope.loads(next(d for d in rows if d.recipient == "alice").payload)
    assert alice.to == "direct" and "Grade 2026-Q4" in alice.message.text
    form = grading_form(alice.message)
    assert form.action == "grade"
    assert [(f.name, f.initial) for g in form.groups for f in g.fields] == [("KR-1.score", "0.30")]  # KR-4 is graded

    for _ in range(3):  # the next days at the same hour, and again after a restart: nothing more
        clock.advance(days=1)
        await scheduler.run_due(catch_up=True)
    assert len(await deliveries(db, "grading")) == 2
    clock.now = dt.datetime(2027, 1, 1, 9, 0, tzinfo=dt.UTC)  # the cycle has ended
    await scheduler.run_due(catch_up=True)
    assert len(await deliveries(db, "grading")) == 2


async def test_away_owners_are_not_asked_until_they_are_back(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    await say(bot, "carol", "away until 2026-12-27")
    clock.now = FRIDAY_BEFORE_THE_END + dt.timedelta(minutes=1)
    scheduler = service(db, clock)
    await scheduler.reload()
    await scheduler.run_due(catch_up=True)
    assert [d.recipient for d in await deliveries(db, "grading")] == ["alice"]
    clock.advance(days=3)  # Monday 28th: carol is back
    await scheduler.run_due(catch_up=True)
    assert [d.recipient for d in await deliveries(db, "grading")] == ["alice", "carol"]


async def test_the_form_grades_everything_in_one_submit_or_nothing(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    await say(bot, "alice", 'kr add O-1 "Another of alice" --target 10 --owner <@alice>')  # KR-5
    form = grading_form(await say(bot, "alice", "grade"))
    assert [f.name for g in form.groups for f in g.fields] == ["KR-1.score", "KR-4.score", "KR-5.score"]
    assert [f.initial for g in form.groups for f in g.fields] == ["0.30", "1.00", "0.00"]

    command = Command(WorkspaceRef("local", "acme", "Acme"), Actor("alice", "Alice"), "", "C1", "test")
    reply = await bot.submit_form(command, "grade", {"KR-1.score": "0.4", "KR-5.score": "1.5"})
    assert set(reply.errors) == {"KR-5.score"} and "from 0.0 to 1.0" in reply.errors["KR-5.score"]
    again = grading_form(reply.message)
    assert [f.error is not None for g in again.groups for f in g.fields] == [False, True]
    for ref in ("KR-1", "KR-5"):  # nothing was saved, not even the right score
        assert "Score" not in (await say(bot, "alice", f"show {ref}")).text

    reply = await bot.submit_form(command, "grade", {"KR-1.score": "0.4", "KR-5.score": "0.9"})
    assert not reply.errors and not reply.message.is_error
    assert "Graded 2 key results" in reply.message.text
    assert "0.40" in (await say(bot, "alice", "show KR-1")).text
    assert "0.90" in (await say(bot, "alice", "show KR-5")).text

    # Someone else's key result in the form is refused whole (carol leads nothing).
    carol = Command(WorkspaceRef("local", "acme", "Acme"), Actor("carol", "Carol"), "", "C1", "test")
    reply = await bot.submit_form(carol, "grade", {"KR-3.score": "0.5", "KR-1.score": "0.1"})
    assert reply.message.is_error and "Only the owner of KR-1" in reply.message.text
    assert "0.40" in (await say(bot, "alice", "show KR-1")).text
    assert "Score" not in (await say(bot, "carol", "show KR-3")).text


async def test_okrbot_send_grading_sends_now_and_once(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    recorder = Recorder()
    now = FRIDAY_BEFORE_THE_END + dt.timedelta(days=1)
    queued, stats, pending = await send(db, {"local": recorder}, "grading", team="growth", now=now, seconds=5)
    assert (queued, stats.sent, pending) == (2, 2, 0)
    assert sorted(to for _, to, _ in recorder.sent) == ["alice", "carol"]
    queued, stats, pending = await send(db, {"local": recorder}, "grading", team="growth", now=now, seconds=5)
    assert (queued, len(recorder.sent)) == (0, 2)
    early = FRIDAY_BEFORE_THE_END - dt.timedelta(days=3)
    await say(bot, "alice", 'kr add O-1 "Late" --target 1 --owner <@bob>')
    assert (await send(db, {"local": recorder}, "grading", now=early, seconds=5))[0] == 0  # not the last week yet


async def test_two_instances_ask_each_owner_once(db: Database, bot: Bot, clock) -> None:
    await organisation(bot)
    for n in range(20):
        await say(bot, "alice", f'kr add O-1 "Extra {n}" --target 10 --owner <@u{n:02d}>')
    clock.now = FRIDAY_BEFORE_THE_END + dt.timedelta(minutes=1)
    other = Database(db.url)
    try:
        first, second = service(db, clock), service(other, clock)
        await asyncio.gather(first.reload(), second.reload())
        await asyncio.gather(first.run_due(catch_up=True), second.run_due(catch_up=True))
        recorder = Recorder()
        await asyncio.gather(
            Dispatcher(db, {"local": recorder}, clock=clock).drain(seconds=10),
            Dispatcher(other, {"local": recorder}, clock=clock).drain(seconds=10),
        )
    finally:
        await other.dispose()
    people = [to for _, to, message in recorder.sent if "Grade 2026-Q4" in message.text]  # and the week's prompts
    assert len(people) == len(set(people)) == 22  # alice, carol and the 20; bob graded everything
    assert "bob" not in people


async def test_the_grading_modal_on_slack(
    slack: SlackClient,  # noqa: F811
    fake: FakeSlack,  # noqa: F811
    db_url: str,
) -> None:
    await setup_okrs(slack)
    await slack.slash("UALICE", "checkin KR-1 40 7")
    assert await slack.slash("UALICE", "grade") == ""
    view = (await fake.wait_for("views.open"))[0].args["view"]
    assert view["callback_id"] == "okr_grade_form"
    score = next(b for b in view["blocks"] if b.get("block_id") == "KR-1.score")
    assert score["element"]["initial_value"] == "0.40"
    response = await slack.submit("UALICE", view, {"KR-1.score": "1.5"})
    body = await response.json()
    assert body["response_action"] == "errors" and "from 0.0 to 1.0" in body["errors"]["KR-1.score"]
    assert "Score" not in reply_text(await slack.slash("UALICE", "show KR-1"))
    response = await slack.submit("UALICE", view, {"KR-1.score": "0.8"})
    assert response.status == 200
    confirmation = (await fake.wait_for("chat.postEphemeral"))[0].args
    assert "Graded 1 key result" in reply_text(confirmation)
    assert "0.80" in reply_text(await slack.slash("UALICE", "show KR-1"))
    # The prompt's button (the form drawn in a message) opens the same modal.
    response = await slack.click("UALICE", "okr_checkin:all", "grade")
    assert response.status == 200
    view = (await fake.wait_for("views.open", 2))[1].args["view"]
    assert view["callback_id"] == "okr_grade_form"
    assert await count(db_url, "check_in") == 1


async def test_a_typed_grade_without_a_score_says_so_and_writes_nothing(bot: Bot, refused) -> None:
    await organisation(bot)
    await refused("alice", "grade KR-1", "The score for KR-1 is missing", "grade KR-n <0.0-1.0>")
    await refused("alice", "grade KR-1 1.5", "from 0.0 to 1.0")
