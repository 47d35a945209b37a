"""Objectives and key results as neutral blocks, shared by every command that shows them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.messages import Block, Button, Context, Divider, Header, Mention, Progress, Spans, Text, UserText, spans
from bot.scales import confidence_colour, confidence_word, number, progress, score
from store.models import Capability, Cycle, KeyResult, Member, Objective, Team, row_id
from store.repo import Repo

MAX_OBJECTIVES_SHOWN = 40


@dataclass
class Catalog:
    """Everything needed to show some objectives, loaded in a few queries, not one per row."""

    members: dict[int, Member] = field(default_factory=dict)
    teams: dict[int, Team] = field(default_factory=dict)
    capabilities: dict[int, Capability] = field(default_factory=dict)
    cycles: dict[int, Cycle] = field(default_factory=dict)
    objectives: dict[int, Objective] = field(default_factory=dict)  # parents included
    krs: dict[int, list[KeyResult]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    async def load(
        cls, repo: Repo, objectives: Sequence[Objective], *, cycles: Sequence[Cycle] | None = None
    ) -> Catalog:
        """``cycles``: every cycle of the workspace when the caller has them already (one query fewer)."""
        catalog = cls()
        catalog.objectives = {o.id: o for o in objectives if o.id is not None}
        parent_ids = {o.parent_id for o in objectives if o.parent_id and o.parent_id not in catalog.objectives}
        if parent_ids:
            for parent in await repo.objectives(ids=list(parent_ids), include_archived=True):
                catalog.objectives[row_id(parent)] = parent
        for kr in await repo.key_results(objective_ids=[o.id for o in objectives if o.id is not None]):
            catalog.krs[kr.objective_id].append(kr)
        member_ids = {o.owner_id for o in objectives} | {kr.owner_id for krs in catalog.krs.values() for kr in krs}
        catalog.members = {row_id(m): m for m in await repo.members(list(member_ids))}
        catalog.teams = {row_id(t): t for t in await repo.teams()}
        catalog.capabilities = {row_id(c): c for c in await repo.capabilities()}
        catalog.cycles = {row_id(c): c for c in (await repo.cycles() if cycles is None else cycles)}
        return catalog

    def person(self, member_id: int | None) -> Spans:
        member = self.members.get(member_id) if member_id is not None else None
        return (mention(member),) if member else ("nobody",)


@dataclass(frozen=True)
class Board:
    """Every objective in the open cycles (not archived, by number) and their catalog: what each
    ``list`` filters. Built in six queries; kept between writes (bot/cache.py)."""

    objectives: list[Objective]
    catalog: Catalog

    @classmethod
    async def load(cls, repo: Repo) -> Board:
        cycles = await repo.cycles()
        open_cycles = {c.id for c in cycles if not c.closed}
        objectives = [o for o in await repo.objectives() if o.cycle_id in open_cycles]
        return cls(objectives, await Catalog.load(repo, objectives, cycles=cycles))

    def team(self, key: str) -> Team | None:
        return next((t for t in self.catalog.teams.values() if t.key == key), None)

    def capability(self, key: str) -> Capability | None:
        return next((c for c in self.catalog.capabilities.values() if c.key == key), None)


def mention(member: Member) -> Mention:
    return Mention(member.external_id, member.display_name or member.external_id)


def objective_ref(objective: Objective) -> str:
    return f"O-{objective.number}"


def kr_ref(kr: KeyResult) -> str:
    return f"KR-{kr.number}"


def kr_detail(kr: KeyResult) -> str:
    unit = f" {kr.unit}" if kr.unit else ""
    return f"{number(kr.current)} / {number(kr.target)}{unit}"


def kr_progress(kr: KeyResult) -> float:
    return progress(kr.start, kr.target, kr.current)


def kr_score(kr: KeyResult) -> float:
    """The key result's end-of-cycle score: its grade when given, else its progress."""
    return score(kr_progress(kr), kr.score)


def kr_line(kr: KeyResult, owner: Spans) -> Progress:
    return Progress(
        label=spans(f"{kr_ref(kr)} ", UserText(kr.title), " · " if owner else None, owner),
        fraction=kr_progress(kr),
        detail=kr_detail(kr),
        confidence=kr.confidence,
        colour=confidence_colour(kr.confidence),
        ref=kr_ref(kr),
    )


def average_progress(krs: Iterable[KeyResult]) -> float | None:
    values = [kr_progress(kr) for kr in krs]
    return sum(values) / len(values) if values else None


def objective_summary(objective: Objective, catalog: Catalog) -> Spans:
    """ "team · cycle · capability · committed · parent" under an objective's title."""
    team = catalog.teams.get(objective.team_id)
    cycle = catalog.cycles.get(objective.cycle_id)
    capability = catalog.capabilities.get(objective.capability_id) if objective.capability_id else None
    parent = catalog.objectives.get(objective.parent_id) if objective.parent_id else None
    parts: list[Spans] = [
        spans("team ", team.key if team else "?"),
        spans("owner ", catalog.person(objective.owner_id)),
        spans(cycle.name if cycle else "?"),
        spans(objective.kind),
    ]
    if capability:
        parts.append(spans("supports ", UserText(capability.name)))
    if parent:
        parts.append(spans("under ", objective_ref(parent), " ", UserText(parent.title)))
    if objective.archived:
        parts.append(("archived",))
    out: list[Spans] = []
    for index, part in enumerate(parts):
        out.append(part if index == 0 else spans(" · ", part))
    return spans(*out)


def objective_blocks(objective: Objective, catalog: Catalog) -> list[Block]:
    krs = catalog.krs.get(row_id(objective), [])
    avg = average_progress(krs)
    title = spans(objective_ref(objective), " ", UserText(objective.title))
    if avg is not None:
        title = spans(title, f" — {round(avg * 100)}%")
    blocks: list[Block] = [Text(title, strong=True), Context(objective_summary(objective, catalog))]
    blocks.extend(kr_line(kr, catalog.person(kr.owner_id)) for kr in krs)
    if not krs:
        blocks.append(Context((f'No key results yet: kr add {objective_ref(objective)} "<title>" --target <num>',)))
    return blocks


def objectives_view(title: str, objectives: Sequence[Objective], catalog: Catalog, *, empty: str) -> list[Block]:
    blocks: list[Block] = [Header((title,))]
    if not objectives:
        blocks.append(Text((empty,)))
        return blocks
    shown = list(objectives)[:MAX_OBJECTIVES_SHOWN]
    for index, objective in enumerate(shown):
        if index:
            blocks.append(Divider())
        blocks.extend(objective_blocks(objective, catalog))
    if len(objectives) > len(shown):
        blocks.append(Context((f"…and {len(objectives) - len(shown)} more; narrow it with `list team <key>`.",)))
    return blocks


def confidence_text(confidence: int | None) -> str:
    return f"{confidence}/10 {confidence_word(confidence)}" if confidence is not None else "none"


def checkin_button(kr: KeyResult) -> Button:
    return Button("Check in", f"checkin {kr_ref(kr)}", "primary")
