"""The end-of-cycle review (``cycle review``): what each key result scored, whether committed
objectives were delivered and aspirational ones reached 0.7, who kept checking in week after
week, and how each stage of the value chain fared.

A score is the owner's grade when given, else the progress (bot/scales.py). Built from a fixed
number of reads whatever the size of the organisation, and it only reads: a cycle can be
reviewed before and after it is closed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from bot.context import Ctx, zone
from bot.digest import current_cycle, stage_map
from bot.messages import Block, Context, Divider, Header, Image, Message, Span, Spans, Text, UserText, spans
from bot.progress import CycleClock
from bot.scales import ASPIRATIONAL_SUCCESS, is_success
from bot.views import kr_ref, kr_score, mention
from store import reports
from store.models import Capability, Cycle, KeyResult, Member, Objective, Team, row_id

MAX_LISTED = 3  # misses and best results shown
#: A review replaces the weekly digest this many days after its cycle's end.
REVIEW_DAYS = 7


@dataclass(frozen=True)
class Scored:
    kr: KeyResult
    objective: Objective
    score: float

    @property
    def succeeded(self) -> bool:
        """At the bar of its objective's kind: 1.0 when committed, 0.7 when aspirational."""
        return is_success(self.score, self.objective.kind)


@dataclass(frozen=True)
class Review:
    cycle: Cycle
    clock: CycleClock
    teams: dict[int, Team]
    objectives: list[Objective]
    scored: list[Scored]  # by key-result number
    owners: dict[int, Member]
    weeks_in: dict[int, set[int]]  # owner id → the cycle's weeks with a check-in on their key results
    stages: list[Capability]  # top-level capabilities, in value-chain order
    stage_of: dict[int, Capability]  # capability id → its stage

    def of_objective(self, objective: Objective) -> list[Scored]:
        return [s for s in self.scored if s.objective.id == objective.id]

    def of_team(self, team_id: int) -> list[Scored]:
        return [s for s in self.scored if s.objective.team_id == team_id]

    def on_stage(self, stage: Capability, scored: list[Scored]) -> list[Scored]:
        return [s for s in scored if self._stage_id(s.objective) == stage.id]

    def supported(self, stage: Capability) -> bool:
        return any(self._stage_id(o) == stage.id for o in self.objectives)

    def _stage_id(self, objective: Objective) -> int | None:
        stage = self.stage_of.get(objective.capability_id) if objective.capability_id else None
        return stage.id if stage else None


async def default_cycle(ctx: Ctx) -> Cycle:
    """The most recently ended cycle (it ended before today), else the current one."""
    ended = [c for c in await ctx.repo.cycles() if c.ends_on < ctx.today]
    if ended:
        return max(ended, key=lambda c: (c.ends_on, c.starts_on))
    return await current_cycle(ctx)


async def just_ended(ctx: Ctx) -> Cycle | None:
    """The cycle that ended in the seven days before today, if one did (the latest)."""
    ended = [c for c in await ctx.repo.cycles() if 1 <= (ctx.today - c.ends_on).days <= REVIEW_DAYS]
    return max(ended, key=lambda c: (c.ends_on, c.starts_on)) if ended else None


async def load(ctx: Ctx, cycle: Cycle) -> Review:
    repo = ctx.repo
    clock = CycleClock(cycle, ctx.today)
    objectives = await reports.cycle_objectives(repo, row_id(cycle))
    by_id = {row_id(o): o for o in objectives}
    krs = await repo.key_results(objective_ids=list(by_id)) if objectives else []
    tz = zone(ctx.workspace.timezone)
    since = dt.datetime.combine(cycle.starts_on, dt.time(), tz)
    history = await reports.check_ins_since(repo, [row_id(kr) for kr in krs], since)
    owner_of = {row_id(kr): kr.owner_id for kr in krs}
    last_day = min(cycle.ends_on, clock.today)
    weeks_in: dict[int, set[int]] = defaultdict(set)
    for entry in history:
        day = entry.created_at.astimezone(tz).date()
        week = (day - cycle.starts_on).days // 7 + 1
        if day <= last_day and 1 <= week <= clock.week:
            weeks_in[owner_of[entry.key_result_id]].add(week)
    capabilities = await repo.capabilities()
    return Review(
        cycle=cycle,
        clock=clock,
        teams={row_id(t): t for t in await repo.teams()},
        objectives=objectives,
        scored=[Scored(kr, by_id[kr.objective_id], kr_score(kr)) for kr in krs],
        owners=await reports.members_by_ids(repo, list({kr.owner_id for kr in krs})),
        weeks_in=weeks_in,
        stages=sorted((c for c in capabilities if c.parent_id is None), key=lambda c: (c.position, c.key)),
        stage_of=stage_map(capabilities),
    )


def average(scored: list[Scored]) -> float | None:
    """The mean score, to the two decimals it is shown with (so 0.70 is a success, as shown)."""
    return round(sum(s.score for s in scored) / len(scored), 2) if scored else None


def verdict(objective: Objective, scored: list[Scored]) -> str:
    if not scored:
        return "no key results"
    if objective.kind == "committed":
        return "delivered" if all(s.succeeded for s in scored) else "missed"
    return _against_line(average(scored))


def _against_line(value: float | None) -> str:
    if value is None:
        return "no key results"
    if is_success(value, "aspirational"):
        return f"average {value:.2f} ≥ {ASPIRATIONAL_SUCCESS} ✓"
    return f"average {value:.2f} < {ASPIRATIONAL_SUCCESS} ✗"


def team_line(r: Review, team: Team) -> str:
    own = [o for o in r.objectives if o.team_id == team.id]
    if not own:
        return f"no objectives in {r.cycle.name}"
    committed = [o for o in own if o.kind == "committed"]
    delivered = sum(verdict(o, r.of_objective(o)) == "delivered" for o in committed)
    aspirational = [s for s in r.of_team(row_id(team)) if s.objective.kind == "aspirational"]
    parts = [f"committed delivered {delivered}/{len(committed)}"] if committed else []
    if any(o.kind == "aspirational" for o in own):
        parts.append(f"aspirational {_against_line(average(aspirational))}")
    return " · ".join(parts)


def _score_line(s: Scored, owners: dict[int, Member]) -> Context:
    owner = owners.get(s.kr.owner_id)
    graded = " (graded)" if s.kr.score is not None else ""
    return Context(
        spans(
            f"{kr_ref(s.kr)} ",
            UserText(s.kr.title),
            " · ",
            mention(owner) if owner else "nobody",
            f" · {s.score:.2f}{graded}",
        )
    )


def _misses_and_best(r: Review, scored: list[Scored]) -> list[Block]:
    """Below their bar, lowest first; at or above it, highest first (ties: the older number)."""
    misses = sorted((s for s in scored if not s.succeeded), key=lambda s: (s.score, s.kr.number))
    best = sorted((s for s in scored if s.succeeded), key=lambda s: (-s.score, s.kr.number))
    blocks: list[Block] = [Text(("Biggest misses",), strong=True)]
    blocks += [_score_line(s, r.owners) for s in misses[:MAX_LISTED]] or [
        Context(("None: every key result reached its bar.",))
    ]
    blocks.append(Text(("Best results",), strong=True))
    blocks += [_score_line(s, r.owners) for s in best[:MAX_LISTED]] or [
        Context(("None: no key result reached its bar.",))
    ]
    return blocks


def _value_chain(r: Review, team: Team | None) -> list[Block]:
    if not r.stages:
        return []
    blocks: list[Block] = [Text(("The value chain",), strong=True)]
    own = r.of_team(row_id(team)) if team else []
    for index, stage in enumerate(r.stages, 1):
        on_stage = r.on_stage(stage, r.scored)
        figure = f"{average(on_stage):.2f} over {len(on_stage)} key results" if on_stage else "no key results"
        if not r.supported(stage):
            figure = "nobody supported it"
        mine = r.on_stage(stage, own)
        ours = f" · team {team.key} {average(mine):.2f}" if team and mine else ""
        blocks.append(Context(spans(f"{index}. ", UserText(stage.name), f": {figure}{ours}")))
    gaps = [stage for stage in r.stages if not r.supported(stage)]
    if gaps:
        names = spans(*[spans(", " if i else "", UserText(s.name)) for i, s in enumerate(gaps)])
        blocks.append(Context(spans("Nobody supported: ", names)))
    return blocks


def participation(r: Review, member_id: int) -> tuple[int, int]:
    """(weeks with a check-in, weeks counted): the cycle's weeks up to its end or today."""
    return len(r.weeks_in.get(member_id, ())), r.clock.week


def _participation(r: Review, scored: list[Scored]) -> list[Block]:
    blocks: list[Block] = [Text(("Participation",), strong=True)]
    owner_ids = sorted({s.kr.owner_id for s in scored}, key=lambda m: (-participation(r, m)[0], m))
    for member_id in owner_ids:
        done, weeks = participation(r, member_id)
        owner = r.owners.get(member_id)
        who: Span = mention(owner) if owner else "someone"
        blocks.append(Context(spans(who, f": checked in {done} of {weeks} weeks ({round(100 * done / weeks)}%)")))
    if not owner_ids:
        blocks.append(Context(("No key results, so nobody to hear from.",)))
    return blocks


def _team_blocks(r: Review, team: Team) -> list[Block]:
    own = sorted((o for o in r.objectives if o.team_id == team.id), key=lambda o: (o.kind != "committed", o.number))
    summary = team_line(r, team)
    blocks: list[Block] = [Text((summary[:1].upper() + summary[1:] + ".",), strong=True)]
    for objective in own:
        scored = r.of_objective(objective)
        head = spans(
            f"O-{objective.number} ", UserText(objective.title), f" — {objective.kind} · {verdict(objective, scored)}"
        )
        blocks += [Divider(), Text(head, strong=True), *[_score_line(s, r.owners) for s in scored]]
    scored = r.of_team(row_id(team))
    return [*blocks, Divider(), *_participation(r, scored), *_misses_and_best(r, scored)]


def _organisation_blocks(r: Review) -> list[Block]:
    blocks: list[Block] = [Text(("Teams",), strong=True)]
    for team in sorted(r.teams.values(), key=lambda t: t.key):
        blocks.append(Context((f"{team.key}: {team_line(r, team)}",)))
    return [*blocks, *_misses_and_best(r, r.scored)]


async def review(ctx: Ctx, cycle: Cycle, team: Team | None) -> Message:
    """The review of ``cycle`` for ``team``, or for the whole organisation when None."""
    r = await load(ctx, cycle)
    title: Spans = (
        spans("Cycle review · ", cycle.name, " · team ", team.key, " (", UserText(team.name), ")")
        if team
        else (f"Cycle review · {cycle.name} · the whole organisation",)
    )
    blocks: list[Block] = [Header(title), Context((r.clock.line(),))]
    blocks += _team_blocks(r, team) if team else _organisation_blocks(r)
    blocks += _value_chain(r, team)
    blocks.append(await _chart(r, [team] if team else sorted(r.teams.values(), key=lambda t: t.key)))
    return Message(blocks=tuple(blocks), visibility="channel")


async def _chart(r: Review, teams: list[Team]) -> Image:
    bars: dict[str, tuple[float | None, float | None]] = {}
    for team in teams:
        scored = r.of_team(row_id(team))
        committed = average([s for s in scored if s.objective.kind == "committed"])
        aspirational = average([s for s in scored if s.objective.kind == "aspirational"])
        bars[team.key] = (committed, aspirational)
    from bot.charts import render_review  # matplotlib and numpy (~45 MB) load with the first chart

    where = f"team {teams[0].key}" if len(teams) == 1 else "each team"
    png = await asyncio.to_thread(render_review, f"Cycle review · {r.cycle.name}", bars)
    alt = (
        (
            f"Bar chart of the average key-result score of {where} in {r.cycle.name}, committed and aspirational "
            f"objectives side by side, against the {ASPIRATIONAL_SUCCESS} success line: "
            + "; ".join(f"{key} {_figures(c, a)}" for key, (c, a) in bars.items())
            + "."
        )
        if bars
        else f"Bar chart of key-result scores in {r.cycle.name}: no teams yet."
    )
    name = f"review-{teams[0].key}.png" if len(teams) == 1 else "review-all.png"
    return Image(png=png, alt=alt, name=name)


def _figures(committed: float | None, aspirational: float | None) -> str:
    shown = [
        f"{what} {value:.2f}"
        for what, value in (("committed", committed), ("aspirational", aspirational))
        if value is not None
    ]
    return ", ".join(shown) or "no key results"
