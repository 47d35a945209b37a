"""The value chain as a picture: what the capability map shows, before anything is drawn
(bot/valuemap.py reads it from the store for a command).

Columns are the capability stages in value-chain order, left to right, each stage's
sub-capabilities as sub-columns under it (and a column for the stage itself when objectives name
the stage directly); objectives with no capability go in an "unaligned" column at the right. Rows
(swimlanes) are teams. Each cell holds the team's objectives on that column as chips. The
drawing is bot/mapchart.py's; this module decides what lands where, so tests read it without
looking at pixels.

Past :data:`MAX_LANES` teams the lanes are groups of teams that feed the same columns (their
stage coverage), each cell one chip that sums the group's objectives there, and the map says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bot.scales import Colour, confidence_colour, pace, progress
from store.models import Capability, Objective, Team, row_id
from store.reports import KrFigures

MAX_LANES = 30  # rows that stay readable at 900 px; past that, teams are grouped
UNALIGNED = "Unaligned"
INERT = str.maketrans("", "", "<>[]")


@dataclass(frozen=True)
class Column:
    stage: str  # the stage's name (the header above its sub-columns)
    name: str  # the sub-capability's name, or the stage's when the column is the stage itself
    stage_index: int  # 1-based position in the value chain; 0 for the unaligned column
    capability_id: int | None
    gap: bool  # no objective of any team is on this column
    lonely: bool  # its stage is fed by one team only
    sub: bool = False  # a sub-capability (its stage's name goes above it)

    @property
    def unaligned(self) -> bool:
        return self.stage_index == 0


@dataclass(frozen=True)
class Chip:
    objective_id: int  # in a grouped lane: the first of those it sums
    ref: str  # "O-3", or "4 objectives" in a grouped lane
    title: str
    colour: Colour  # the average confidence of its key results; grey without any
    progress: float | None  # average progress 0–1; None without key results
    behind: bool  # behind the cycle's pace
    count: int = 1  # objectives it stands for


@dataclass(frozen=True)
class Lane:
    label: str
    team_ids: tuple[int, ...]
    cells: tuple[tuple[Chip, ...], ...]  # one per column, in column order
    highlighted: bool = False


@dataclass(frozen=True)
class Arrow:
    """A cross-team link: the supporting objective's chip to its parent's."""

    child: int
    parent: int


@dataclass(frozen=True)
class ValueChainMap:
    title: str
    columns: tuple[Column, ...]
    lanes: tuple[Lane, ...]
    arrows: tuple[Arrow, ...]
    grouped: int = 0  # teams folded into grouped lanes (0: one lane per team)

    @property
    def empty(self) -> bool:
        """No value chain yet: no capability at all."""
        return not any(not c.unaligned for c in self.columns)

    @property
    def stages(self) -> int:
        return len({c.stage_index for c in self.columns if not c.unaligned})

    def gaps(self) -> list[str]:
        return [c.name if not c.sub else f"{c.stage} › {c.name}" for c in self.columns if c.gap]

    def lonely_stages(self) -> list[str]:
        return list(dict.fromkeys(c.stage for c in self.columns if c.lonely))

    def cell(self, team_id: int, column: int) -> tuple[Chip, ...]:
        lane = next(lane for lane in self.lanes if team_id in lane.team_ids)
        return lane.cells[column]

    def alt(self) -> str:
        """The picture in words (Slack's alt text): what it shows and where nobody works. Names
        people typed lose ``<>[]``, so no surface can read the words as markup or a link."""
        return self._alt().translate(INERT)

    def _alt(self) -> str:
        if self.empty:
            return f"{self.title}: no value chain yet; add its stages with capability add."
        teams = sum(len(lane.team_ids) for lane in self.lanes)
        parts = [f"{self.title}: {_count(self.stages, 'stage')}, {_count(teams, 'team')}"]
        gaps = self.gaps()
        parts.append(f"gaps: {', '.join(gaps)}" if gaps else "no gaps")
        if lonely := self.lonely_stages():
            parts.append(f"fed by one team only: {', '.join(lonely)}")
        return "; ".join(parts) + "."


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def columns_of(capabilities: Sequence[Capability], on: dict[int | None, set[int]], unaligned: bool) -> list[Column]:
    """The map's columns; ``on`` maps a capability id to the teams with objectives on it."""
    order = sorted(capabilities, key=lambda c: (c.position, c.key))
    stages = [c for c in order if c.parent_id is None]
    columns: list[Column] = []
    for index, stage in enumerate(stages, start=1):
        subs = [c for c in order if c.parent_id == stage.id]
        fed = set(on.get(stage.id, set())).union(*(on.get(s.id, set()) for s in subs))
        lonely = len(fed) == 1
        if not subs or on.get(stage.id):
            name = stage.name if not subs else f"{stage.name} (whole stage)"
            columns.append(Column(stage.name, name, index, stage.id, not on.get(stage.id), lonely))
        for sub in subs:
            columns.append(Column(stage.name, sub.name, index, sub.id, not on.get(sub.id), lonely, sub=True))
    if unaligned:
        columns.append(Column(UNALIGNED, UNALIGNED, 0, None, gap=False, lonely=False))
    return columns


def chip(objective: Objective, krs: Sequence[KrFigures], elapsed: float | None) -> Chip:
    """``elapsed``: the share of the cycle gone by (None before it starts: nobody is behind yet)."""
    done, colour = None, confidence_colour(None)
    if krs:
        done = sum(progress(k.start, k.target, k.current) for k in krs) / len(krs)
        colour = confidence_colour(round(sum(k.confidence for k in krs) / len(krs)))
    behind = done is not None and elapsed is not None and pace(done, elapsed) == "behind"
    return Chip(row_id(objective), f"O-{objective.number}", objective.title, colour, done, behind)


def build(
    title: str,
    *,
    capabilities: Sequence[Capability],
    teams: Sequence[Team],
    objectives: Sequence[Objective],
    krs: Sequence[KrFigures],
    parents: dict[int, Objective],
    elapsed: float | None,
    focus: Sequence[Team] = (),
) -> ValueChainMap:
    """The map of ``objectives`` (the cycle's, active); with ``focus``, those teams' slice: their
    lanes first and highlighted, beside the other teams that feed the same stages."""
    known = {row_id(c): c for c in capabilities}
    stage_of = {cid: known.get(c.parent_id or 0, c) for cid, c in known.items()}  # each to its stage
    on: dict[int | None, set[int]] = defaultdict(set)
    for o in objectives:
        on[o.capability_id if o.capability_id in known else None].add(o.team_id)
    columns = columns_of(capabilities, on, unaligned=bool(on.get(None)))
    index = {c.capability_id: i for i, c in enumerate(columns)}
    by_objective: dict[int, list[KrFigures]] = defaultdict(list)
    for kr in krs:
        by_objective[kr.objective_id].append(kr)
    cells: dict[int, list[list[Chip]]] = {row_id(t): [[] for _ in columns] for t in teams}
    for o in sorted(objectives, key=lambda o: o.number):
        if o.team_id in cells:
            column = index[o.capability_id if o.capability_id in known else None]
            cells[o.team_id][column].append(chip(o, by_objective.get(row_id(o), []), elapsed))
    shown = sorted(teams, key=lambda t: t.key)
    mine = {row_id(t) for t in focus}
    if mine:
        stages = {
            row_id(stage_of[o.capability_id]) for o in objectives if o.team_id in mine and o.capability_id in known
        }
        neighbours = {
            o.team_id for o in objectives if o.capability_id in known and row_id(stage_of[o.capability_id]) in stages
        }
        shown = [t for t in shown if t.id in mine] + [t for t in shown if t.id in neighbours and t.id not in mine]
    lanes = [Lane(t.key, (row_id(t),), tuple(tuple(c) for c in cells[row_id(t)]), t.id in mine) for t in shown]
    on_map = {chip.objective_id for lane in lanes for cell in lane.cells for chip in cell}
    arrows = tuple(
        Arrow(row_id(o), row_id(parent))
        for o in objectives
        if o.parent_id and (parent := parents.get(o.parent_id)) is not None and parent.team_id != o.team_id
        and row_id(o) in on_map and row_id(parent) in on_map
    )  # fmt: skip
    if len(lanes) > MAX_LANES:
        return ValueChainMap(title, tuple(columns), tuple(grouped(lanes, len(columns))), (), grouped=len(lanes))
    return ValueChainMap(title, tuple(columns), tuple(lanes), arrows)


def grouped(lanes: Sequence[Lane], width: int) -> list[Lane]:
    """Teams that feed the same columns in one lane, the largest groups first; past MAX_LANES
    groups, the rest in one last lane. Each cell is one chip summing the group's objectives."""
    by_coverage: dict[tuple[bool, ...], list[Lane]] = defaultdict(list)
    for lane in lanes:
        by_coverage[tuple(bool(cell) for cell in lane.cells)].append(lane)
    groups = sorted(by_coverage.values(), key=lambda g: (-len(g), g[0].label))
    merged = len(groups) > MAX_LANES
    if merged:
        groups = groups[: MAX_LANES - 1] + [[lane for g in groups[MAX_LANES - 1 :] for lane in g]]
    out = []
    for i, group in enumerate(groups):
        keys = [lane.label for lane in group]
        if merged and i == len(groups) - 1:
            label = f"{len(group)} other teams"
        else:
            label = keys[0] if len(group) == 1 else f"{len(group)} teams: {', '.join(keys)}"
        cells = tuple(summed([c for lane in group for c in lane.cells[column]]) for column in range(width))
        highlighted = any(lane.highlighted for lane in group)
        out.append(Lane(label, tuple(t for lane in group for t in lane.team_ids), cells, highlighted))
    return out


def summed(chips: Sequence[Chip]) -> tuple[Chip, ...]:
    """One chip for several objectives: their average progress, the colour most of them have
    (the worse one on a tie), behind when most of them are."""
    if len(chips) <= 1:
        return tuple(chips)
    with_figures = [c for c in chips if c.progress is not None]
    done = sum(c.progress or 0.0 for c in with_figures) / len(with_figures) if with_figures else None
    colours: dict[Colour, int] = defaultdict(int)
    for c in chips:
        colours[c.colour] += 1
    worse_first: tuple[Colour, ...] = ("red", "yellow", "green", "grey")
    most = max(worse_first, key=lambda colour: colours[colour])  # ties: the worse colour
    behind = sum(c.behind for c in chips) * 2 > len(chips)
    ref = f"{len(chips)} obj"
    return (Chip(chips[0].objective_id, ref, "", most, done, behind, count=len(chips)),)
