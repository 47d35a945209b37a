"""The value-chain map's cost when nothing is kept: the model (bot/valuechain.py ``build``) and
the picture (bot/mapchart.py ``render``) for the demo's size and for 200 teams × 20 stages
(the target: under 1 s for both, issue 16). The rows are built in memory, as the store returns
them, so the figure is the map's own and not the database's (``digest all``'s reads are
bench/digest.py's). ``python -m bench.valuemap [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.mapchart import render
from bot.valuechain import ValueChainMap, build
from store.models import Capability, Objective, Team
from store.reports import KrFigures

SIZES = ((6, 5, "the demo's size"), (30, 12, "30 teams × 12 stages"), (200, 20, "200 teams × 20 stages"))
TARGET_S = 1.0


def organisation(teams: int, stages: int) -> Callable[[], ValueChainMap]:
    """``teams`` teams with three objectives each over ``stages`` stages (every fourth stage with
    two sub-capabilities), three key results each, a parent in another team for one in five,
    and the last stage left to nobody: the rows made once, as the store would return them, and
    the map built from them each time it is called."""
    capabilities: list[Capability] = []
    for s in range(stages):
        capabilities.append(
            Capability(id=len(capabilities) + 1, workspace_id=1, key=f"s{s}", name=f"Stage {s}", position=s)
        )
        if s % 4 == 0:
            parent = len(capabilities)
            for k in range(2):
                capabilities.append(Capability(id=len(capabilities) + 1, workspace_id=1, key=f"s{s}x{k}",
                                               name=f"Part {k} of {s}", position=k, parent_id=parent))  # fmt: skip
    used = [c for c in capabilities if c.key != f"s{stages - 1}"]
    rows = [Team(id=t + 1, workspace_id=1, key=f"team{t:03d}", name=f"Team {t}") for t in range(teams)]
    objectives: list[Objective] = []
    krs: list[KrFigures] = []
    for t in range(teams):
        for k in range(3):
            n = len(objectives) + 1
            parent = n - 3 if n % 5 == 0 and n > 3 else None
            objectives.append(Objective(id=n, workspace_id=1, number=n, title=f"Objective number {n} of team {t}",
                                        team_id=t + 1, owner_id=1, cycle_id=1, parent_id=parent,
                                        capability_id=used[(t * 3 + k) % len(used)].id))  # fmt: skip
            krs += [KrFigures(n * 3 + j, n, 1, 0.0, 100.0, float((n * 7 + j) % 100), (n + j) % 11) for j in range(3)]
    parents = {o.id: o for o in objectives if o.id is not None}
    return lambda: build("Value chain · bench", capabilities=capabilities, teams=rows, objectives=objectives,
                         krs=krs, parents=parents, elapsed=0.5)  # fmt: skip


@dataclass
class Row:
    label: str
    build_s: list[float]
    render_s: list[float]
    size: tuple[int, int]
    png_bytes: int

    def row(self) -> str:
        both = sorted(b + r for b, r in zip(self.build_s, self.render_s, strict=True))
        verdict = "met" if both[-1] < TARGET_S else "missed"
        return (
            f"| {self.label} | {sorted(self.build_s)[len(both) // 2] * 1000:.0f} | "
            f"{sorted(self.render_s)[len(both) // 2] * 1000:.0f} | {both[len(both) // 2] * 1000:.0f} | "
            f"{both[-1] * 1000:.0f} | {self.size[0]} × {self.size[1]} | {self.png_bytes // 1024} KB | "
            f"under {TARGET_S:.0f} s: {verdict} |"
        )


HEADER = (
    "| map | build p50 ms | draw p50 ms | both p50 ms | both max ms | picture | PNG | target |\n"
    "|---|---|---|---|---|---|---|---|"
)


async def run(quick: bool) -> list[Row]:
    rows = []
    for teams, stages, label in SIZES:
        build_s, render_s = [], []
        png = b""
        build_map = organisation(teams, stages)
        for _ in range(2 if quick else 5):
            started = time.perf_counter()
            chart = build_map()
            built = time.perf_counter()
            png = render(chart)
            build_s.append(built - started)
            render_s.append(time.perf_counter() - built)
        width, height = struct.unpack(">II", png[16:24])
        rows.append(Row(label, build_s, render_s, (width, height), len(png)))
    return rows


def main() -> None:
    from bench.__main__ import machine, print_rows

    parser = argparse.ArgumentParser(prog="python -m bench.valuemap")
    parser.add_argument("--quick", action="store_true", help="two runs of each, not five")
    rows = asyncio.run(run(parser.parse_args().quick))
    print(machine())
    print_rows(rows, HEADER)


if __name__ == "__main__":
    main()
