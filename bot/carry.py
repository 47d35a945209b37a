"""The end of a cycle: closing it, and carrying its unfinished work into the next one.

A key result is unfinished when its score (the owner's grade, else its progress) is under 1.0.
Each objective with an unfinished key result is copied into the next cycle with only those key
results; a copy starts where the original stopped, keeps its target, owner, unit, team,
capability and kind, and remembers what it came from (``carried_from_id``). Its parent is the
carried copy of the old parent when that was carried too. The old cycle is left as it was.
Everything happens in the command's one transaction: nothing is half carried.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.context import Ctx
from bot.errors import UserError
from bot.scales import CONFIDENCE_START, quarter_named
from bot.views import kr_score
from store.models import Cycle, KeyResult, Objective, row_id


@dataclass(frozen=True)
class Carried:
    objectives: list[tuple[Objective, Objective]]  # (original, copy)
    key_results: list[tuple[KeyResult, KeyResult]]


def unfinished(kr: KeyResult) -> bool:
    return not kr.archived and kr_score(kr) < 1.0


async def destination(ctx: Ctx, closing: Cycle, name: str) -> Cycle:
    """The open cycle ``name`` work is carried to, created when it is a quarter (``2027-Q1``)."""
    if name.lower() == closing.name.lower():
        raise UserError(
            f"Cycle {closing.name} cannot carry its work over to itself; name the next cycle, like 2027-Q1."
        )
    target = await ctx.repo.cycle(name)
    if target is None:
        days = quarter_named(name)
        if days is None:
            raise UserError(
                f'There is no cycle "{name}"; add it with cycle add <name> <start> <end>, or name a quarter like 2027-Q1.'
            )
        target = await ctx.repo.add(Cycle(workspace_id=ctx.repo.workspace_id, name=name.upper(), starts_on=days[0],
                                          ends_on=days[1]))  # fmt: skip
    if target.closed:
        raise UserError(f"Cycle {target.name} is closed; carry the work over to an open cycle.")
    if target.ends_on < closing.starts_on:
        raise UserError(
            f"Cycle {target.name} ends ({target.ends_on}) before {closing.name} starts ({closing.starts_on}); "
            "carry work forward, to a later cycle."
        )
    return target


async def carry_over(ctx: Ctx, closing: Cycle, target: Cycle) -> Carried:
    """Copy every objective of ``closing`` with unfinished key results into ``target``."""
    objectives = [o for o in await ctx.repo.objectives(cycle_id=row_id(closing)) if not o.archived]
    krs = await ctx.repo.key_results(objective_ids=[row_id(o) for o in objectives]) if objectives else []
    open_krs: dict[int, list[KeyResult]] = {}
    for kr in krs:
        if unfinished(kr):
            open_krs.setdefault(kr.objective_id, []).append(kr)
    copies: dict[int, Objective] = {}
    carried = Carried([], [])
    for old in sorted((o for o in objectives if row_id(o) in open_krs), key=lambda o: o.number):
        new = await ctx.repo.add(
            Objective(workspace_id=ctx.repo.workspace_id, number=await ctx.repo.next_number("objective"),
                      title=old.title, team_id=old.team_id, owner_id=old.owner_id, cycle_id=row_id(target),
                      capability_id=old.capability_id, kind=old.kind, created_at=ctx.now, carried_from_id=old.id)
        )  # fmt: skip
        copies[row_id(old)] = new
        carried.objectives.append((old, new))
        for kr in open_krs[row_id(old)]:
            start = kr.current if kr.current != kr.target else kr.start  # a start at the target measures nothing
            copy = await ctx.repo.add(
                KeyResult(workspace_id=ctx.repo.workspace_id, number=await ctx.repo.next_number("kr"),
                          objective_id=row_id(new), title=kr.title, owner_id=kr.owner_id, start=start,
                          target=kr.target, current=kr.current, unit=kr.unit, confidence=CONFIDENCE_START,
                          created_at=ctx.now, updated_at=ctx.now, carried_from_id=kr.id)
            )  # fmt: skip
            carried.key_results.append((kr, copy))
    for old, new in carried.objectives:
        if old.parent_id is not None and old.parent_id in copies:
            new.parent_id = row_id(copies[old.parent_id])
            await ctx.repo.save(new)
    return carried
