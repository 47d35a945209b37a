"""Reading OKRs: list and show. Anyone in the workspace may read."""

from __future__ import annotations

from bot.context import Ctx
from bot.grammar import KEY, Arg, Ref, command
from bot.messages import Actions, Block, Context, Fields, Header, Message, Text, UserText, spans
from bot.scales import elapsed, number, pace, progress
from bot.views import (
    Board,
    Catalog,
    average_progress,
    checkin_button,
    confidence_text,
    kr_line,
    mention,
    objective_blocks,
    objective_summary,
    objectives_view,
)
from store.models import KeyResult, Objective, row_id

HISTORY_SHOWN = 10


def _view(title: str, objectives: list[Objective], board: Board, empty: str) -> Message:
    return Message.of(*objectives_view(title, objectives, board.catalog, empty=empty))


@command("list", "[mine | team <key> | capability <key> | all]", "List objectives and key results (yours by default).")
@command("list mine", "", "Your objectives and the objectives of your key results.")
async def list_mine(ctx: Ctx) -> Message:
    board, me = await ctx.board(), ctx.actor.id
    objectives = [
        o for o in board.objectives
        if o.owner_id == me or any(kr.owner_id == me for kr in board.catalog.krs.get(row_id(o), ()))
    ]  # fmt: skip
    empty = 'You own no objectives or key results yet: objective add "<title>" --team <key>.'
    return _view("Your OKRs", objectives, board, empty)


@command("list team", "<key>", "A team's objectives.", Arg("key", KEY))
async def list_team(ctx: Ctx, key: str) -> Message:
    board = await ctx.board()
    team = board.team(key) or await ctx.team(key)
    objectives = [o for o in board.objectives if o.team_id == team.id]
    return _view(f"Team {key}", objectives, board, f"Team {key} has no objectives in an open cycle yet.")


@command(
    "list capability", "<key>", "The objectives that support a capability (and its sub-capabilities).", Arg("key", KEY)
)
async def list_capability(ctx: Ctx, key: str) -> Message:
    board = await ctx.board()
    capability = board.capability(key) or await ctx.capability(key)
    ids = {c.id for c in board.catalog.capabilities.values() if capability.id in (c.id, c.parent_id)}
    objectives = [o for o in board.objectives if o.capability_id in ids]
    return _view(f"Capability {key}", objectives, board, f"No objective supports {key} yet.")


@command("list all", "", "Every objective in the open cycles.")
async def list_all(ctx: Ctx) -> Message:
    board = await ctx.board()
    empty = 'No objectives yet: objective add "<title>" --team <key>.'
    return _view("All OKRs", board.objectives, board, empty)


@command("show", "O-n | KR-n", "Details and recent check-ins.", Arg("ref", Ref("O", "KR")))
async def show(ctx: Ctx, ref: tuple[str, int]) -> Message:
    if ref[0] == "O":
        return await _show_objective(ctx, await ctx.objective(ref[1]))
    kr = await ctx.key_result(ref[1])
    objective = await ctx.objective_by_id(kr.objective_id)
    catalog = await Catalog.load(ctx.repo, [objective])
    owner = await ctx.repo.member(kr.owner_id)
    cycle = catalog.cycles[objective.cycle_id]
    share = elapsed(cycle.starts_on, cycle.ends_on, ctx.today)
    value = progress(kr.start, kr.target, kr.current)
    fields: list[tuple[str, tuple]] = [
        ("Objective", spans(f"O-{objective.number} ", UserText(objective.title))),
        ("Owner", (mention(owner),) if owner else ("nobody",)),
        ("Start → target", (f"{number(kr.start)} → {number(kr.target)} {kr.unit}".rstrip(),)),
        ("Confidence", (confidence_text(kr.confidence),)),
        (
            "Pace",
            (f"{pace(value, share)} ({round(value * 100)}% done, {round(share * 100)}% of {cycle.name} elapsed)",),
        ),
    ]
    if kr.score is not None:
        fields.append(("Score", (f"{kr.score:.2f}",)))
    if kr.archived:
        fields.append(("Status", ("archived",)))
    blocks: list[Block] = [
        Header(spans(f"KR-{kr.number} ", UserText(kr.title))),
        kr_line(kr, catalog.person(kr.owner_id)),
        Fields(tuple(fields)),
        *await _carried(ctx, kr, "KR"),
    ]
    history = await ctx.repo.check_ins(row_id(kr), limit=HISTORY_SHOWN)
    people = {m.id: m for m in await ctx.repo.members(list({c.member_id for c in history}))}
    blocks.append(Text((f"Recent check-ins ({len(history)})" if history else "No check-ins yet.",), strong=True))
    for entry in history:
        who = people.get(entry.member_id)
        note = spans(" — ", UserText(entry.note)) if entry.note else ()
        via = f" via API token {entry.source.removeprefix('api:')}" if entry.source.startswith("api:") else ""
        blocks.append(
            Context(
                spans(
                    f"{entry.created_at:%Y-%m-%d} · {number(entry.value)} · confidence {entry.confidence} · ",
                    mention(who) if who else "?",
                    via,
                    note,
                )
            )
        )
    if not kr.archived and not cycle.closed:
        blocks.append(Actions((checkin_button(kr),)))
    return Message.of(*blocks)


async def _carried(ctx: Ctx, row: Objective | KeyResult, prefix: str) -> list[Block]:
    """Where a carried-over objective or key result came from, and where it went."""
    came, went = await ctx.repo.carry_links(row)
    lines = [f"Carried from {prefix}-{n} of {cycle}" for n, cycle in came]
    lines += [f"Carried to {prefix}-{n} of {cycle}" for n, cycle in went]
    return [Context(("; ".join(lines) + ".",))] if lines else []


async def _show_objective(ctx: Ctx, objective: Objective) -> Message:
    catalog = await Catalog.load(ctx.repo, [objective])
    blocks: list[Block] = [Header(spans(f"O-{objective.number} ", UserText(objective.title)))]
    blocks.extend(objective_blocks(objective, catalog)[1:])
    blocks.extend(await _carried(ctx, objective, "O"))
    avg = average_progress(catalog.krs.get(row_id(objective), []))
    if avg is not None:
        blocks.append(Context((f"Average progress {round(avg * 100)}%",)))
    children = [o for o in await ctx.repo.objectives() if o.parent_id == objective.id]
    if children:
        blocks.append(Text(("Supported by",), strong=True))
        child_catalog = await Catalog.load(ctx.repo, children)
        for child in children:
            blocks.append(
                Context(
                    spans(f"O-{child.number} ", UserText(child.title), " · ", objective_summary(child, child_catalog))
                )
            )
    return Message.of(*blocks)
