"""Teams, capabilities (the value chain) and cycles."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from bot.carry import carry_over, destination
from bot.context import Ctx
from bot.errors import UserError
from bot.grammar import CYCLE, KEY, Arg, Date, Flag, Integer, Title, command
from bot.messages import Block, Context, Fields, Header, Message, Text, UserText, spans
from bot.permissions import require_admin
from bot.views import kr_score, mention
from store.models import Capability, Cycle, Team, TeamMembership, row_id

NAME = Title('"<name>"', "name")


@command(
    "team add", '<key> "<name>"', "Create a team; you become its lead.", Arg("key", KEY), Arg("name", NAME), writes=True
)
async def team_add(ctx: Ctx, key: str, name: str) -> Message:
    if await ctx.repo.team(key) is not None:
        raise UserError(f'A team "{key}" already exists; pick another key or `team join {key}`.')
    team = await ctx.repo.add(Team(workspace_id=ctx.repo.workspace_id, key=key, name=name, lead_id=ctx.actor.id))
    await ctx.repo.add(
        TeamMembership(workspace_id=ctx.repo.workspace_id, team_id=row_id(team), member_id=row_id(ctx.actor))
    )
    return Message.of(Text(spans("Created team ", key, " (", UserText(name), "); you are its lead.")))


@command("team join", "<key>", "Join a team.", Arg("key", KEY), writes=True)
async def team_join(ctx: Ctx, key: str) -> Message:
    team = await ctx.team(key)
    if await ctx.repo.membership(row_id(team), row_id(ctx.actor)) is not None:
        raise UserError(f"You are already in team {key}.")
    await ctx.repo.add(
        TeamMembership(workspace_id=ctx.repo.workspace_id, team_id=row_id(team), member_id=row_id(ctx.actor))
    )
    return Message.of(Text(spans("You joined team ", key, " (", UserText(team.name), ").")))


@command("team leave", "<key>", "Leave a team.", Arg("key", KEY), writes=True)
async def team_leave(ctx: Ctx, key: str) -> Message:
    team = await ctx.team(key)
    membership = await ctx.repo.membership(row_id(team), row_id(ctx.actor))
    if membership is None:
        raise UserError(f"You are not in team {key}.")
    await ctx.repo.delete(membership)
    return Message.of(Text(spans("You left team ", key, ".")))


@command("team list", "", "The teams, their leads and members.")
async def team_list(ctx: Ctx) -> Message:
    teams = await ctx.repo.teams()
    if not teams:
        return Message.of(Text(('No teams yet: create one with team add <key> "<name>".',)))
    rows = []
    for team in teams:
        members = await ctx.repo.members(await ctx.repo.team_member_ids(row_id(team)))
        lead = await ctx.repo.member(team.lead_id) if team.lead_id else None
        who = spans(*[spans(", " if i else "", mention(m)) for i, m in enumerate(members)]) or ("nobody yet",)
        rows.append((team.key, spans(UserText(team.name), " · lead ", mention(lead) if lead else "none", " · ", who)))
    return Message.of(Header(("Teams",)), Fields(tuple(rows)))


@command(
    "capability add",
    '<key> "<name>" [--position N] [--parent <key>]',
    "Add a stage of the value chain, or a sub-capability of one.",
    Arg("key", KEY),
    Arg("name", NAME),
    writes=True,
    position=Flag(Integer("N", "position", 1, 1000)),
    parent=Flag(KEY),
)
async def capability_add(
    ctx: Ctx, key: str, name: str, position: int | None = None, parent: str | None = None
) -> Message:
    if await ctx.repo.capability(key) is not None:
        raise UserError(f'A capability "{key}" already exists; `capability list` shows them.')
    parent_row = await ctx.capability(parent) if parent else None
    if parent_row is not None and parent_row.parent_id is not None:
        raise UserError(
            f"{parent} is itself a sub-capability; a sub-capability's parent must be a stage of the value chain."
        )
    parent_id = parent_row.id if parent_row else None
    siblings = [c for c in await ctx.repo.capabilities() if c.parent_id == parent_id]
    if position is None or position > len(siblings):
        position = len(siblings) + 1
    for index, sibling in enumerate(siblings, start=1):  # renumber 1..n, leaving room at `position`
        sibling.position = index if index < position else index + 1
        await ctx.repo.save(sibling)
    await ctx.repo.add(
        Capability(workspace_id=ctx.repo.workspace_id, key=key, name=name, position=position, parent_id=parent_id)
    )
    where = f"sub-capability {position} of {parent}" if parent else f"stage {position} of the value chain"
    return Message.of(Text(spans("Added capability ", key, " (", UserText(name), f") as {where}.")))


def value_chain(capabilities: list[Capability]) -> list[tuple[Capability, list[Capability]]]:
    """Stages in order, each with its sub-capabilities in order."""
    stages = [c for c in capabilities if c.parent_id is None]
    return [(stage, [c for c in capabilities if c.parent_id == stage.id]) for stage in stages]


@command("capability list", "", "The value chain: stages in order, with their sub-capabilities.")
async def capability_list(ctx: Ctx) -> Message:
    chain = value_chain(await ctx.repo.capabilities())
    if not chain:
        return Message.of(
            Text(('No capabilities yet: add the stages of your value chain with capability add <key> "<name>".',))
        )
    blocks: list[Block] = [Header(("Value chain",))]
    for stage, subs in chain:
        blocks.append(Text(spans(f"{stage.position}. ", UserText(stage.name), f" ({stage.key})"), strong=True))
        for sub in subs:
            blocks.append(Context(spans(f"{stage.position}.{sub.position} ", UserText(sub.name), f" ({sub.key})")))
    return Message.of(*blocks)


@command(
    "cycle add",
    "<name> <start YYYY-MM-DD> <end YYYY-MM-DD>",
    "Add a cycle (a quarter, a season).",
    Arg("name", CYCLE),
    Arg("start", Date("<start YYYY-MM-DD>", "start date")),
    Arg("end", Date("<end YYYY-MM-DD>", "end date")),
    writes=True,
)
async def cycle_add(ctx: Ctx, name: str, start: dt.date, end: dt.date) -> Message:
    if end < start:
        raise UserError(f"The cycle ends ({end}) before it starts ({start}); use cycle add <name> <start> <end>.")
    if await ctx.repo.cycle(name) is not None:
        raise UserError(f'A cycle "{name}" already exists; `cycle list` shows them.')
    await ctx.repo.add(Cycle(workspace_id=ctx.repo.workspace_id, name=name, starts_on=start, ends_on=end))
    return Message.of(Text((f"Added cycle {name}, {start} to {end}.",)))


@command("cycle list", "", "The cycles, oldest first; a closed one with its average score.")
async def cycle_list(ctx: Ctx) -> Message:
    cycles = await ctx.repo.cycles()
    if not cycles:
        return Message.of(Text(("No cycles yet: the current quarter is created with the first objective.",)))
    closed = [row_id(c) for c in cycles if c.closed]
    objectives = await ctx.repo.objectives(cycle_ids=closed) if closed else []
    krs = await ctx.repo.key_results(objective_ids=[row_id(o) for o in objectives]) if objectives else []
    cycle_of = {row_id(o): o.cycle_id for o in objectives}
    scores: dict[int, list[float]] = defaultdict(list)
    for kr in krs:
        scores[cycle_of[kr.objective_id]].append(kr_score(kr))

    def line(c: Cycle) -> str:
        text = f"{c.starts_on} to {c.ends_on}"
        if not c.closed:
            return text
        got = scores.get(row_id(c))
        return text + (f" · closed · average score {sum(got) / len(got):.2f}" if got else " · closed")

    return Message.of(Header(("Cycles",)), Fields(tuple((c.name, (line(c),)) for c in cycles)))


@command(
    "cycle close",
    "<name> [--carry-to <next>]",
    "Close a cycle (admins); --carry-to copies its unfinished key results into the next cycle.",
    Arg("name", CYCLE),
    writes=True,
    carry_to=Flag(CYCLE),
)
async def cycle_close(ctx: Ctx, name: str, carry_to: str | None = None) -> Message:
    require_admin(ctx, "close a cycle")
    cycle = await ctx.cycle(name)
    if cycle.closed:
        raise UserError(f"Cycle {cycle.name} is closed already.")
    target = await destination(ctx, cycle, carry_to) if carry_to else None
    cycle.closed = True
    await ctx.repo.save(cycle)
    if target is None:
        return Message.of(Text((f"Closed cycle {cycle.name}.",)), Context(("`cycle review` shows how it went.",)))
    carried = await carry_over(ctx, cycle, target)
    if not carried.objectives:
        return Message.of(
            Text(
                (f"Closed cycle {cycle.name}; every key result was finished, so nothing was carried to {target.name}.",)
            )
        )
    count = len(carried.key_results)
    blocks: list[Block] = [
        Text((f"Closed cycle {cycle.name} and carried {count} unfinished key result{'s' if count != 1 else ''} "
              f"of {len(carried.objectives)} objective{'s' if len(carried.objectives) != 1 else ''} to {target.name}:",)),
    ]  # fmt: skip
    for old, new in carried.objectives:
        moved = ", ".join(f"KR-{k.number} → KR-{c.number}" for k, c in carried.key_results if c.objective_id == new.id)
        blocks.append(Context(spans(f"O-{old.number} → O-{new.number} ", UserText(new.title), f" ({moved})")))
    return Message.of(*blocks)
