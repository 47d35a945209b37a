"""Team digests and the organisation view (`digest team <key>`, `digest all`, `digest`).

A fixed small organisation is built through the chat, with the clock moved between check-ins,
and the whole plain-text rendering is compared with the text below: any change to what a
team reads in its channel shows up here as a diff.  Then the figures one by one (pace, weeks,
timezones, trends, staleness, participation, ties, empty teams, ended cycles), the chart, and
the number of SQL statements, which must not grow with the number of rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib.image
import pytest
from sqlalchemy import event, update

from bot import charts
from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.messages import Image, Mention, Message, Progress, UserText
from bot.progress import CycleClock, trend
from bot.scales import pace
from store.db import Database
from store.models import Cycle, Member

START = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)  # a Monday: day 1 of the cycle 2026-T4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# The golden organisation: three stages and one sub-capability, three teams, objectives whose
# parents belong to other teams, a committed and an aspirational one, a key result that goes
# down (churn 8 % → 4 %), an objective with no key results.
ORG = [
    ("alice", "cycle add 2026-T4 2026-10-05 2027-01-03"),
    ("alice", 'capability add understand "Understand customers" --position 1'),
    ("alice", 'capability add develop "Develop solutions" --position 2'),
    ("alice", 'capability add deliver "Deliver" --position 3'),
    ("alice", 'capability add research "User research" --parent understand'),
    ("alice", 'team add growth "Growth"'),
    ("bob", 'team add platform "Platform"'),
    ("carol", 'team add support "Support"'),
    ("alice", 'objective add "Double qualified sign-ups" --team growth --capability understand'),
    ("bob", 'objective add "Ship the self-serve API" --team platform --capability develop'),
    ("alice", 'objective add "Launch API onboarding" --team growth --capability develop --parent O-2 --aspirational'),
    ("carol", 'objective add "Answer within an hour" --team support --parent O-1'),
    ("bob", 'objective add "Learn from churned users" --team platform --capability research'),
    ("alice", 'kr add O-1 "Weekly sign-ups" --target 200 --start 100 --unit sign-ups'),
    ("alice", 'kr add O-1 "Monthly churn" --target 4 --start 8 --unit % --owner <@dave|Dave>'),
    ("alice", 'kr add O-3 "Onboarding guides" --target 10'),
    ("bob", 'kr add O-2 "Public endpoints" --target 40'),
    ("carol", 'kr add O-4 "Median first reply minutes" --target 60 --start 240 --unit min'),
]


async def ok(chat, user: str, text: str, *, workspace: str = "acme") -> Message:  # type: ignore[no-untyped-def]
    reply = await chat(user, text, workspace=workspace)
    assert not reply.is_error, f"{text!r} was refused: {reply.text}"
    return reply


async def build_org(chat, clock) -> None:  # type: ignore[no-untyped-def]
    """The golden organisation, left on Thursday of week 6 (day 39 of 91)."""
    clock.now = START
    for user, text in ORG:
        await ok(chat, user, text)
    clock.advance(days=14)  # week 3
    await ok(chat, "alice", "checkin KR-1 120 7 steady")
    await ok(chat, "alice", "checkin KR-2 7.5 5 slow")
    clock.advance(days=21)  # week 6
    await ok(chat, "alice", "checkin KR-1 150 8 campaign worked")
    await ok(chat, "bob", "checkin KR-4 8 3 blocked on auth")
    clock.advance(days=3)


GROWTH = """\
== Digest · team growth (Growth) ==
  2026-T4 · week 6 of 13 · 43% of the time elapsed
  ---
O-1 Double qualified sign-ups — 31%
  committed · supports Understand customers
  KR-1 Weekly sign-ups · @Alice
    █████░░░░░ 50% · 150 / 200 sign-ups · 🟢 8/10
  confidence 8 ▲1 · pace on · “campaign worked”
  KR-2 Monthly churn · @Dave
    █░░░░░░░░░ 12% · 7.5 / 4 % · 🟡 5/10
  confidence 5 = · pace behind · stale · “slow”
  ---
O-3 Launch API onboarding — 0%
  aspirational · supports Develop solutions · under O-2 Ship the self-serve API (team platform)
  KR-3 Onboarding guides · @Alice
    ░░░░░░░░░░ 0% · 0 / 10 · 🟡 5/10
  confidence 5 = · pace behind · stale
  ---
Checked in this week: 1 of 2 key-result owners. Missing: @Dave.
At risk (2)
KR-3: Onboarding guides · confidence 5 · pace behind · 0%
KR-2: Monthly churn · confidence 5 · pace behind · 12%
Across the value chain
  Understand customers: also fed by platform (no KRs)
  Develop solutions: also fed by platform (confidence 3.0)
  Nobody supports: Deliver
[chart: Progress and confidence by week for team growth]
[chart: Value chain · 2026-T4 · team growth: 3 stages, 2 teams; gaps: Deliver.]"""

PLATFORM = """\
== Digest · team platform (Platform) ==
  2026-T4 · week 6 of 13 · 43% of the time elapsed
  ---
O-2 Ship the self-serve API — 20%
  committed · supports Develop solutions
  KR-4 Public endpoints · @Bob
    ██░░░░░░░░ 20% · 8 / 40 · 🔴 3/10
  confidence 3 ▼2 · pace behind · “blocked on auth”
  ---
O-5 Learn from churned users
  committed · supports User research
  No key results yet.
  ---
Checked in this week: 1 of 1 key-result owners.
At risk (1)
KR-4: Public endpoints · confidence 3 · pace behind · 20%
Across the value chain
  Understand customers: also fed by growth (confidence 6.5)
  Develop solutions: also fed by growth (confidence 5.0)
  Nobody supports: Deliver
[chart: Progress and confidence by week for team platform]
[chart: Value chain · 2026-T4 · team platform: 3 stages, 2 teams; gaps: Deliver.]"""

ALL = """\
== Digest · the whole organisation ==
  2026-T4 · week 6 of 13 · 43% of the time elapsed
The value chain
1. Understand customers: 2 objectives · progress 31% · confidence 6.5 🟡 · 2 teams
2. Develop solutions: 2 objectives · progress 10% · confidence 4.0 🟡 · 2 teams
3. Deliver: 0 objectives · no key results · 0 teams
Teams
growth: 2 objectives · progress 21% · confidence 6.0 🟡 · checked in 1/2
platform: 2 objectives · progress 20% · confidence 3.0 🔴 · checked in 1/1
support: 1 objective · progress 0% · confidence 5.0 🟡 · checked in 0/1
Across teams
  growth → platform: 1 objective
  support → growth: 1 objective
Gaps
  Nobody supports: Deliver
[chart: Value chain · 2026-T4: 3 stages, 3 teams; gaps: Deliver.]"""


# golden ---------------------------------------------------------------------------------------


async def test_team_digest_golden(chat, clock) -> None:
    await build_org(chat, clock)
    assert (await ok(chat, "alice", "digest team growth")).text == GROWTH
    assert (await ok(chat, "bob", "digest team platform")).text == PLATFORM


async def test_digest_all_golden(chat, clock) -> None:
    await build_org(chat, clock)
    reply = await ok(chat, "carol", "digest all")
    assert reply.text == ALL
    assert reply.visibility == "channel"


async def test_team_digest_blocks(chat, clock) -> None:
    """The neutral blocks behind the text: what Slack and Teams render from."""
    await build_org(chat, clock)
    reply = await ok(chat, "alice", "digest team growth")
    assert reply.visibility == "channel" and not reply.is_error
    bars = {b.ref: b for b in reply.blocks if isinstance(b, Progress)}
    assert list(bars) == ["KR-1", "KR-2", "KR-3"]
    assert (bars["KR-1"].fraction, bars["KR-1"].colour, bars["KR-1"].confidence) == (0.5, "green", 8)
    assert (bars["KR-2"].fraction, bars["KR-2"].colour, bars["KR-2"].detail) == (0.125, "yellow", "7.5 / 4 %")
    assert (bars["KR-3"].fraction, bars["KR-3"].colour) == (0.0, "yellow")
    assert UserText("Weekly sign-ups") in bars["KR-1"].label
    assert Mention("dave", "Dave") in bars["KR-2"].label
    spans = [s for b in reply.blocks for s in getattr(b, "text", ())]
    for typed in ("Double qualified sign-ups", "campaign worked", "Understand customers", "Growth"):
        assert UserText(typed) in spans, typed  # a person's words stay a UserText node
        assert typed not in spans  # never plain okrbot text a renderer would not escape
    assert Mention("dave", "Dave") in spans  # the missing owner, as a mention
    images = [b for b in reply.blocks if isinstance(b, Image)]
    assert [i.name for i in images] == ["digest-growth.png", "value-chain-growth.png"]
    assert images[-1] is reply.blocks[-1]


async def test_user_text_is_never_markup(chat, clock) -> None:
    clock.now = START
    await ok(chat, "alice", "cycle add 2026-T4 2026-10-05 2027-01-03")
    await ok(chat, "alice", 'team add growth "<!channel> *Growth*"')
    await ok(chat, "alice", 'objective add "<@U1> wins" --team growth')
    await ok(chat, "alice", 'kr add O-1 "_italic_" --target 10')
    await ok(chat, "alice", "checkin KR-1 2 6 see <https://x.example|here>")
    reply = await ok(chat, "alice", "digest team growth")
    spans = [s for b in reply.blocks for s in (*getattr(b, "text", ()), *getattr(b, "label", ()))]
    for typed in ("<!channel> *Growth*", "<@U1> wins", "_italic_", "see <https://x.example|here>"):
        assert UserText(typed) in spans, typed


# units: pace, weeks, trend ------------------------------------------------------------------


def test_pace_thresholds() -> None:
    """Behind or ahead only past 20 points; exactly 20 is still on pace."""
    assert pace(0.5, 0.5) == "on"
    assert pace(0.3, 0.5) == "on"
    assert pace(0.29, 0.5) == "behind"
    assert pace(0.7, 0.5) == "on"
    assert pace(0.71, 0.5) == "ahead"
    assert pace(0.0, 0.0) == "on"
    assert pace(1.0, 1.0) == "on"
    assert pace(0.0, 1.0) == "behind"


def _cycle(start: dt.date, end: dt.date) -> Cycle:
    return Cycle(workspace_id=1, name="C", starts_on=start, ends_on=end)


def test_weeks_of_a_cycle() -> None:
    cycle = _cycle(dt.date(2026, 10, 5), dt.date(2027, 1, 3))  # 91 days
    first = CycleClock(cycle, dt.date(2026, 10, 5))
    assert (first.week, first.weeks, round(first.elapsed * 91)) == (1, 13, 1)
    assert first.line() == "C · week 1 of 13 · 1% of the time elapsed"
    assert CycleClock(cycle, dt.date(2026, 10, 11)).week == 1  # day 7
    assert CycleClock(cycle, dt.date(2026, 10, 12)).week == 2  # day 8
    last = CycleClock(cycle, dt.date(2027, 1, 3))
    assert (last.week, last.elapsed, last.ended) == (13, 1.0, False)
    assert last.line() == "C · week 13 of 13 · 100% of the time elapsed"
    after = CycleClock(cycle, dt.date(2027, 1, 4))
    assert after.ended and after.week == 13 and after.elapsed == 1.0
    assert after.line() == "C · ended 2027-01-03 · 13 weeks"


def test_a_calendar_quarter_of_92_days_has_13_weeks() -> None:
    q4 = _cycle(dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert CycleClock(q4, dt.date(2026, 10, 1)).line() == "C · week 1 of 13 · 1% of the time elapsed"
    assert CycleClock(q4, dt.date(2026, 12, 24)).week == 13  # day 85
    assert CycleClock(q4, dt.date(2026, 12, 31)).line() == "C · week 13 of 13 · 100% of the time elapsed"
    assert CycleClock(_cycle(dt.date(2026, 1, 5), dt.date(2026, 1, 18)), dt.date(2026, 1, 18)).weeks == 2
    assert CycleClock(_cycle(dt.date(2026, 1, 5), dt.date(2026, 1, 5)), dt.date(2026, 1, 5)).weeks == 1


def test_trend_marks() -> None:
    assert (trend(None), trend(0), trend(2), trend(-3)) == ("", "=", "▲2", "▼3")


# timezones ------------------------------------------------------------------------------------


def _as(user: str, text: str, timezone: str | None = None, workspace: str = "acme") -> Command:
    return Command(
        WorkspaceRef("local", workspace, workspace), Actor(user, user.title(), timezone), text, "test", "test"
    )


async def test_the_week_is_the_reader_s_week(db: Database, clock) -> None:
    """At 23:30 UTC on day 7, Tokyo is already in day 8 (week 2); Los Angeles is still in day 7."""
    bot = Bot(db, clock=clock)
    clock.now = START
    for text in (
        "cycle add 2026-T4 2026-10-05 2027-01-03",
        'team add growth "Growth"',
        'objective add "Grow" --team growth',
        'kr add O-1 "Sign-ups" --target 100',
    ):
        assert not (await bot.handle(_as("alice", text))).is_error
    clock.now = dt.datetime(2026, 10, 11, 23, 30, tzinfo=dt.UTC)
    tokyo = await bot.handle(_as("kenji", "digest team growth", "Asia/Tokyo"))
    la = await bot.handle(_as("lucy", "digest team growth", "America/Los_Angeles"))
    utc = await bot.handle(_as("alice", "digest team growth"))
    assert tokyo.text.splitlines()[1] == "  2026-T4 · week 2 of 13 · 9% of the time elapsed"
    assert la.text.splitlines()[1] == "  2026-T4 · week 1 of 13 · 8% of the time elapsed"
    assert utc.text.splitlines()[1] == "  2026-T4 · week 1 of 13 · 8% of the time elapsed"


async def test_a_workspace_timezone_is_the_default(db: Database, clock) -> None:
    clock.now = dt.datetime(2026, 10, 4, 16, 0, tzinfo=dt.UTC)  # Monday 01:00 in Tokyo, Sunday in UTC
    tokyo = Bot(db, clock=clock, timezone="Asia/Tokyo")
    for text in ("cycle add 2026-T4 2026-10-05 2027-01-03", 'team add growth "Growth"'):
        assert not (await tokyo.handle(_as("alice", text, workspace="tokyo"))).is_error
    reply = await tokyo.handle(_as("alice", "digest team growth", workspace="tokyo"))
    assert reply.text.splitlines()[1] == "  2026-T4 · week 1 of 13 · 1% of the time elapsed"
    utc = Bot(db, clock=clock)
    for text in ("cycle add 2026-T4 2026-10-05 2027-01-03", 'team add growth "Growth"'):
        assert not (await utc.handle(_as("alice", text, workspace="utc"))).is_error
    early = await utc.handle(_as("alice", "digest team growth", workspace="utc"))
    assert early.text.splitlines()[1] == "  2026-T4 · starts 2026-10-05 · 13 weeks"  # planned ahead: shown


# trends, "this week", stale -------------------------------------------------------------------


async def _one_team(chat, clock, krs: int = 1) -> None:  # type: ignore[no-untyped-def]
    clock.now = START
    await ok(chat, "alice", "cycle add 2026-T4 2026-10-05 2027-01-03")
    await ok(chat, "alice", 'team add growth "Growth"')
    await ok(chat, "alice", 'objective add "Grow" --team growth')
    for n in range(1, krs + 1):
        await ok(chat, "alice", f'kr add O-1 "Result {n}" --target 100')


def _kr_notes(reply: Message) -> dict[str, str]:
    """KR-n → its context line (confidence, trend, pace, flags, note)."""
    lines = reply.text.splitlines()
    out = {}
    for i, line in enumerate(lines):
        if line.startswith("  KR-"):
            out[line.split()[0]] = lines[i + 2].strip()
    return out


async def test_confidence_trend_against_a_week_ago(chat, clock) -> None:
    await _one_team(chat, clock, krs=3)
    clock.advance(days=1)
    for n in (1, 2, 3):
        await ok(chat, "alice", f"checkin KR-{n} 10 6")
    clock.advance(days=8)
    await ok(chat, "alice", "checkin KR-1 20 8")
    await ok(chat, "alice", "checkin KR-2 20 4")
    await ok(chat, "alice", "checkin KR-3 20 6")
    await ok(chat, "alice", 'kr add O-1 "New this week" --target 10')
    notes = _kr_notes(await ok(chat, "alice", "digest team growth"))
    assert notes["KR-1"].startswith("confidence 8 ▲2 ·")
    assert notes["KR-2"].startswith("confidence 4 ▼2 ·")
    assert notes["KR-3"].startswith("confidence 6 = ·")
    assert notes["KR-4"].startswith("confidence 5 · pace")  # nothing a week ago to compare with
    clock.advance(days=3)  # a week ago is now after the first check-ins: 6 → 8 still
    await ok(chat, "alice", "checkin KR-1 25 7")
    assert _kr_notes(await ok(chat, "alice", "digest team growth"))["KR-1"].startswith("confidence 7 ▲1 ·")


async def test_no_check_in_this_week_then_stale(chat, clock) -> None:
    await _one_team(chat, clock)
    clock.advance(days=2)
    await ok(chat, "alice", "checkin KR-1 20 6 first note")
    clock.advance(days=6, hours=23)
    assert (
        _kr_notes(await ok(chat, "alice", "digest team growth"))["KR-1"] == "confidence 6 ▲1 · pace on · “first note”"
    )
    clock.advance(hours=1)  # exactly seven days: last week's
    notes = _kr_notes(await ok(chat, "alice", "digest team growth"))
    assert notes["KR-1"] == "confidence 6 = · pace on · no check-in this week · “first note”"
    clock.advance(days=6, hours=23)
    assert "no check-in this week" in _kr_notes(await ok(chat, "alice", "digest team growth"))["KR-1"]
    clock.advance(hours=1)  # two periods
    notes = _kr_notes(await ok(chat, "alice", "digest team growth"))
    assert notes["KR-1"] == "confidence 6 = · pace on · stale · “first note”"


async def test_a_key_result_never_checked_in_is_stale_after_two_weeks(chat, clock) -> None:
    await _one_team(chat, clock)
    clock.advance(days=13)
    assert "no check-in this week" in _kr_notes(await ok(chat, "alice", "digest team growth"))["KR-1"]
    clock.advance(days=1)
    assert "stale" in _kr_notes(await ok(chat, "alice", "digest team growth"))["KR-1"]


async def test_long_notes_are_shortened_and_the_latest_note_wins(chat, clock) -> None:
    await _one_team(chat, clock)
    await ok(chat, "alice", "checkin KR-1 10 6 " + "word " * 40)
    await ok(chat, "alice", "checkin KR-1 12 6")  # no note: the last one written still shows
    note = _kr_notes(await ok(chat, "alice", "digest team growth"))["KR-1"].split("“")[1]
    assert note.endswith("…”") and len(note) == 81
    await ok(chat, "alice", "checkin KR-1 14 6 short")
    assert _kr_notes(await ok(chat, "alice", "digest team growth"))["KR-1"].endswith("“short”")


# participation ---------------------------------------------------------------------------------


async def _set_away(db: Database, external_id: str, until: dt.date) -> None:
    async with db.write() as session:
        await session.exec(update(Member).where(Member.external_id == external_id).values(away_until=until))  # type: ignore[call-overload]


async def test_participation_counts_missing_and_away(chat, clock, db) -> None:
    await _one_team(chat, clock)
    for who in ("Dave", "Erin", "Finn"):
        await ok(chat, "alice", f'kr add O-1 "{who}\'s result" --target 10 --owner <@{who.lower()}|{who}>')
    await _set_away(db, "erin", dt.date(2026, 10, 20))
    clock.advance(days=3)
    await ok(chat, "alice", "checkin KR-1 5 6")
    reply = await ok(chat, "alice", "digest team growth")
    line = next(x for x in reply.text.splitlines() if x.startswith("Checked in"))
    assert line == "Checked in this week: 1 of 3 key-result owners. Missing: @Dave, @Finn. Away: @Erin."
    assert _kr_notes(reply)["KR-3"] == "confidence 5 · pace on · away"
    everyone = await ok(chat, "alice", "digest all")
    assert "growth: 1 objective · progress 1% · confidence 5.2 🟡 · checked in 1/3" in everyone.text
    clock.now = dt.datetime(2026, 10, 21, 9, 0, tzinfo=dt.UTC)  # back from holiday: missing again
    line = next(x for x in (await ok(chat, "alice", "digest team growth")).text.splitlines() if x.startswith("Checked"))
    assert line == "Checked in this week: 0 of 4 key-result owners. Missing: @Alice, @Dave, @Erin, @Finn."


# at risk -------------------------------------------------------------------------------------


async def test_at_risk_worst_first_ties_by_number(chat, clock) -> None:
    await _one_team(chat, clock, krs=5)
    clock.advance(days=1)
    for text in (
        "checkin KR-5 10 3",
        "checkin KR-4 50 3",
        "checkin KR-3 90 2",
        "checkin KR-2 50 3",
        "checkin KR-1 99 9",
    ):
        await ok(chat, "alice", text)
    clock.advance(days=80)  # late in the cycle: under 70 % is behind
    replies = [await ok(chat, "alice", "digest team growth") for _ in range(2)]
    assert replies[0].text == replies[1].text
    lines = replies[0].text.splitlines()
    risks = lines[lines.index("At risk (4)") + 1 : lines.index("At risk (4)") + 5]
    assert [r.split(":")[0] for r in risks] == ["KR-3", "KR-5", "KR-2", "KR-4"]
    assert risks[0] == "KR-3: Result 3 · confidence 2 · pace on · 90%"


async def test_nothing_at_risk(chat, clock) -> None:
    await _one_team(chat, clock)
    await ok(chat, "alice", "checkin KR-1 5 8")
    text = (await ok(chat, "alice", "digest team growth")).text
    assert "At risk: nothing. Every key result is at confidence 4 or more and on pace." in text


# empty and unusual teams, cycles --------------------------------------------------------------


async def test_an_empty_team(chat, clock) -> None:
    await _one_team(chat, clock)
    await ok(chat, "bob", 'team add empty "Nobody home"')
    reply = await ok(chat, "bob", "digest team empty")
    assert reply.text == (
        "== Digest · team empty (Nobody home) ==\n"
        "  2026-T4 · week 1 of 13 · 1% of the time elapsed\n"
        "Team empty has no objectives in 2026-T4.\n"
        "  ---\n"
        "Participation: no key results, so nobody to hear from.\n"
        "At risk: nothing. Every key result is at confidence 4 or more and on pace.\n"
        "Across the value chain\n"
        "  None of this team's objectives supports a capability yet."
    )
    assert not any(isinstance(b, Image) for b in reply.blocks)


async def test_a_team_with_objectives_but_no_key_results(chat, clock) -> None:
    clock.now = START
    await ok(chat, "alice", "cycle add 2026-T4 2026-10-05 2027-01-03")
    await ok(chat, "alice", 'team add growth "Growth"')
    await ok(chat, "alice", 'objective add "Think" --team growth')
    await ok(chat, "alice", 'objective add "Dream" --team growth --aspirational')
    reply = await ok(chat, "alice", "digest team growth")
    text = reply.text
    assert text.count("No key results yet.") == 2
    assert text.index("O-1 Think") < text.index("O-2 Dream")
    assert "Participation: no key results, so nobody to hear from." in text
    assert any(isinstance(b, Image) for b in reply.blocks)
    assert "growth: 2 objectives · no key results" in (await ok(chat, "alice", "digest all")).text


async def test_committed_before_aspirational(chat, clock) -> None:
    clock.now = START
    await ok(chat, "alice", "cycle add 2026-T4 2026-10-05 2027-01-03")
    await ok(chat, "alice", 'team add growth "Growth"')
    await ok(chat, "alice", 'objective add "Stretch" --team growth --aspirational')
    await ok(chat, "alice", 'objective add "Must" --team growth')
    text = (await ok(chat, "alice", "digest team growth")).text
    assert text.index("O-2 Must") < text.index("O-1 Stretch")


async def test_a_cycle_that_has_ended_is_still_shown(chat, clock) -> None:
    await build_org(chat, clock)
    clock.now = dt.datetime(2027, 1, 10, 9, 0, tzinfo=dt.UTC)
    reply = await ok(chat, "alice", "digest team growth")
    lines = reply.text.splitlines()
    assert lines[1] == "  2026-T4 · ended 2027-01-03 · 13 weeks"
    assert "O-1 Double qualified sign-ups — 31%" in lines
    assert "  confidence 8 = · pace behind · stale · “campaign worked”" in lines
    assert (await ok(chat, "alice", "digest all")).text.splitlines()[1] == "  2026-T4 · ended 2027-01-03 · 13 weeks"
    await ok(chat, "alice", "cycle close 2026-T4")
    assert (await ok(chat, "alice", "digest team growth")).text.splitlines()[1] == lines[1]


async def test_a_closed_cycle_gives_way_to_the_next_one(chat, clock) -> None:
    await build_org(chat, clock)
    clock.now = dt.datetime(2027, 1, 10, 9, 0, tzinfo=dt.UTC)
    await ok(chat, "alice", "cycle add 2027-T1 2027-01-04 2027-04-04")
    reply = await ok(chat, "alice", "digest team growth")
    assert reply.text.splitlines()[1] == "  2027-T1 · week 1 of 13 · 8% of the time elapsed"
    assert "Team growth has no objectives in 2027-T1." in reply.text


async def test_no_cycle_at_all(chat, clock) -> None:
    await ok(chat, "alice", 'team add growth "Growth"')
    sentence = "There is no cycle yet: the current quarter is created with the first objective."
    for text in ("digest team growth", "digest all", "digest", "tree", "tree team growth"):
        reply = await chat("alice", text)
        assert reply.is_error and reply.text == sentence, text


async def test_an_unknown_team(chat, clock) -> None:
    await _one_team(chat, clock)
    reply = await chat("alice", "digest team nope")
    assert reply.is_error and reply.text == 'There is no team "nope" in this workspace; `team list` shows the teams.'


# digest with no arguments ----------------------------------------------------------------------


async def test_digest_without_arguments(chat, clock) -> None:
    await build_org(chat, clock)
    assert (await ok(chat, "alice", "digest")).text == GROWTH  # alice leads growth only
    assert (await ok(chat, "zoe", "digest")).text == ALL  # in no team: the organisation
    await ok(chat, "alice", "team join support")
    reply = await chat("alice", "digest")
    assert reply.is_error
    assert reply.text == (
        "You are in teams growth, support; say which with digest team <key>, or digest all for the organisation."
    )


# across the value chain, and gaps ---------------------------------------------------------------


async def test_across_rolls_sub_capabilities_up_weighing_each_key_result(chat, clock) -> None:
    """platform feeds Understand through one objective on the stage (one KR at 10) and one on
    its sub-capability (three KRs at 2): 4.0 over the four key results, not 6.0 over objectives."""
    clock.now = START
    for user, text in ORG[:8]:
        await ok(chat, user, text)
    await ok(chat, "alice", 'objective add "Know users" --team growth --capability understand')
    await ok(chat, "bob", 'objective add "Interviews" --team platform --capability research')
    await ok(chat, "bob", 'objective add "Surveys" --team platform --capability understand')
    await ok(chat, "carol", 'objective add "Listen" --team support --capability research')
    for n in range(3):
        await ok(chat, "bob", f'kr add O-2 "Talk {n}" --target 10')
    await ok(chat, "bob", 'kr add O-3 "Send" --target 10')
    for n in (1, 2, 3):
        await ok(chat, "bob", f"checkin KR-{n} 1 2")
    await ok(chat, "bob", "checkin KR-4 1 10")
    reply = await ok(chat, "alice", "digest team growth")
    across = reply.text.split("Across the value chain\n")[1].splitlines()
    assert across[:2] == [
        "  Understand customers: also fed by platform (confidence 4.0), support (no KRs)",
        "  Nobody supports: Develop solutions, Deliver",
    ]
    everyone = (await ok(chat, "alice", "digest all")).text
    assert "1. Understand customers: 4 objectives · progress 10% · confidence 4.0 🟡 · 3 teams" in everyone
    assert "  Nobody supports: Develop solutions, Deliver" in everyone


async def test_gaps_unsupported_and_fed_by_one_team(chat, clock) -> None:
    clock.now = START
    for user, text in ORG[:8]:
        await ok(chat, user, text)
    await ok(chat, "alice", 'capability add ops "Operations" --parent deliver')
    await ok(chat, "alice", 'objective add "Only us" --team growth --capability develop')
    await ok(chat, "alice", 'objective add "Also only us" --team growth --capability research')
    everyone = await ok(chat, "alice", "digest all")
    gaps = everyone.text.split("Gaps\n")[1].split("\n[chart: ")[0]
    assert gaps == (
        "  Nobody supports: Deliver, Operations\n"
        "  Fed by one team alone: Understand customers (only growth), Develop solutions (only growth)"
    )
    team = (await ok(chat, "alice", "digest team growth")).text
    assert "  Understand customers: only this team feeds it\n  Develop solutions: only this team feeds it" in team
    await ok(chat, "bob", 'objective add "Ops" --team platform --capability ops')
    await ok(chat, "bob", 'objective add "Build" --team platform --capability develop')
    gaps = (await ok(chat, "alice", "digest all")).text.split("Gaps\n")[1].split("\n[chart: ")[0]
    assert gaps == "  Fed by one team alone: Understand customers (only growth), Deliver (only platform)"
    await ok(chat, "carol", 'objective add "Hear" --team support --capability understand')
    await ok(chat, "carol", 'objective add "Ship" --team support --capability deliver')
    gaps = (await ok(chat, "alice", "digest all")).text.split("Gaps\n")[1].split("\n[chart: ")[0]
    assert gaps == "  None: every capability is supported by two teams or more."


async def test_archived_objectives_do_not_count(chat, clock) -> None:
    clock.now = START
    for user, text in ORG[:8]:
        await ok(chat, user, text)
    await ok(chat, "alice", 'objective add "Gone" --team growth --capability deliver')
    await ok(chat, "alice", "archive O-1")
    reply = await ok(chat, "alice", "digest all")
    assert "3. Deliver: 0 objectives · no key results · 0 teams" in reply.text
    assert "Nobody supports: Understand customers, User research, Develop solutions, Deliver" in reply.text


# the chart -------------------------------------------------------------------------------------


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


async def test_the_chart_is_a_real_png(chat, clock) -> None:
    await build_org(chat, clock)
    reply = await ok(chat, "alice", "digest team growth")
    (image,) = [b for b in reply.blocks if isinstance(b, Image) and b.name == "digest-growth.png"]
    assert image.png.startswith(PNG_SIGNATURE)
    assert len(image.png) > 5_000
    assert _png_size(image.png) == (800, 500)
    pixels = matplotlib.image.imread(io.BytesIO(image.png), format="png")
    assert pixels.shape[:2] == (500, 800)
    assert image.alt == "Progress and confidence by week for team growth"


def test_weekly_series_per_objective() -> None:
    from bot.progress import weekly_series
    from store.models import CheckIn, KeyResult

    cycle = _cycle(dt.date(2026, 10, 5), dt.date(2027, 1, 3))
    clock = CycleClock(cycle, dt.date(2026, 10, 20))  # week 3
    made = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)
    krs = [
        KeyResult(id=1, workspace_id=1, number=1, objective_id=7, title="a", owner_id=1, target=10, created_at=made),
        KeyResult(
            id=2, workspace_id=1, number=2, objective_id=7, title="b", owner_id=1, start=8, target=4, created_at=made
        ),
    ]
    history = [
        CheckIn(
            workspace_id=1, key_result_id=1, member_id=1, value=5, confidence=7, created_at=made + dt.timedelta(days=8)
        ),
        CheckIn(
            workspace_id=1, key_result_id=2, member_id=1, value=6, confidence=3, created_at=made + dt.timedelta(days=9)
        ),
    ]
    series = weekly_series(krs, history, clock, dt.UTC)
    assert series[7] == [(1, 0.0, 5.0), (2, 0.5, 5.0), (3, 0.5, 5.0)]


async def test_rendering_runs_off_the_event_loop(monkeypatch) -> None:
    """While the chart is drawn in its thread, the loop still runs other coroutines."""
    real = charts.render
    started, release = threading.Event(), threading.Event()
    threads: list[int] = []

    def held(*args):  # type: ignore[no-untyped-def]
        threads.append(threading.get_ident())
        started.set()
        assert release.wait(10), "the loop never got to run while the chart was drawn"
        return real(*args)

    monkeypatch.setattr(charts, "render", held)
    drawing = asyncio.create_task(charts.render_async("t", {"O-1": [(1, 0.1, 5.0), (2, 0.3, 6.0)]}, 13))
    assert await asyncio.to_thread(started.wait, 10)

    async def other() -> str:
        await asyncio.sleep(0)
        return "answered"

    assert await other() == "answered"  # the loop is free while render() is still blocked
    assert not drawing.done()
    release.set()
    png = await drawing
    assert png.startswith(PNG_SIGNATURE) and threads[0] != threading.get_ident()


def test_an_empty_chart_still_renders() -> None:
    png = charts.render("Nothing yet", {}, 13)
    assert png.startswith(PNG_SIGNATURE) and _png_size(png) == (800, 500)


# statements: a fixed number, whatever the number of rows -----------------------------------------


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def _feed(chat, user: str, team: str, objectives: int, workspace: str, checkins: int) -> None:  # type: ignore[no-untyped-def]
    """A team with ``objectives`` objectives of four KRs each, one under another team's objective,
    on a capability another team feeds too, with ``checkins`` check-ins per key result."""
    await ok(chat, user, f'team add {team} "{team.title()}"', workspace=workspace)
    first = None
    for o in range(objectives):
        flags = f"--team {team} --capability {'develop' if o % 2 else 'understand'}"
        flags += " --parent O-1" if o == 0 else ""
        flags += " --aspirational" if o % 3 == 2 else ""
        reply = await ok(chat, user, f'objective add "{team} objective {o}" {flags}', workspace=workspace)
        number = reply.text.split()[1]
        first = first or number
        for k in range(4):
            reply = await ok(chat, user, f'kr add {number} "{team} {o}.{k}" --target 100', workspace=workspace)
            kr = reply.text.split()[1]
            for c in range(checkins):
                await ok(chat, user, f"checkin {kr} {10 * (c + 1)} {(o + k + c) % 11} note {c}", workspace=workspace)


async def _base(chat, workspace: str) -> None:  # type: ignore[no-untyped-def]
    for user, text in ORG[:5]:
        await ok(chat, user, text, workspace=workspace)
    await ok(chat, "alice", 'team add hub "Hub"', workspace=workspace)
    await ok(chat, "alice", 'objective add "The hub" --team hub --capability understand', workspace=workspace)
    await ok(chat, "alice", 'kr add O-1 "Hub result" --target 10', workspace=workspace)


async def test_a_team_digest_takes_the_same_statements_for_4_or_40_key_results(chat, clock, db) -> None:
    clock.now = START
    await _base(chat, "acme")
    await _feed(chat, "bob", "small", 2, "acme", checkins=1)
    await _feed(chat, "carol", "big", 10, "acme", checkins=3)
    clock.advance(days=20)
    counts = {}
    for team in ("small", "big", "hub"):
        with counting(db) as statements:
            reply = await ok(chat, "alice", f"digest team {team}")
        counts[team] = len(statements)
        assert any(isinstance(b, Image) for b in reply.blocks)
    assert counts["small"] == counts["big"], counts
    assert counts["hub"] == counts["big"] - 1, counts  # no parent objective to look up
    assert counts["big"] <= 20, counts  # 5 of them the value-chain map's, read once per revision


async def test_digest_all_and_tree_take_the_same_statements_for_2_or_6_teams(chat, clock, db) -> None:
    clock.now = START
    for workspace, teams in (("two", 2), ("six", 6)):
        await _base(chat, workspace)
        for t in range(teams):
            await _feed(chat, "bob", f"team{t}", 1 + t % 3, workspace, checkins=1 + t % 2)
    clock.advance(days=10)
    counts: dict[str, list[int]] = {"digest all": [], "tree": [], "tree team team1": [], "digest": []}
    for text, found in counts.items():
        for workspace in ("two", "six"):
            with counting(db) as statements:
                reply = await chat("bob", text, workspace=workspace)
            assert reply.is_error == (text == "digest"), reply.text  # bob leads every team: "say which"
            found.append(len(statements))
    for text, (two, six) in counts.items():
        assert two == six, (text, counts)


async def test_team_digest_without_chart_through_a_context(bot, chat, clock, db) -> None:
    """``team_digest(ctx, team, chart=False)``, as the scheduler calls it: no Image, same text."""
    from bot.digest import team_digest
    from store.repo import Repo, identity

    await build_org(chat, clock)
    async with db.read() as session:
        workspace, actor = await identity(session, "local", "acme", "alice")
        assert workspace is not None and actor is not None
        repo = Repo(session, workspace.id)  # type: ignore[arg-type]
        from bot.context import Ctx

        ctx = Ctx(repo=repo, workspace=workspace, actor=actor, command=_as("alice", ""), now=clock.now)
        team = await ctx.team("growth")
        with counting(db) as statements:
            message = await team_digest(ctx, team, chart=False)
    assert not any(isinstance(b, Image) for b in message.blocks)
    assert message.text == GROWTH.rsplit("\n", 2)[0]  # neither the chart nor the value-chain map
    assert len(statements) <= 12


@pytest.mark.parametrize("text", ["digest team growth", "digest all", "tree", "tree team platform"])
async def test_reading_writes_nothing(chat, clock, db, text: str) -> None:
    await build_org(chat, clock)
    with counting(db) as statements:
        await ok(chat, "alice", text)
    assert not [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


async def test_across_names_the_biggest_feeders_and_counts_the_rest(chat, clock) -> None:
    """In a large organisation a stage has many feeders: six are named (most key results first),
    the rest counted, so the line stays within a chat block's size limit."""
    clock.now = START
    for user, text in ORG[:5]:
        await ok(chat, user, text)
    await ok(chat, "alice", 'team add me "Me"')
    await ok(chat, "alice", 'objective add "Mine" --team me --capability develop')
    for t in range(8):
        await ok(chat, "alice", f'team add t{t} "T{t}"')
        reply = await ok(chat, "alice", f'objective add "Theirs {t}" --team t{t} --capability develop')
        for k in range(1 if t == 5 else 3 if t == 6 else 0):
            await ok(chat, "alice", f'kr add {reply.text.split()[1]} "R{k}" --target 9')
    text = (await ok(chat, "alice", "digest team me")).text
    assert (
        "  Develop solutions: also fed by t6 (confidence 5.0), t5 (confidence 5.0), t0 (no KRs), t1 (no KRs), "
        "t2 (no KRs), t3 (no KRs) and 2 more teams"
    ) in text
