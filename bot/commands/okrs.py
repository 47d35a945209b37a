"""Objectives and key results: create, grade, archive."""

from __future__ import annotations

from bot.audit import from_outside, record
from bot.commands.checkin import my_key_results
from bot.context import Ctx
from bot.errors import UsageError, UserError
from bot.grading import grade_one, grading_form, verdict
from bot.grammar import (
    CYCLE,
    KEY,
    REGISTRY,
    UNIT,
    Arg,
    Flag,
    MemberRef,
    Number,
    Person,
    Ref,
    Score,
    Switch,
    Title,
    command,
)
from bot.messages import Context, Message, Text, UserText, spans
from bot.permissions import require_key_result, require_objective
from bot.scales import CONFIDENCE_START, number
from bot.views import kr_detail, mention
from store.models import KeyResult, Objective, row_id


@command(
    "objective add",
    '"<title>" --team <key> [--capability <key>] [--parent O-n] [--aspirational] [--cycle <name>]',
    "Create an objective for a team; you own it.",
    Arg("title", Title()),
    writes=True,
    team=Flag(KEY, required=True),
    capability=Flag(KEY),
    parent=Flag(Ref("O")),
    aspirational=Flag(Switch()),
    cycle=Flag(CYCLE),
)
async def objective_add(
    ctx: Ctx,
    title: str,
    team: str,
    capability: str | None = None,
    parent: tuple[str, int] | None = None,
    aspirational: bool = False,
    cycle: str | None = None,
) -> Message:
    team_row = await ctx.team(team)
    capability_row = await ctx.capability(capability) if capability else None
    parent_row = await ctx.objective(parent[1]) if parent else None
    if parent_row is not None and parent_row.archived:
        raise UserError(f"O-{parent_row.number} is archived; choose an active parent objective.")
    cycle_row = await ctx.cycle(cycle) if cycle else await ctx.current_cycle(create=True)
    if cycle_row.closed:
        raise UserError(f"Cycle {cycle_row.name} is closed; add the objective to an open cycle.")
    objective = await ctx.repo.add(
        Objective(
            workspace_id=ctx.repo.workspace_id,
            number=await ctx.repo.next_number("objective"),
            title=title,
            team_id=row_id(team_row),
            owner_id=row_id(ctx.actor),
            cycle_id=row_id(cycle_row),
            capability_id=capability_row.id if capability_row else None,
            parent_id=parent_row.id if parent_row else None,
            kind="aspirational" if aspirational else "committed",
            created_at=ctx.now,
        )
    )
    ref = f"O-{objective.number}"
    return Message.of(
        Text(spans(f"Created {ref} ", UserText(title), f" for team {team} in {cycle_row.name} ({objective.kind}).")),
        Context((f'Add key results with kr add {ref} "<title>" --target <num>.',)),
    )


@command(
    "kr add",
    'O-n "<title>" --target <num> [--start <num>] [--unit <text>] [--owner @user]',
    "Add a key result to an objective.",
    Arg("objective", Ref("O")),
    Arg("title", Title()),
    writes=True,
    target=Flag(Number("<num>", "target"), required=True),
    start=Flag(Number("<num>", "start")),
    unit=Flag(UNIT),
    owner=Flag(MemberRef()),
)
async def kr_add(
    ctx: Ctx,
    objective: tuple[str, int],
    title: str,
    target: float,
    start: float = 0.0,
    unit: str = "",
    owner: Person | None = None,
) -> Message:
    if target == start:
        raise UserError(
            f"The target ({number(target)}) equals the start, so there is nothing to measure; "
            'use kr add O-n "<title>" --target <num> [--start <num>] with two different numbers.'
        )
    parent = await ctx.objective(objective[1])
    if parent.archived:
        raise UserError(f"O-{parent.number} is archived; key results go on active objectives.")
    cycle = await ctx.repo.cycle_by_id(parent.cycle_id)
    if cycle is not None and cycle.closed:
        raise UserError(
            f"Cycle {cycle.name} of O-{parent.number} is closed; add key results to an objective of an open cycle."
        )
    owner_row = await ctx.member(owner.external_id, owner.name) if owner else ctx.actor
    kr = await ctx.repo.add(
        KeyResult(
            workspace_id=ctx.repo.workspace_id,
            number=await ctx.repo.next_number("kr"),
            objective_id=row_id(parent),
            title=title,
            owner_id=row_id(owner_row),
            start=start,
            target=target,
            current=start,
            unit=unit,
            confidence=CONFIDENCE_START,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
    )
    return Message.of(
        Text(
            spans(
                f"Added KR-{kr.number} ",
                UserText(title),
                f" to O-{parent.number}: {kr_detail(kr)}, owner ",
                mention(owner_row),
                ".",
            )
        ),
        Context((f"Check in with checkin KR-{kr.number} <value> [<confidence 0-10>] [note].",)),
    )


@command(
    "grade",
    "KR-n <0.0-1.0>",
    "Set a key result's final score; alone, a form to grade all of yours.",
    Arg("kr", Ref("KR"), required=False),
    Arg("score", Score(), required=False),
    writes=lambda values: values.get("kr") is not None,  # alone, it only shows the form
)
async def grade(ctx: Ctx, kr: tuple[str, int] | None = None, score: float | None = None) -> Message:
    if kr is None:
        krs = await my_key_results(ctx)
        if not krs:
            return Message.of(Text(("You own no active key results to grade; `list all` shows everyone's.",)))
        return Message.of(grading_form(krs))
    if score is None:
        raise UsageError(f"The score for KR-{kr[1]} is missing.", REGISTRY[("grade",)].usage)
    row, objective = await grade_one(ctx, kr[1], score)
    if row.owner_id != ctx.actor.id and not from_outside(ctx.command):  # the CLI and the API are recorded anyway
        await record(ctx, "grade", f"KR-{row.number}")
    return Message.of(
        Text(spans(f"Graded KR-{row.number} ", UserText(row.title), f": {score:.2f}{verdict(objective, score)}."))
    )


@command("archive", "O-n | KR-n", "Archive an objective or a key result.", Arg("ref", Ref("O", "KR")), writes=True)
async def archive(ctx: Ctx, ref: tuple[str, int]) -> Message:
    prefix, num = ref
    if prefix == "O":
        objective = await ctx.objective(num)
        await require_objective(ctx, objective, "archive")
        if objective.archived:
            raise UserError(f"O-{num} is already archived.")
        objective.archived = True
        await ctx.repo.save(objective)
        for kr in await ctx.repo.key_results(objective_ids=[row_id(objective)]):
            kr.archived = True
            await ctx.repo.save(kr)
        return Message.of(Text(spans(f"Archived O-{num} ", UserText(objective.title), " and its key results.")))
    row = await ctx.key_result(num)
    objective = await ctx.objective_by_id(row.objective_id)
    await require_key_result(ctx, row, objective, "archive")
    if row.archived:
        raise UserError(f"KR-{num} is already archived.")
    row.archived = True
    await ctx.repo.save(row)
    return Message.of(Text(spans(f"Archived KR-{num} ", UserText(row.title), ".")))
