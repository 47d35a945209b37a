"""Team digests and the organisation view: focus, alignment across the value chain, tracking.

Built with a fixed number of queries whatever the size of the team (see store/reports.py),
then shaped into neutral blocks every surface renders.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from bot.context import Ctx, zone
from bot.errors import NotFound
from bot.messages import (
    Block,
    Context,
    Divider,
    Fields,
    Header,
    Image,
    Message,
    Progress,
    Span,
    Spans,
    Text,
    UserText,
    spans,
)
from bot.progress import WEEK, CycleClock, KrStatus, shorten, statuses, trend, weekly_series
from bot.scales import confidence_colour
from bot.valuemap import map_image
from bot.views import kr_detail, kr_ref, mention
from store import reports
from store.models import Capability, Cycle, KeyResult, Member, Objective, Team, row_id
from store.reports import CheckInRow

MAX_RISKS = 10
MAX_ACROSS = 6  # other teams named per stage


@dataclass
class TeamDigest:
    team: Team
    clock: CycleClock
    objectives: list[Objective]
    parents: dict[int, Objective]
    parent_teams: dict[int, Team]
    krs: dict[int, list[KeyResult]]
    status: dict[int, KrStatus]
    owners: dict[int, Member]
    stages: dict[int, Capability]  # capability id → its stage (itself for a stage)
    capabilities: dict[int, Capability]
    across: dict[int, list[tuple[Team, float | None]]]  # stage id → other teams and their confidence
    gaps: list[Capability]
    history: list[CheckInRow]


async def current_cycle(ctx: Ctx) -> Cycle:
    cycle = await reports.cycle_for(ctx.repo, ctx.today)
    if cycle is None:
        raise NotFound("There is no cycle yet: the current quarter is created with the first objective.")
    return cycle


def stage_map(capabilities: list[Capability]) -> dict[int, Capability]:
    by_id = {c.id: c for c in capabilities}
    return {row_id(c): by_id.get(c.parent_id, c) if c.parent_id else c for c in capabilities}


async def load_team(ctx: Ctx, team: Team) -> TeamDigest:
    repo = ctx.repo
    cycle = await current_cycle(ctx)
    clock = CycleClock(cycle, ctx.today)
    objectives = await reports.cycle_objectives(repo, row_id(cycle), team.id)
    parent_ids = [o.parent_id for o in objectives if o.parent_id]
    parents = {row_id(o): o for o in await repo.objectives(ids=parent_ids, include_archived=True)} if parent_ids else {}
    krs_list = await repo.key_results(objective_ids=[row_id(o) for o in objectives]) if objectives else []
    krs: dict[int, list[KeyResult]] = defaultdict(list)
    for kr in krs_list:
        krs[kr.objective_id].append(kr)
    since = _history_start(cycle, ctx)
    history = await reports.check_ins_since(repo, [row_id(kr) for kr in krs_list], since)
    owners = await reports.members_by_ids(
        repo, list({kr.owner_id for kr in krs_list} | {o.owner_id for o in objectives})
    )
    capabilities = await repo.capabilities()
    stages = stage_map(capabilities)
    fed_stages = {stages[o.capability_id].id for o in objectives if o.capability_id in stages}
    fed_ids = [row_id(c) for c in capabilities if stages[row_id(c)].id in fed_stages]
    rows = await reports.feeders(repo, row_id(cycle), fed_ids)
    other_ids = {t for _, t, _, _ in rows if t != team.id} | {p.team_id for p in parents.values()}
    teams = await reports.teams_by_ids(repo, list(other_ids))
    across = _across(rows, stages, teams, team)
    return TeamDigest(
        team=team, clock=clock, objectives=objectives, parents=parents, parent_teams=teams, krs=krs,
        status=statuses(krs_list, history, owners, clock, ctx.now), owners=owners, stages=stages,
        capabilities={row_id(c): c for c in capabilities}, across=across,
        gaps=await reports.unsupported_capabilities(repo, row_id(cycle)), history=history,
    )  # fmt: skip


def _history_start(cycle: Cycle, ctx: Ctx) -> dt.datetime:
    """The cycle's start, less two weeks: enough to tell trends and staleness in its first weeks."""
    return dt.datetime.combine(cycle.starts_on, dt.time(), zone(ctx.workspace.timezone)) - 2 * WEEK


def _across(
    rows: list[tuple[int, int, int, int]], stages: dict[int, Capability], teams: dict[int, Team], team: Team
) -> dict[int, list[tuple[Team, float | None]]]:
    """Per stage, the other teams feeding it, with their average KR confidence (subs rolled up)."""
    sums: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for capability_id, team_id, total, count in rows:
        if team_id != team.id and team_id in teams:
            pair = sums[(row_id(stages[capability_id]), team_id)]
            pair[0] += total
            pair[1] += count
    out: dict[int, list[tuple[Team, float | None]]] = defaultdict(list)
    # the biggest contributors first (most key results), then by key: a stable, useful order
    for (stage_id, team_id), (total, count) in sorted(
        sums.items(), key=lambda item: (item[0][0], -item[1][1], teams[item[0][1]].key)
    ):
        out[stage_id].append((teams[team_id], total / count if count else None))
    return out


def _kr_blocks(status: KrStatus, owner: Member | None) -> list[Block]:
    kr = status.kr
    notes: list[Span | Spans] = [
        f"confidence {kr.confidence} {trend(status.change)}".rstrip(),
        f" · pace {status.pace}",
    ]
    if status.stale:
        notes.append(" · stale")
    elif status.away:
        notes.append(" · away")
    elif not status.checked_in:
        notes.append(" · no check-in this week")
    if status.note:
        notes.append(spans(" · “", UserText(shorten(status.note)), "”"))
    return [
        Progress(
            label=spans(f"{kr_ref(kr)} ", UserText(kr.title), " · ", mention(owner) if owner else "nobody"),
            fraction=status.progress,
            detail=kr_detail(kr),
            confidence=kr.confidence,
            colour=confidence_colour(kr.confidence),
            ref=kr_ref(kr),
        ),
        Context(spans(*notes)),
    ]


def _objective_blocks(d: TeamDigest, objective: Objective) -> list[Block]:
    krs = d.krs.get(row_id(objective), [])
    average = sum(d.status[row_id(kr)].progress for kr in krs) / len(krs) if krs else None
    title = spans(
        f"O-{objective.number} ",
        UserText(objective.title),
        f" — {round(average * 100)}%" if average is not None else "",
    )
    meta: list[Span | Spans] = [objective.kind]
    capability = d.capabilities.get(objective.capability_id) if objective.capability_id else None
    meta.append(spans(" · supports ", UserText(capability.name)) if capability else " · not aligned to a capability")
    parent = d.parents.get(objective.parent_id) if objective.parent_id else None
    if parent:
        parent_team = d.parent_teams.get(parent.team_id)
        where = f" (team {parent_team.key})" if parent_team and parent.team_id != objective.team_id else ""
        meta.append(spans(f" · under O-{parent.number} ", UserText(parent.title), where))
    blocks: list[Block] = [Text(title, strong=True), Context(spans(*meta))]
    for kr in krs:
        blocks.extend(_kr_blocks(d.status[row_id(kr)], d.owners.get(kr.owner_id)))
    if not krs:
        blocks.append(Context(("No key results yet.",)))
    return blocks


def participation(d: TeamDigest) -> tuple[list[int], list[int], list[int]]:
    """The member ids of the key-result owners who checked in this week, of those away, and of
    the rest (missing)."""
    owners: dict[int, list[KrStatus]] = defaultdict(list)
    for status in d.status.values():
        owners[status.kr.owner_id].append(status)
    done = [m for m, s in owners.items() if any(x.checked_in for x in s)]
    away = [m for m, s in owners.items() if m not in done and all(x.away for x in s)]
    missing = [m for m in owners if m not in done and m not in away]
    return done, away, missing


def _participation(d: TeamDigest) -> list[Block]:
    done, away, missing = participation(d)
    if not (done or away or missing):
        return [Text(("Participation: no key results, so nobody to hear from.",))]
    counted = len(done) + len(missing)
    line: list[Span | Spans] = [f"Checked in this week: {len(done)} of {counted} key-result owners"]
    if missing:
        line.append(spans(". Missing: ", *[spans(", " if i else "", _who(d, m)) for i, m in enumerate(missing)]))
    if away:
        line.append(spans(". Away: ", *[spans(", " if i else "", _who(d, m)) for i, m in enumerate(away)]))
    return [Text(spans(*line, "."))]


def _who(d: TeamDigest, member_id: int) -> Span:
    member = d.owners.get(member_id)
    return mention(member) if member else "someone"


def _risks(d: TeamDigest) -> list[Block]:
    risky = sorted((s for s in d.status.values() if s.at_risk), key=lambda s: s.risk_order)
    if not risky:
        return [Text(("At risk: nothing. Every key result is at confidence 4 or more and on pace.",))]
    rows = tuple(
        (
            kr_ref(s.kr),
            spans(
                UserText(shorten(s.kr.title, 60)),
                f" · confidence {s.kr.confidence} · pace {s.pace} · {round(s.progress * 100)}%",
            ),
        )
        for s in risky[:MAX_RISKS]
    )
    blocks: list[Block] = [Text((f"At risk ({len(risky)})",), strong=True), Fields(rows)]
    if len(risky) > MAX_RISKS:
        blocks.append(Context((f"…and {len(risky) - MAX_RISKS} more.",)))
    return blocks


def _across_blocks(d: TeamDigest) -> list[Block]:
    fed = []
    for objective in d.objectives:
        stage = d.stages.get(objective.capability_id) if objective.capability_id else None
        if stage and stage not in fed:
            fed.append(stage)
    lines: list[Block] = [Text(("Across the value chain",), strong=True)]
    for stage in sorted(fed, key=lambda c: (c.position, c.key)):
        others = d.across.get(row_id(stage), [])
        if others:
            # A bounded line: in a large organisation a stage has a hundred feeders, and a
            # chat block has a size limit (Slack: 3,000 characters).
            shown = others[:MAX_ACROSS]
            who = spans(*[spans(", " if i else "", t.key, f" ({_avg(a)})") for i, (t, a) in enumerate(shown)])
            more = f" and {len(others) - len(shown)} more teams" if len(others) > len(shown) else ""
            lines.append(Context(spans(UserText(stage.name), ": also fed by ", who, more)))
        else:
            lines.append(Context(spans(UserText(stage.name), ": only this team feeds it")))
    if not fed:
        lines.append(Context(("None of this team's objectives supports a capability yet.",)))
    if d.gaps:
        names = spans(*[spans(", " if i else "", UserText(c.name)) for i, c in enumerate(d.gaps)])
        lines.append(Context(spans("Nobody supports: ", names)))
    return lines


def _avg(value: float | None) -> str:
    return "no KRs" if value is None else f"confidence {value:.1f}"


async def team_digest(ctx: Ctx, team: Team, *, chart: bool = True) -> Message:
    d = await load_team(ctx, team)
    order = sorted(d.objectives, key=lambda o: (o.kind != "committed", o.number))
    blocks: list[Block] = [
        Header(spans("Digest · team ", team.key, " (", UserText(team.name), ")")),
        Context((d.clock.line(),)),
    ]
    if not order:
        blocks.append(Text((f"Team {team.key} has no objectives in {d.clock.cycle.name}.",)))
    for objective in order:
        blocks.append(Divider())
        blocks.extend(_objective_blocks(d, objective))
    blocks += [Divider(), *_participation(d), *_risks(d), *_across_blocks(d)]
    if chart and order:
        blocks.append(await _chart(ctx, d, order))
    if chart and any(o.capability_id for o in order):  # the team's slice of the value chain
        blocks.append(await map_image(ctx, d.clock.cycle, team))
    return Message(blocks=tuple(blocks), visibility="channel")


async def _chart(ctx: Ctx, d: TeamDigest, order: list[Objective]) -> Image:
    all_krs = [kr for o in order for kr in d.krs.get(row_id(o), [])]
    series = weekly_series(all_krs, d.history, d.clock, zone(ctx.workspace.timezone))
    labelled = {f"O-{o.number}": series[row_id(o)] for o in order if series.get(row_id(o))}
    from bot.charts import render_async  # matplotlib and numpy (~45 MB) load with the first chart

    png = await render_async(f"Team {d.team.key} · {d.clock.cycle.name}", labelled, d.clock.weeks)
    return Image(png=png, alt=f"Progress and confidence by week for team {d.team.key}", name=f"digest-{d.team.key}.png")
