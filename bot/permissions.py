"""Who may do what.

Anyone in a workspace reads its OKRs. Changing a key result (check-in, grade, archive) is for
its owner, its objective's owner, the team's lead and workspace admins; changing an objective
is for its owner, the team's lead and admins.
"""

from __future__ import annotations

from bot.context import Ctx
from bot.errors import Forbidden
from store.models import KeyResult, Objective


async def _lead_id(ctx: Ctx, objective: Objective) -> int | None:
    team = await ctx.repo.team_by_id(objective.team_id)
    return team.lead_id if team else None


async def may_change_objective(ctx: Ctx, objective: Objective) -> bool:
    me = ctx.actor
    return me.is_admin or me.id == objective.owner_id or me.id == await _lead_id(ctx, objective)


async def may_change_key_result(ctx: Ctx, kr: KeyResult, objective: Objective) -> bool:
    return ctx.actor.id == kr.owner_id or await may_change_objective(ctx, objective)


async def require_key_result(ctx: Ctx, kr: KeyResult, objective: Objective, action: str) -> None:
    if not await may_change_key_result(ctx, kr, objective):
        raise Forbidden(
            f"Only the owner of KR-{kr.number}, the owner of O-{objective.number}, the team lead "
            f"or a workspace admin may {action} it."
        )


async def require_objective(ctx: Ctx, objective: Objective, action: str) -> None:
    if not await may_change_objective(ctx, objective):
        raise Forbidden(f"Only the owner of O-{objective.number}, the team lead or a workspace admin may {action} it.")


def require_admin(ctx: Ctx, action: str) -> None:
    if not ctx.actor.is_admin:
        raise Forbidden(f"Only a workspace admin may {action}.")
