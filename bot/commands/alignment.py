"""tree and digest: how the OKRs line up across the value chain, and how they are doing."""

from __future__ import annotations

from bot.alignment import organisation, tree
from bot.context import Ctx
from bot.digest import current_cycle, team_digest
from bot.errors import UserError
from bot.grammar import KEY, Arg, command
from bot.messages import Context, Header, Message
from bot.valuemap import map_image
from store import reports
from store.models import row_id


@command(
    "tree",
    "[team <key> | mine]",
    "The alignment: capabilities in value-chain order, the objectives under each, parents.",
)
async def tree_all(ctx: Ctx) -> Message:
    return await tree(ctx, None)


@command("tree team", "<key>", "One team's objectives on the value chain.", Arg("key", KEY))
async def tree_team(ctx: Ctx, key: str) -> Message:
    return await tree(ctx, await ctx.team(key))


@command("tree mine", "", "The value chain of my teams, beside the teams that feed the same stages.")
async def tree_mine(ctx: Ctx) -> Message:
    mine = set(await reports.team_ids_of(ctx.repo, row_id(ctx.actor)))
    teams = sorted((t for t in await ctx.repo.teams() if t.id in mine), key=lambda t: t.key)
    if not teams:
        raise UserError("You are in no team yet: team join <key> first, or tree for the whole organisation.")
    cycle = await current_cycle(ctx)
    keys = ", ".join(t.key for t in teams)
    return Message.of(
        Header((f"Value chain · {cycle.name} · your teams",)),
        Context((f"Your teams ({keys}) first, then the teams that feed the same stages.",)),
        await map_image(ctx, cycle, *teams),
    )


@command("digest", "[team <key> | all]", "Post a digest to this channel now (your team's, or the organisation's).")
async def digest_default(ctx: Ctx) -> Message:
    mine = set(await reports.team_ids_of(ctx.repo, row_id(ctx.actor)))
    teams = [t for t in await ctx.repo.teams() if t.id in mine]
    if len(teams) == 1:
        return await team_digest(ctx, teams[0])
    if not teams:
        return await organisation(ctx)
    keys = ", ".join(t.key for t in teams)
    raise UserError(f"You are in teams {keys}; say which with digest team <key>, or digest all for the organisation.")


@command("digest team", "<key>", "A team's digest.", Arg("key", KEY))
async def digest_team(ctx: Ctx, key: str) -> Message:
    return await team_digest(ctx, await ctx.team(key))


@command("digest all", "", "The organisation: every stage of the value chain and every team, links and gaps.")
async def digest_all(ctx: Ctx) -> Message:
    return await organisation(ctx)
