"""Export (CSV and JSON) and the CSV import that reads the export's own format."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from bot.context import Ctx
from bot.csvfile import COLUMNS, ImportPlan, KrRow, ObjectiveRow, read_plan
from bot.errors import UserError
from bot.grammar import command
from bot.messages import File, Message, Text
from bot.scales import quarter_of
from store.models import Capability, CheckIn, Cycle, KeyResult, Member, Objective, Team, TeamMembership, as_utc, row_id
from store.repo import Repo

# -- export --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """A workspace's rows as an export writes them, archived ones too; by id where rows point at them."""

    members: dict[int | None, Member]
    teams: dict[int | None, Team]
    capabilities: dict[int | None, Capability]
    cycles: dict[int | None, Cycle]
    objectives: list[Objective]
    krs: list[KeyResult]
    numbers: dict[int | None, int]  # objective id → the n of its O-n
    kr_numbers: dict[int | None, int]  # key result id → the n of its KR-n

    def who(self, member_id: int | None) -> str | None:
        """A person as the files name them: by their id on the platform."""
        member = self.members.get(member_id)
        return member.external_id if member is not None else None


async def _snapshot(ctx: Ctx) -> _Snapshot:
    repo = ctx.repo
    objectives = await repo.objectives(include_archived=True)
    krs = await repo.key_results(include_archived=True)
    return _Snapshot(
        members={m.id: m for m in await repo.members()},
        teams={t.id: t for t in await repo.teams()},
        capabilities={c.id: c for c in await repo.capabilities()},
        cycles={c.id: c for c in await repo.cycles()},
        objectives=objectives,
        krs=krs,
        numbers={o.id: o.number for o in objectives},
        kr_numbers={kr.id: kr.number for kr in krs},
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
    s = await _snapshot(ctx)
    by_objective: dict[int | None, list[KeyResult]] = {}
    for kr in s.krs:
        by_objective.setdefault(kr.objective_id, []).append(kr)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for o in s.objectives:
        base = _objective_cells(s, o)
        writer.writerows([base | _kr_cells(s, kr) for kr in by_objective.get(o.id, [])] or [base])
    return out.getvalue()


def _objective_cells(s: _Snapshot, o: Objective) -> dict[str, str]:
    """The columns every row of objective ``o`` repeats."""
    cycle, team = s.cycles[o.cycle_id], s.teams[o.team_id]
    capability = s.capabilities.get(o.capability_id) if o.capability_id else None
    return {
        "cycle": cycle.name, "cycle_start": cycle.starts_on.isoformat(), "cycle_end": cycle.ends_on.isoformat(),
        "team": team.key, "team_name": team.name,
        "objective": f"O-{o.number}", "objective_title": o.title, "objective_owner": s.members[o.owner_id].external_id,
        "kind": o.kind, "capability": capability.key if capability else "",
        "capability_name": capability.name if capability else "",
        "parent": f"O-{s.numbers[o.parent_id]}" if o.parent_id in s.numbers else "",
        "objective_archived": _flag(o.archived),
    }  # fmt: skip


def _kr_cells(s: _Snapshot, kr: KeyResult) -> dict[str, str]:
    return {
        "kr": f"KR-{kr.number}", "kr_title": kr.title, "kr_owner": s.members[kr.owner_id].external_id,
        "unit": kr.unit, "start": _exact(kr.start), "target": _exact(kr.target),
        "current": _exact(kr.current), "confidence": str(kr.confidence),
        "score": "" if kr.score is None else _exact(kr.score), "kr_archived": _flag(kr.archived),
    }  # fmt: skip


async def export_json(ctx: Ctx) -> str:
    s = await _snapshot(ctx)
    document = {
        "format": "okrbot-export/1",
        "workspace": {"platform": ctx.workspace.platform, "name": ctx.workspace.name or ctx.workspace.external_id},
        "members": [
            {"id": m.external_id, "name": m.display_name, "timezone": m.timezone, "admin": m.is_admin}
            for m in s.members.values()
        ],
        "teams": [await _team_json(ctx.repo, s, t) for t in s.teams.values()],
        "capabilities": [_capability_json(s, c) for c in s.capabilities.values()],
        "cycles": [
            {"name": c.name, "starts_on": c.starts_on.isoformat(), "ends_on": c.ends_on.isoformat(), "closed": c.closed}
            for c in s.cycles.values()
        ],
        "objectives": [_objective_json(s, o) for o in s.objectives],
        "key_results": [_key_result_json(s, kr) for kr in s.krs],
        "check_ins": _check_ins_json(s, await ctx.repo.all_check_ins()),
    }
    if ctx.actor.is_admin:  # the audit log is for admins (bot/audit.py)
        document["audit"] = [
            {"at": as_utc(e.created_at).isoformat(), "by": s.who(e.member_id), "action": e.action,
             "target": e.target, "surface": e.surface}
            for e in reversed(await ctx.repo.audit_entries(limit=1_000_000))
        ]  # fmt: skip
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


async def _team_json(repo: Repo, s: _Snapshot, t: Team) -> dict[str, Any]:
    members = [s.who(i) for i in await repo.team_member_ids(t.id)]  # type: ignore[arg-type]
    return {"key": t.key, "name": t.name, "lead": s.who(t.lead_id), "members": members}


def _capability_json(s: _Snapshot, c: Capability) -> dict[str, Any]:
    parent = s.capabilities[c.parent_id].key if c.parent_id in s.capabilities else None
    return {"key": c.key, "name": c.name, "position": c.position, "parent": parent}


def _objective_json(s: _Snapshot, o: Objective) -> dict[str, Any]:
    return {
        "id": f"O-{o.number}",
        "title": o.title,
        "team": s.teams[o.team_id].key,
        "owner": s.who(o.owner_id),
        "cycle": s.cycles[o.cycle_id].name,
        "kind": o.kind,
        "archived": o.archived,
        "capability": s.capabilities[o.capability_id].key if o.capability_id in s.capabilities else None,
        "parent": f"O-{s.numbers[o.parent_id]}" if o.parent_id in s.numbers else None,
        "carried_from": f"O-{s.numbers[o.carried_from_id]}" if o.carried_from_id in s.numbers else None,
    }


def _key_result_json(s: _Snapshot, kr: KeyResult) -> dict[str, Any]:
    return {
        "id": f"KR-{kr.number}",
        "objective": f"O-{s.numbers[kr.objective_id]}",
        "title": kr.title,
        "owner": s.who(kr.owner_id),
        "start": kr.start,
        "target": kr.target,
        "current": kr.current,
        "unit": kr.unit,
        "confidence": kr.confidence,
        "score": kr.score,
        "archived": kr.archived,
        "carried_from": f"KR-{s.kr_numbers[kr.carried_from_id]}" if kr.carried_from_id in s.kr_numbers else None,
    }


def _check_ins_json(s: _Snapshot, check_ins: list[CheckIn]) -> list[dict[str, Any]]:
    """The history of the exported key results, oldest first."""
    return [
        {
            "key_result": f"KR-{s.kr_numbers[c.key_result_id]}",
            "member": s.who(c.member_id),
            "value": c.value,
            "confidence": c.confidence,
            "note": c.note,
            "at": c.created_at.isoformat(timespec="seconds"),
            "source": c.source,
        }
        for c in check_ins
        if c.key_result_id in s.kr_numbers
    ]


@command("export csv", "", "Every objective and key result as CSV (one row per key result).")
async def export_csv_command(ctx: Ctx) -> Message:
    return Message.of(File("okrbot-export.csv", "text/csv", await export_csv(ctx)))


@command("export json", "", "Everything, with the check-in history, as JSON.")
async def export_json_command(ctx: Ctx) -> Message:
    return Message.of(File("okrbot-export.json", "application/json", await export_json(ctx)))


# -- import --------------------------------------------------------------------------------------


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
    people = _People(ctx)
    ids: dict[str, int] = {}  # objective label in the file → row id
    # numbers kept from the file come first, so new ones are allocated above them
    await ctx.repo.raise_numbers_to(objective=plan.max_objective_number, kr=plan.max_kr_number)
    for item in plan.objectives:
        objective = await _add_objective(ctx, item, people)
        ids[item.label] = objective.id  # type: ignore[assignment]
        for kr in item.krs:
            await _add_key_result(ctx.repo, objective, kr, people)
    await _link_parents(ctx.repo, plan, ids)


class _People:
    """The members a file names, each found or added once; a blank owner is the person importing."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.known: dict[str, Member] = {}

    async def id(self, external_id: str) -> int:
        if not external_id:
            return row_id(self.ctx.actor)
        if external_id not in self.known:
            repo = self.ctx.repo
            self.known[external_id] = await repo.member_by_external(external_id) or await repo.add(
                Member(workspace_id=repo.workspace_id, external_id=external_id, display_name=external_id)
            )
        return row_id(self.known[external_id])


async def _add_objective(ctx: Ctx, item: ObjectiveRow, people: _People) -> Objective:
    repo = ctx.repo
    team = await _team_with_owner(repo, item, people)
    cycle = await _cycle(ctx, item)
    capability_id = await _capability_id(repo, item)
    if item.number is not None and await repo.objective(item.number) is not None:
        raise UserError(
            f"Line {item.line}: O-{item.number} already exists in this workspace; leave the objective column empty to number it anew. Nothing was imported."
        )
    number_ = item.number if item.number is not None else await repo.next_number("objective")
    return await repo.add(
        Objective(workspace_id=repo.workspace_id, number=number_, title=item.title, team_id=row_id(team),
                  owner_id=await people.id(item.owner), cycle_id=row_id(cycle), capability_id=capability_id,
                  kind=item.kind, archived=item.archived)
    )  # fmt: skip


async def _team_with_owner(repo: Repo, item: ObjectiveRow, people: _People) -> Team:
    """The row's team, added if new, with the objective's owner made a member of it."""
    team = await repo.team(item.team) or await repo.add(
        Team(workspace_id=repo.workspace_id, key=item.team, name=item.team_name or item.team)
    )
    owner = await people.id(item.owner)
    if await repo.membership(row_id(team), owner) is None:
        await repo.add(TeamMembership(workspace_id=repo.workspace_id, team_id=row_id(team), member_id=owner))
    return team


async def _cycle(ctx: Ctx, item: ObjectiveRow) -> Cycle:
    """The row's cycle, added if new (which needs its dates); a blank cycle is the current quarter."""
    cycle_name, start, end = (item.cycle, item.cycle_start, item.cycle_end)
    if not cycle_name:
        cycle_name, start, end = quarter_of(ctx.today)
    cycle = await ctx.repo.cycle(cycle_name)
    if cycle is not None:
        return cycle
    if start is None or end is None:
        raise UserError(
            f"Line {item.line}: cycle {cycle_name} is new, so cycle_start and cycle_end are needed; nothing was imported."
        )
    return await ctx.repo.add(Cycle(workspace_id=ctx.repo.workspace_id, name=cycle_name, starts_on=start, ends_on=end))


async def _capability_id(repo: Repo, item: ObjectiveRow) -> int | None:
    """The row's capability, added after the last stage of the value chain if new; None when blank."""
    if not item.capability:
        return None
    capability = await repo.capability(item.capability)
    if capability is None:
        stages = [c for c in await repo.capabilities() if c.parent_id is None]
        capability = await repo.add(
            Capability(
                workspace_id=repo.workspace_id,
                key=item.capability,
                name=item.capability_name or item.capability,
                position=len(stages) + 1,
            )  # fmt: skip
        )
    return capability.id


async def _add_key_result(repo: Repo, objective: Objective, kr: KrRow, people: _People) -> None:
    if kr.number is not None and await repo.key_result(kr.number) is not None:
        raise UserError(
            f"Line {kr.line}: KR-{kr.number} already exists in this workspace; leave the kr column empty to number it anew. Nothing was imported."
        )
    kr_number = kr.number if kr.number is not None else await repo.next_number("kr")
    await repo.add(
        KeyResult(workspace_id=repo.workspace_id, number=kr_number, objective_id=row_id(objective), title=kr.title,
                  owner_id=await people.id(kr.owner),
                  start=kr.start, target=kr.target, current=kr.current, unit=kr.unit,
                  confidence=kr.confidence, score=kr.score, archived=kr.archived)
    )  # fmt: skip


async def _link_parents(repo: Repo, plan: ImportPlan, ids: dict[str, int]) -> None:
    """Parents last: a parent may come later in the file, or be in the workspace already."""
    for item in plan.objectives:
        if not item.parent:
            continue
        parent_id = ids.get(item.parent)
        if parent_id is None and item.parent.startswith("O-"):
            existing = await repo.objective(int(item.parent[2:]))
            parent_id = existing.id if existing else None
        if parent_id is None:
            raise UserError(
                f"Line {item.line}: the parent {item.parent} is neither in the file nor in this workspace; nothing was imported."
            )
        objective = await repo.objective_by_id(ids[item.label])
        assert objective is not None  # added by this import, in this transaction
        objective.parent_id = parent_id
        await repo.save(objective)
