"""cycle review: how a cycle ended, for a team or the whole organisation."""

from __future__ import annotations

from bot.context import Ctx
from bot.errors import UsageError, UserError
from bot.grammar import CYCLE, KEY, REGISTRY, Arg, Token, Word, command
from bot.messages import Message
from bot.review import default_cycle, review
from store import reports
from store.models import row_id

_SCOPES = frozenset({"all", "team"})


class ReviewedCycle(Word):
    """A cycle's name, unless the word says the scope: ``cycle review all`` names no cycle."""

    def looks_like(self, token: Token) -> bool:
        return token.quoted or token.text.lower() not in _SCOPES


REVIEWED = ReviewedCycle(CYCLE.placeholder, CYCLE.pattern.pattern, CYCLE.problem, lower=False)
SCOPE = Word("team <key> | all", r"all|team", 'After the cycle\'s name comes team <key> or all, not "{}".')


@command(
    "cycle review",
    "[<name>] [team <key> | all]",
    "How a cycle ended: scores, committed delivered or missed, aspirational against 0.7, participation.",
    Arg("name", REVIEWED, required=False),
    Arg("scope", SCOPE, required=False),
    Arg("key", KEY, required=False),
)
async def cycle_review(ctx: Ctx, name: str | None = None, scope: str | None = None, key: str | None = None) -> Message:
    usage = REGISTRY[("cycle", "review")].usage
    if scope == "team" and key is None:
        raise UsageError("The team's key is missing.", usage)
    if scope != "team" and key is not None:
        raise UsageError(f'"{key}" is more than cycle review takes.', usage)
    cycle = await ctx.cycle(name) if name else await default_cycle(ctx)
    if scope == "all":
        return await review(ctx, cycle, None)
    if key is not None:
        return await review(ctx, cycle, await ctx.team(key))
    mine = set(await reports.team_ids_of(ctx.repo, row_id(ctx.actor)))
    teams = [t for t in await ctx.repo.teams() if t.id in mine]
    if len(teams) > 1:
        keys = ", ".join(t.key for t in teams)
        raise UserError(
            f"You are in teams {keys}; say which with cycle review team <key>, or cycle review all for the organisation."
        )
    return await review(ctx, cycle, teams[0] if teams else None)
