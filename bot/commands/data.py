"""Export (CSV and JSON) and the CSV import that reads the export's own format."""

from __future__ import annotations

import csv
import io
import json

from bot.context import Ctx
from bot.csvfile import COLUMNS, ImportPlan, read_plan
from bot.errors import UserError
from bot.grammar import command
from bot.messages import File, Message, Text
from bot.scales import quarter_of
from store.models import Capability, Cycle, KeyResult, Member, Objective, Team, TeamMembership


async def _everything(ctx: Ctx):  # type: ignore[no-untyped-def]
    repo = ctx.repo
    objectives = await repo.objectives(include_archived=True)
    krs = await repo.key_results(include_archived=True)
    return (
        {m.id: m for m in await repo.members()},
        {t.id: t for t in await repo.teams()},
        {c.id: c for c in await repo.capabilities()},
        {c.id: c for c in await repo.cycles()},
        objectives,
        krs,
    )


def _flag(value: bool) -> str:
    return "yes" if value else ""


def _exact(value: float) -> str:
    """A number written so it reads back equal: 40, 40.25, 1234567.5, 0.00012345.

    Not :func:`bot.scales.number`, which rounds for display (1.23457e+06) and would lose data.
    """
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


async def export_csv(ctx: Ctx) -> str:
    members, teams, capabilities, cycles, objectives, krs = await _everything(ctx)
    by_objective: dict[int, list[KeyResult]] = {}
    for kr in krs:
        by_objective.setdefault(kr.objective_id, []).append(kr)
    numbers = {o.id: o.number for o in objectives}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for o in objectives:
        cycle, team = cycles[o.cycle_id], teams[o.team_id]
        capability = capabilities.get(o.capability_id) if o.capability_id else None
        base = {
            "cycle": cycle.name, "cycle_start": cycle.starts_on.isoformat(), "cycle_end": cycle.ends_on.isoformat(),
            "team": team.key, "team_name": team.name,
            "objective": f"O-{o.number}", "objective_title": o.title, "objective_owner": members[o.owner_id].external_id,
            "kind": o.kind, "capability": capability.key if capability else "",
            "capability_name": capability.name if capability else "",
            "parent": f"O-{numbers[o.parent_id]}" if o.parent_id in numbers else "",
            "objective_archived": _flag(o.archived),
        }  # fmt: skip
        rows = by_objective.get(o.id, []) or [None]
        for kr in rows:
            row = dict(base)
            if kr is not None:
                row.update({
                    "kr": f"KR-{kr.number}", "kr_title": kr.title, "kr_owner": members[kr.owner_id].external_id,
                    "unit": kr.unit, "start": _exact(kr.start), "target": _exact(kr.target),
                    "current": _exact(kr.current), "confidence": str(kr.confidence),
                    "score": "" if kr.score is None else _exact(kr.score), "kr_archived": _flag(kr.archived),
                })  # fmt: skip
            writer.writerow(row)
    return out.getvalue()


async def export_json(ctx: Ctx) -> str:
    members, teams, capabilities, cycles, objectives, krs = await _everything(ctx)
    numbers = {o.id: o.number for o in objectives}
    kr_numbers = {kr.id: kr.number for kr in krs}

    def who(member_id: int | None) -> str | None:
        return members[member_id].external_id if member_id in members else None

    document = {
        "format": "okrbot-export/1",
        "workspace": {"platform": ctx.workspace.platform, "name": ctx.workspace.name or ctx.workspace.external_id},
        "members": [
            {"id": m.external_id, "name": m.display_name, "timezone": m.timezone, "admin": m.is_admin}
            for m in members.values()
        ],
        "teams": [
            {
                "key": t.key,
                "name": t.name,
                "lead": who(t.lead_id),
                "members": [who(i) for i in await ctx.repo.team_member_ids(t.id)],
            }  # type: ignore[arg-type]
            for t in teams.values()
        ],  # fmt: skip
        "capabilities": [
            {
                "key": c.key,
                "name": c.name,
                "position": c.position,
                "parent": capabilities[c.parent_id].key if c.parent_id in capabilities else None,
            }
            for c in capabilities.values()
        ],  # fmt: skip
        "cycles": [
            {"name": c.name, "starts_on": c.starts_on.isoformat(), "ends_on": c.ends_on.isoformat(), "closed": c.closed}
            for c in cycles.values()
        ],
        "objectives": [
            {
                "id": f"O-{o.number}",
                "title": o.title,
                "team": teams[o.team_id].key,
                "owner": who(o.owner_id),
                "cycle": cycles[o.cycle_id].name,
                "kind": o.kind,
                "archived": o.archived,
                "capability": capabilities[o.capability_id].key if o.capability_id in capabilities else None,
                "parent": f"O-{numbers[o.parent_id]}" if o.parent_id in numbers else None,
            }
            for o in objectives
        ],  # fmt: skip
        "key_results": [
            {
                "id": f"KR-{kr.number}",
                "objective": f"O-{numbers[kr.objective_id]}",
                "title": kr.title,
                "owner": who(kr.owner_id),
                "start": kr.start,
                "target": kr.target,
                "current": kr.current,
                "unit": kr.unit,
                "confidence": kr.confidence,
                "score": kr.score,
                "archived": kr.archived,
            }
            for kr in krs
        ],  # fmt: skip
        "check_ins": [
            {
                "key_result": f"KR-{kr_numbers[c.key_result_id]}",
                "member": who(c.member_id),
                "value": c.value,
                "confidence": c.confidence,
                "note": c.note,
                "at": c.created_at.isoformat(timespec="seconds"),
                "source": c.source,
            }
            for c in await ctx.repo.all_check_ins()
            if c.key_result_id in kr_numbers
        ],  # fmt: skip
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


@command("export csv", "", "Every objective and key result as CSV (one row per key result).")
async def export_csv_command(ctx: Ctx) -> Message:
    return Message.of(File("okrbot-export.csv", "text/csv", await export_csv(ctx)))


@command("export json", "", "Everything, with the check-in history, as JSON.")
async def export_json_command(ctx: Ctx) -> Message:
    return Message.of(File("okrbot-export.json", "application/json", await export_json(ctx)))


@command("import csv", "", "How to bring OKRs in from a CSV file.")
async def import_csv_help(ctx: Ctx) -> Message:
    return Message.of(
        Text(
            (
                f"Import runs from the command line: okrbot import FILE.csv. The file has the columns of `export csv`: {', '.join(COLUMNS)}.",
            )
        )
    )


async def import_csv(ctx: Ctx, text: str) -> str:
    """Import a whole file in the caller's transaction, or raise on its first bad row."""
    plan = read_plan(text)
    await apply_plan(ctx, plan)
    return f"Imported {len(plan.objectives)} objectives and {plan.kr_count} key results."


async def apply_plan(ctx: Ctx, plan: ImportPlan) -> None:
    repo = ctx.repo
    people: dict[str, Member] = {}

    async def person(external_id: str) -> int:
        if not external_id:
            return ctx.actor.id  # type: ignore[return-value]
        if external_id not in people:
            people[external_id] = await repo.member_by_external(external_id) or await repo.add(
                Member(external_id=external_id, display_name=external_id)
            )
        return people[external_id].id  # type: ignore[return-value]

    ids: dict[str, int] = {}  # objective label in the file → row id
    # numbers kept from the file come first, so new ones are allocated above them
    await repo.raise_numbers_to(objective=plan.max_objective_number, kr=plan.max_kr_number)
    for item in plan.objectives:
        line = item.line
        team = await repo.team(item.team) or await repo.add(Team(key=item.team, name=item.team_name or item.team))
        if await repo.membership(team.id, await person(item.owner)) is None:  # type: ignore[arg-type]
            await repo.add(TeamMembership(team_id=team.id, member_id=await person(item.owner)))  # type: ignore[arg-type]
        cycle_name, start, end = (item.cycle, item.cycle_start, item.cycle_end)
        if not cycle_name:
            cycle_name, start, end = quarter_of(ctx.today)
        cycle = await repo.cycle(cycle_name)
        if cycle is None:
            if start is None or end is None:
                raise UserError(
                    f"Line {line}: cycle {cycle_name} is new, so cycle_start and cycle_end are needed; nothing was imported."
                )
            cycle = await repo.add(Cycle(name=cycle_name, starts_on=start, ends_on=end))
        capability_id = None
        if item.capability:
            capability = await repo.capability(item.capability)
            if capability is None:
                stages = [c for c in await repo.capabilities() if c.parent_id is None]
                capability = await repo.add(
                    Capability(
                        key=item.capability, name=item.capability_name or item.capability, position=len(stages) + 1
                    )
                )
            capability_id = capability.id
        if item.number is not None and await repo.objective(item.number) is not None:
            raise UserError(
                f"Line {line}: O-{item.number} already exists in this workspace; leave the objective column empty to number it anew. Nothing was imported."
            )
        number_ = item.number if item.number is not None else await repo.next_number("objective")
        objective = await repo.add(
            Objective(number=number_, title=item.title, team_id=team.id, owner_id=await person(item.owner),
                      cycle_id=cycle.id, capability_id=capability_id, kind=item.kind, archived=item.archived)
        )  # fmt: skip
        ids[item.label] = objective.id  # type: ignore[assignment]
        for kr in item.krs:
            if kr.number is not None and await repo.key_result(kr.number) is not None:
                raise UserError(
                    f"Line {kr.line}: KR-{kr.number} already exists in this workspace; leave the kr column empty to number it anew. Nothing was imported."
                )
            kr_number = kr.number if kr.number is not None else await repo.next_number("kr")
            await repo.add(
                KeyResult(number=kr_number, objective_id=objective.id, title=kr.title, owner_id=await person(kr.owner),
                          start=kr.start, target=kr.target, current=kr.current, unit=kr.unit,
                          confidence=kr.confidence, score=kr.score, archived=kr.archived)
            )  # fmt: skip
    for item in plan.objectives:  # parents last: a parent may come later in the file
        if item.parent:
            parent_id = ids.get(item.parent)
            if parent_id is None and item.parent.startswith("O-"):
                existing = await repo.objective(int(item.parent[2:]))
                parent_id = existing.id if existing else None
            if parent_id is None:
                raise UserError(
                    f"Line {item.line}: the parent {item.parent} is neither in the file nor in this workspace; nothing was imported."
                )
            objective = await repo.objective_by_id(ids[item.label])
            objective.parent_id = parent_id  # type: ignore[union-attr]
            repo.session.add(objective)
