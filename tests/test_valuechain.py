"""The capability map: which chips land in which cell, the gaps, the one-team stages and the
cross-team arrows, on an organisation built here by hand through the bot; the picture it becomes
(a PNG at most 1600 × 900 whatever the organisation); and that it is drawn once per revision."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import struct
import time

import matplotlib.image
import pytest
from conftest import Clock, command

from bot.context import Ctx
from bot.core import Bot
from bot.mapchart import HEIGHT, LEGEND_H, MARGIN, MIN_TEXT_PX, WIDTH, clean, layout, render, render_async, wrap
from bot.messages import Image, Message
from bot.valuechain import MAX_LANES, UNALIGNED, ValueChainMap, build
from bot.valuemap import load_map
from store.db import Database
from store.models import Capability, Objective, Team
from store.repo import Repo, identity
from store.reports import KrFigures, cycle_for

START = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.UTC)  # week 7 of 2026-T4
PNG = b"\x89PNG\r\n\x1a\n"

ORG = [
    "cycle add 2026-T4 2026-10-05 2027-01-03",
    'capability add discover "Discover"',
    'capability add build "Build"',
    'capability add run "Run"',
    'capability add research "Research" --parent discover',
    'capability add analytics "Analytics" --parent discover',
    'team add growth "Growth"',
    'team add platform "Platform"',
    'team add support "Support"',
    'objective add "Grow" --team growth --capability research',  # O-1
    'objective add "Platform API" --team platform --capability build',  # O-2
    'objective add "Help growth build" --team growth --capability build --parent O-2',  # O-3, across teams
    'objective add "Platform research" --team platform --capability research --parent O-1',  # O-4, across
    'objective add "Same team child" --team growth --capability research --parent O-1',  # O-5: no arrow
    'objective add "Loose" --team support',  # O-6: unaligned
    'objective add "Whole stage" --team support --capability discover',  # O-7: on the stage itself
    'kr add O-1 "Signups" --target 100',  # KR-1
    'kr add O-2 "Endpoints" --target 10',  # KR-2
]


async def say(bot: Bot, text: str, user: str = "alice") -> Message:
    reply = await bot.handle(command(user, text))
    assert not reply.is_error, (text, reply.text)
    return reply


async def organisation(bot: Bot, clock: Clock) -> None:
    clock.now = START
    for text in ORG:
        await say(bot, text)
    await say(bot, "checkin KR-1 80 9")  # ahead, confident: green
    await say(bot, "checkin KR-2 0 2")  # nowhere at week 7, doubtful: red, behind


async def the_map(db: Database, clock: Clock, team: str | None = None) -> ValueChainMap:
    async with db.read() as session:
        workspace, actor = await identity(session, "local", "acme", "alice")
        assert workspace is not None and actor is not None
        repo = Repo(session, workspace.id)  # type: ignore[arg-type]
        ctx = Ctx(repo=repo, workspace=workspace, actor=actor, command=command("alice", "tree"), now=clock.now)
        cycle = await cycle_for(repo, ctx.today)
        assert cycle is not None
        return await load_map(ctx, cycle, *([await ctx.team(team)] if team else []))


def cell_refs(chart: ValueChainMap, lane: str, column: str) -> list[str]:
    (index,) = [i for i, c in enumerate(chart.columns) if c.name == column]
    (row,) = [row for row in chart.lanes if row.label == lane]
    return [chip.ref for chip in row.cells[index]]


async def test_chips_land_in_their_team_s_row_under_their_capability(bot: Bot, db: Database, clock: Clock) -> None:
    await organisation(bot, clock)
    chart = await the_map(db, clock)
    assert [(c.stage, c.name, c.sub) for c in chart.columns] == [
        ("Discover", "Discover (whole stage)", False),  # O-7 names the stage itself
        ("Discover", "Research", True),
        ("Discover", "Analytics", True),
        ("Build", "Build", False),
        ("Run", "Run", False),
        (UNALIGNED, UNALIGNED, False),  # at the right
    ]
    assert [lane.label for lane in chart.lanes] == ["growth", "platform", "support"]
    assert cell_refs(chart, "growth", "Research") == ["O-1", "O-5"]
    assert cell_refs(chart, "platform", "Research") == ["O-4"]
    assert cell_refs(chart, "growth", "Build") == ["O-3"] and cell_refs(chart, "platform", "Build") == ["O-2"]
    assert cell_refs(chart, "support", UNALIGNED) == ["O-6"]
    assert cell_refs(chart, "support", "Discover (whole stage)") == ["O-7"]
    assert cell_refs(chart, "support", "Run") == []


async def test_gaps_lonely_stages_and_arrows(bot: Bot, db: Database, clock: Clock) -> None:
    await organisation(bot, clock)
    chart = await the_map(db, clock)
    assert chart.gaps() == ["Discover › Analytics", "Run"]
    assert chart.lonely_stages() == []  # Discover: three teams; Build: two; Run: none
    ids = {chip.ref: chip.objective_id for lane in chart.lanes for cell in lane.cells for chip in cell}
    arrows = {(a.child, a.parent) for a in chart.arrows}
    assert arrows == {(ids["O-3"], ids["O-2"]), (ids["O-4"], ids["O-1"])}  # O-5's parent is its own team's
    assert chart.alt() == ("Value chain · 2026-T4: 3 stages, 3 teams; gaps: Discover › Analytics, Run.")
    await say(bot, 'objective add "Ops" --team support --capability run')
    chart = await the_map(db, clock)
    assert chart.gaps() == ["Discover › Analytics"] and chart.lonely_stages() == ["Run"]
    assert "fed by one team only: Run" in chart.alt()


async def test_chips_are_filled_by_confidence_with_progress_and_pace(bot: Bot, db: Database, clock: Clock) -> None:
    await organisation(bot, clock)
    chart = await the_map(db, clock)
    chips = {chip.ref: chip for lane in chart.lanes for cell in lane.cells for chip in cell}
    assert (chips["O-1"].colour, chips["O-1"].progress, chips["O-1"].behind) == ("green", 0.8, False)
    assert (chips["O-2"].colour, chips["O-2"].progress, chips["O-2"].behind) == ("red", 0.0, True)
    assert (chips["O-6"].colour, chips["O-6"].progress, chips["O-6"].behind) == ("grey", None, False)  # no KRs


async def test_a_team_s_slice_is_its_row_beside_the_teams_on_the_same_stages(
    bot: Bot, db: Database, clock: Clock
) -> None:
    await organisation(bot, clock)
    await say(bot, 'team add other "Other"')
    await say(bot, 'objective add "Elsewhere" --team other --capability run')
    chart = await the_map(db, clock, "platform")
    assert [(lane.label, lane.highlighted) for lane in chart.lanes] == [
        ("platform", True),
        ("growth", False),
        ("support", False),  # on Discover's own column: the same stage as platform's Research
    ]
    assert "Run" in [c.name for c in chart.columns]  # every column stays, so the gaps still show


async def test_no_value_chain_yet_is_one_panel(bot: Bot, db: Database, clock: Clock) -> None:
    clock.now = START
    await say(bot, "cycle add 2026-T4 2026-10-05 2027-01-03")
    await say(bot, 'team add a "A"')
    await say(bot, 'objective add "Free" --team a')
    chart = await the_map(db, clock)
    assert chart.empty and [c.name for c in chart.columns] == [UNALIGNED]
    png = render(chart)
    assert png.startswith(PNG) and size(png) == (900, 360)
    reply = await say(bot, "digest all")
    (image,) = [b for b in reply.blocks if isinstance(b, Image)]
    assert image.alt == "Value chain · 2026-T4: no value chain yet; add its stages with capability add."


# the picture --------------------------------------------------------------------------------


def size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def synthetic(stages: int, teams: int, *, title: str = "Objective", per_cell: int = 1) -> ValueChainMap:
    """``teams`` teams each with ``per_cell`` objectives on each of ``stages`` stages, round robin."""
    capabilities = [
        Capability(id=s + 1, workspace_id=1, key=f"s{s}", name=f"Stage {s}", position=s) for s in range(stages)
    ]
    team_rows = [Team(id=t + 1, workspace_id=1, key=f"team{t:03d}", name=f"Team {t}") for t in range(teams)]
    objectives, krs = [], []
    number = 0
    for t in range(teams):
        for k in range(per_cell):
            number += 1
            capability = (t + k) % stages + 1 if t % 7 else None
            objectives.append(Objective(id=number, workspace_id=1, number=number, title=f"{title} {number}",
                                        team_id=t + 1, owner_id=1, cycle_id=1, capability_id=capability,
                                        parent_id=number - per_cell if t % 3 == 1 and number > per_cell else None))  # fmt: skip
            krs.append(KrFigures(number, number, 1, 0.0, 100.0, float(number % 100), number % 11))
    parents = {o.id: o for o in objectives if o.id is not None}
    return build("Value chain · synthetic", capabilities=capabilities, teams=team_rows, objectives=objectives,
                 krs=krs, parents=parents, elapsed=0.5)  # fmt: skip


@pytest.mark.parametrize(("stages", "teams"), [(3, 3), (12, 30), (20, 200)])
def test_the_picture_fits_a_chat_client_at_any_size(stages: int, teams: int) -> None:
    chart = synthetic(stages, teams, per_cell=2)
    png = render(chart)
    width, height = size(png)
    assert width <= WIDTH and height <= HEIGHT
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (height, width)  # decodes, at the size it says
    box = layout(chart)
    assert box.height == height and box.bottom <= height - LEGEND_H - MARGIN  # no lane runs under the legend
    assert len(chart.lanes) <= MAX_LANES
    if teams > MAX_LANES:
        assert chart.grouped == teams and chart.lanes[0].label.endswith(tuple("0123456789"))
        assert sum(len(lane.team_ids) for lane in chart.lanes) == teams  # nobody left out
        assert not chart.arrows
    else:
        assert not chart.grouped and chart.arrows


def test_titles_that_could_break_the_layout_do_not() -> None:
    plain = synthetic(4, 5)
    nasty = [
        "🚀 Launch 🎉 " * 10,
        "שלום עולם مرحبا بالعالم",
        "<b>&amp; R&D</b> <script>",
        "x" * 200,
        "$\\frac{1}{0}$ costs $5 and $6",
        "tab\there\nnewline\u0000null",
    ]
    for title in nasty:
        png = render(synthetic(4, 5, title=title))
        assert size(png) == size(render(plain)), title
    assert clean("🚀 Launch 🎉") == "Launch"
    assert wrap("11. Customer success", 120) == "11. Customer\nsuccess"
    assert clean("a\tb\nc") == "a b c"
    assert clean("שלום & <R&D>") == "שלום & <R&D>"


def test_text_is_never_smaller_than_a_chat_client_shows() -> None:
    assert MIN_TEXT_PX >= 14
    box = layout(synthetic(12, 30, per_cell=3))
    assert box.per_cell == 1 and box.chip_h >= MIN_TEXT_PX + 6  # one line of 14 px text in every chip


# cost ---------------------------------------------------------------------------------------


async def test_a_second_digest_all_draws_nothing_until_a_write(bot: Bot, clock: Clock) -> None:
    await organisation(bot, clock)
    await say(bot, "help", user="bob")  # bob is known: his first word was a write
    first = [b for b in (await say(bot, "digest all")).blocks if isinstance(b, Image)]
    builds = bot.reads.builds
    again = [b for b in (await say(bot, "digest all", user="bob")).blocks if isinstance(b, Image)]
    assert again[0] is first[0] and bot.reads.builds == builds  # kept: not drawn again
    tree = [b for b in (await say(bot, "tree")).blocks if isinstance(b, Image)]
    assert tree[0] is first[0]  # the same picture for the same organisation
    await say(bot, "checkin KR-1 90 9")
    after = [b for b in (await say(bot, "digest all")).blocks if isinstance(b, Image)]
    assert after[0] is not first[0] and after[0].png != first[0].png


async def test_the_map_is_drawn_off_the_event_loop() -> None:
    """While a large map is drawn, the loop keeps running: it ticks many times before the
    picture is ready (drawn on the loop, it would tick once, after)."""
    drawing = asyncio.create_task(render_async(synthetic(20, 200, per_cell=2)))
    ticks, deadline = 0, time.monotonic() + 30
    while not drawing.done() and time.monotonic() < deadline:  # bounded: 30 s
        await asyncio.sleep(0.002)
        ticks += 1
    assert (await drawing).startswith(PNG) and ticks >= 10, ticks
