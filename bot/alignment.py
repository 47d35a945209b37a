"""Alignment across the value chain: the ``tree``, the organisation view (``digest all``), and
the digests a subscription posts."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence

from bot.context import Ctx
from bot.digest import current_cycle, stage_map, team_digest
from bot.messages import Block, Context, Divider, Fields, Header, Message, Span, Spans, Text, UserText, spans
from bot.progress import WEEK, CycleClock
from bot.review import just_ended, review
from bot.scales import confidence_colour, progress
from bot.valuemap import map_image
from bot.views import Catalog, kr_line
from store import reports
from store.db import Session
from store.models import Capability, KeyResult, Member, Objective, Schedule, Team, row_id
from store.repo import Repo
from store.reports import KrFigures
from store.rhythm import workspace

log = logging.getLogger(__name__)


def _join(parts: Sequence[Spans]) -> Spans:
    return spans(*[spans(", " if i else "", p) for i, p in enumerate(parts)])


def _link(objective: Objective, teams: dict[int, Team]) -> Spans:
    team = teams.get(objective.team_id)
    return spans(f"O-{objective.number} ", UserText(objective.title), f" (team {team.key})" if team else "")


def _objective(o: Objective, catalog: Catalog, children: dict[int, list[Objective]]) -> list[Block]:
    team = catalog.teams.get(o.team_id)
    head = spans(
        f"O-{o.number} ",
        UserText(o.title),
        f" · team {team.key if team else '?'} · ",
        catalog.person(o.owner_id),
        f" · {o.kind}",
    )
    blocks: list[Block] = [Text(head, strong=True)]
    parent = catalog.objectives.get(o.parent_id) if o.parent_id else None
    if parent is not None:
        blocks.append(Context(spans("↑ under ", _link(parent, catalog.teams))))
    below = children.get(row_id(o), [])
    if below:
        blocks.append(Context(spans("↓ supported by ", _join([_link(c, catalog.teams) for c in below]))))
    blocks.extend(kr_line(kr, catalog.person(kr.owner_id)) for kr in catalog.krs.get(row_id(o), []))
    return blocks


async def tree(ctx: Ctx, team: Team | None) -> Message:
    cycle = await current_cycle(ctx)
    everything = await reports.cycle_objectives(ctx.repo, row_id(cycle))
    shown = [o for o in everything if team is None or o.team_id == team.id]
    catalog = await Catalog.load(ctx.repo, everything)
    children: dict[int, list[Objective]] = defaultdict(list)
    for o in everything:
        if o.parent_id:
            children[o.parent_id].append(o)
    capabilities = list(catalog.capabilities.values())
    stages = sorted((c for c in capabilities if c.parent_id is None), key=lambda c: (c.position, c.key))
    title = f"Alignment · {cycle.name}" + (f" · team {team.key}" if team else "")
    blocks: list[Block] = [Header((title,))]
    if stages:
        chain = [spans(f"{i}. ", UserText(s.name)) for i, s in enumerate(stages, start=1)]
        blocks.append(Context(spans("Value chain: ", *[spans(" → " if i else "", c) for i, c in enumerate(chain)])))
    by_capability: dict[int | None, list[Objective]] = defaultdict(list)
    for o in shown:
        by_capability[o.capability_id if o.capability_id in catalog.capabilities else None].append(o)
    for index, stage in enumerate(stages, start=1):
        blocks += [Divider(), Text(spans(f"{index}. ", UserText(stage.name)), strong=True)]
        subs = sorted((c for c in capabilities if c.parent_id == stage.id), key=lambda c: (c.position, c.key))
        if not by_capability.get(stage.id) and not any(by_capability.get(s.id) for s in subs):
            # Said under the stage itself, so it cannot be read as being about its last sub.
            blocks.append(Context(("No objective supports this stage" + (" in this team." if team else "."),)))
        for o in by_capability.get(stage.id, []):
            blocks += _objective(o, catalog, children)
        for sub_index, sub in enumerate(subs, start=1):
            blocks.append(Text(spans(f"{index}.{sub_index} ", UserText(sub.name))))
            for o in by_capability.get(sub.id, []):
                blocks += _objective(o, catalog, children)
    unaligned = by_capability.get(None, [])
    if unaligned:
        blocks += [Divider(), Text(("Not aligned to a capability",), strong=True)]
        for o in unaligned:
            blocks += _objective(o, catalog, children)
    if not shown:
        whose = f"Team {team.key} has no" if team else "No"
        blocks.append(Text((f"{whose} objectives in {cycle.name} yet.",)))
    blocks.append(await map_image(ctx, cycle, *([team] if team else [])))
    return Message.of(*blocks)


def _averages(krs: Sequence[KeyResult | KrFigures]) -> tuple[float | None, float | None]:
    if not krs:
        return None, None
    return (
        sum(progress(k.start, k.target, k.current) for k in krs) / len(krs),
        sum(k.confidence for k in krs) / len(krs),
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _figures(objectives: int, krs: Sequence[KeyResult | KrFigures], extra: str = "") -> str:
    done, confidence = _averages(krs)
    if done is None or confidence is None:
        return f"{_plural(objectives, 'objective')} · no key results{extra}"
    dot = {"red": "🔴", "yellow": "🟡", "green": "🟢", "grey": "⚪"}[confidence_colour(round(confidence))]
    return (
        f"{_plural(objectives, 'objective')} · progress {round(done * 100)}% · confidence {confidence:.1f} {dot}{extra}"
    )


async def organisation(ctx: Ctx) -> Message:
    """``digest all``: one line per stage and per team, the cross-team links and the gaps.

    Built from a fixed number of statements, and each objective and key result is visited a
    fixed number of times, so the cost grows linearly with the organisation.
    """
    repo = ctx.repo
    cycle = await current_cycle(ctx)
    clock = CycleClock(cycle, ctx.today)
    objectives = await reports.cycle_objectives(repo, row_id(cycle))
    krs = await reports.cycle_kr_figures(repo, row_id(cycle))
    capabilities = await repo.capabilities()
    teams = {row_id(t): t for t in await repo.teams()}
    checked = await reports.checked_in_owners(repo, row_id(cycle), ctx.now - WEEK)
    owners = await reports.members_by_ids(repo, list({k.owner_id for k in krs}))
    stages = stage_map(capabilities)
    by_objective: dict[int, list[KrFigures]] = defaultdict(list)
    for kr in krs:
        by_objective[kr.objective_id].append(kr)
    by_stage: dict[int, list[Objective]] = defaultdict(list)
    by_team: dict[int, list[Objective]] = defaultdict(list)
    for o in objectives:
        by_team[o.team_id].append(o)
        if o.capability_id in stages:
            by_stage[row_id(stages[o.capability_id])].append(o)
    stage_teams = {stage_id: {o.team_id for o in on_stage} for stage_id, on_stage in by_stage.items()}

    blocks: list[Block] = [Header(("Digest · the whole organisation",)), Context((clock.line(),))]
    stage_rows: list[tuple[str, Spans]] = []
    for index, stage in enumerate(
        sorted((c for c in capabilities if c.parent_id is None), key=lambda c: (c.position, c.key)), 1
    ):
        on_stage = by_stage.get(row_id(stage), [])
        stage_krs = [k for o in on_stage for k in by_objective.get(row_id(o), [])]
        team_count = _plural(len(stage_teams.get(row_id(stage), ())), "team")
        stage_rows.append((f"{index}. {stage.name}", (_figures(len(on_stage), stage_krs, f" · {team_count}"),)))
    if stage_rows:
        blocks += [Text(("The value chain",), strong=True), Fields(tuple(stage_rows))]

    team_rows: list[tuple[str, Spans]] = []
    for team in sorted(teams.values(), key=lambda t: t.key):
        own = by_team.get(row_id(team), [])
        own_krs = [k for o in own for k in by_objective.get(row_id(o), [])]
        people = {k.owner_id for k in own_krs if not _away(owners.get(k.owner_id), clock.today)}
        done = {owner for owner in people if (team.id, owner) in checked}
        extra = f" · checked in {len(done)}/{len(people)}" if people else ""
        team_rows.append((team.key, (_figures(len(own), own_krs, extra),)))
    if team_rows:
        blocks += [Text(("Teams",), strong=True), Fields(tuple(team_rows))]

    blocks += _links(objectives, teams, await _parents(repo, objectives))
    blocks += await _gaps(ctx, row_id(cycle), capabilities, stage_teams, teams)
    blocks.append(await map_image(ctx, cycle))
    return Message(blocks=tuple(blocks), visibility="channel")


def _away(member: Member | None, today: dt.date) -> bool:
    return bool(member and member.is_away(today))


async def _parents(repo: Repo, objectives: list[Objective]) -> dict[int, Objective]:
    known = {row_id(o): o for o in objectives}
    missing = [o.parent_id for o in objectives if o.parent_id and o.parent_id not in known]
    if missing:
        known.update({row_id(o): o for o in await repo.objectives(ids=missing, include_archived=True)})
    return known


def _links(objectives: list[Objective], teams: dict[int, Team], known: dict[int, Objective]) -> list[Block]:
    """Which team's objectives support which other team's: the org chart's blind spot."""
    pairs: dict[tuple[int, int], int] = defaultdict(int)
    for o in objectives:
        parent = known.get(o.parent_id) if o.parent_id else None
        if parent is not None and parent.team_id != o.team_id:
            pairs[(o.team_id, parent.team_id)] += 1
    if not pairs:
        return [Text(("Across teams: no objective supports another team's yet.",))]
    rows: list[Block] = [Text(("Across teams",), strong=True)]
    for (child, parent_team), count in sorted(pairs.items(), key=lambda item: (-item[1], item[0])):
        a, b = teams.get(child), teams.get(parent_team)
        if a and b:
            rows.append(Context((f"{a.key} → {b.key}: {count} objective{'s' if count > 1 else ''}",)))
    return rows


async def _gaps(
    ctx: Ctx, cycle_id: int, capabilities: list[Capability], stage_teams: dict[int, set[int]], teams: dict[int, Team]
) -> list[Block]:
    unsupported = await reports.unsupported_capabilities(ctx.repo, cycle_id)
    blocks: list[Block] = [Text(("Gaps",), strong=True)]
    if unsupported:
        blocks.append(Context(spans("Nobody supports: ", _join([(UserText(c.name),) for c in unsupported]))))
    lonely: list[Span | Spans] = []
    for stage in (c for c in capabilities if c.parent_id is None):
        fed = stage_teams.get(row_id(stage), set())
        if len(fed) == 1:
            (only,) = fed
            lonely.append(spans(UserText(stage.name), f" (only {teams[only].key})" if only in teams else ""))
    if lonely:
        blocks.append(Context(spans("Fed by one team alone: ", _join([spans(x) for x in lonely]))))
    if len(blocks) == 1:
        blocks.append(Context(("None: every capability is supported by two teams or more.",)))
    return blocks


async def scheduled_digest(session: Session, schedule: Schedule, now: dt.datetime) -> Message | None:
    """The digest a subscription posts (its team's, or the organisation's), for the whole channel;
    None when there is nothing to post (the team is gone, or there is no cycle yet). In the week
    after a cycle ends (its last day within the seven days before the schedule's today), the
    review of that cycle takes the digest's place: the week people look back, not at a new start."""
    space = await workspace(session, schedule.workspace_id)
    if space is None:
        return None
    repo = Repo(session, schedule.workspace_id)
    ctx = Ctx.scheduled(repo, space, timezone=schedule.timezone, channel=schedule.channel or "", now=now)
    team = await repo.team_by_id(schedule.team_id) if schedule.team_id is not None else None
    if schedule.team_id is not None and team is None:
        return None
    ended = await just_ended(ctx)
    if ended is not None:
        message = await review(ctx, ended, team)
    else:
        message = await (team_digest(ctx, team) if team is not None else organisation(ctx))
    if message.is_error:
        log.info("no digest for schedule %s: %s", schedule.id, message.text[:200])
        return None
    return Message(message.blocks, visibility="channel")
