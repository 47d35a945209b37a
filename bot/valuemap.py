"""The value-chain map a command answers with: read from the store, drawn (bot/mapchart.py) off
the event loop, and kept until the workspace's next write."""

from __future__ import annotations

from collections.abc import Sequence

from bot.context import Ctx
from bot.messages import Image
from bot.progress import CycleClock
from bot.valuechain import ValueChainMap, build
from store import reports
from store.models import Cycle, Team, row_id


async def map_image(ctx: Ctx, cycle: Cycle, *focus: Team) -> Image:
    """The map of ``cycle`` (the ``focus`` teams' slice, given some) as a picture, drawn off the
    event loop and kept until the workspace's next write (the day is in the key: who is behind
    pace moves with it)."""
    key = ("value-chain map", row_id(cycle), tuple(sorted(row_id(t) for t in focus)), ctx.today)
    if ctx.cache is None:
        return await _draw(ctx, cycle, focus)
    return await ctx.cache.get(ctx.workspace, key, lambda: _draw(ctx, cycle, focus))


async def _draw(ctx: Ctx, cycle: Cycle, focus: Sequence[Team]) -> Image:
    from bot.mapchart import render_async  # matplotlib loads with the first picture

    chart = await load_map(ctx, cycle, *focus)
    name = "value-chain.png" if not focus else f"value-chain-{focus[0].key if len(focus) == 1 else 'mine'}.png"
    return Image(png=await render_async(chart), alt=chart.alt(), name=name)


async def load_map(ctx: Ctx, cycle: Cycle, *focus: Team) -> ValueChainMap:
    """The map of the cycle's active objectives: five statements, whatever the organisation's size."""
    repo = ctx.repo
    objectives = await reports.cycle_objectives(repo, row_id(cycle))
    parents = {row_id(o): o for o in objectives}
    if missing := [o.parent_id for o in objectives if o.parent_id and o.parent_id not in parents]:
        parents |= {row_id(o): o for o in await repo.objectives(ids=missing, include_archived=True)}
    clock = CycleClock(cycle, ctx.today)
    whose = "" if not focus else f" · team {focus[0].key}" if len(focus) == 1 else " · my teams"
    return build(
        f"Value chain · {cycle.name}{whose}",
        capabilities=await repo.capabilities(),
        teams=await repo.teams(),
        objectives=objectives,
        krs=await reports.cycle_kr_figures(repo, row_id(cycle)),
        parents=parents,
        elapsed=None if clock.upcoming else clock.elapsed,
        focus=focus,
    )
