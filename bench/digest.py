"""Digest cost against the size of the organisation: one team digest, ``digest all``, one chart.

Organisations are written straight into a migrated database with executemany inserts (going
through ``Bot.handle`` for a million check-ins would take hours and measure the wrong thing),
then each view is built the way a command builds it: a fresh read session, the workspace and
person looked up, the view assembled.  Targets (issue 3): a team digest under 50 ms without the
chart, and flat as the rest of the organisation grows; ``digest all`` no worse than linear.

Three sizes per backend: 20 teams (10k check-ins), 200 teams (100k), and 200 teams with ten
check-ins per key result a week (1M; skipped with ``quick``).  Run it with
``python -m bench.digest [--quick]``, or call :func:`run` from ``bench/__main__.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench.core import Result
from bench.pg import fresh_database
from bot.alignment import organisation
from bot.charts import render
from bot.command import Actor, Command, WorkspaceRef
from bot.context import Ctx
from bot.digest import load_team, team_digest
from bot.progress import weekly_series
from store.db import Database
from store.migrate import upgrade_async
from store.models import Capability, CheckIn, Cycle, KeyResult, Member, Objective, Team, TeamMembership, Workspace
from store.repo import Repo, identity

STARTS = dt.date(2026, 10, 5)
ENDS = dt.date(2027, 1, 3)  # 13 weeks
NOW = dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC)  # Friday of week 13: the whole history counts
OBJECTIVES_PER_TEAM = 10
KRS_PER_OBJECTIVE = 4
WEEKS = 13
RUNS = 7  # timed runs per view; the median is reported (p50)
CHUNK = 20_000  # rows per executemany
STAGES = ("understand", "develop", "deliver", "support", "improve")


@dataclass(frozen=True)
class Size:
    teams: int
    per_week: int  # check-ins per key result per week

    @property
    def label(self) -> str:
        checkins = self.teams * OBJECTIVES_PER_TEAM * KRS_PER_OBJECTIVE * WEEKS * self.per_week
        return (
            f"{self.teams} teams, {self.teams * OBJECTIVES_PER_TEAM * KRS_PER_OBJECTIVE:,} KRs, {checkins:,} check-ins"
        )


SIZES = (Size(20, 1), Size(200, 1), Size(200, 10))


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def _insert(db: Database, model: type, rows: list[dict[str, Any]]) -> None:
    async with db.engine.begin() as conn:
        for chunk in _chunks(rows):
            await conn.execute(insert(model.__table__), chunk)  # type: ignore[attr-defined]


def _checkins(kr_id: int, owner: int, start: float, target: float, per_week: int, rng: random.Random) -> list[dict]:
    """A plausible history: progress creeping towards the target, confidence wandering, some notes."""
    rows = []
    first = dt.datetime.combine(STARTS, dt.time(9), dt.UTC)
    total = WEEKS * per_week
    confidence = 5
    for n in range(total):
        at = first + dt.timedelta(minutes=n * (WEEKS * 7 * 24 * 60 - 60 * 24) // total + rng.randrange(60))
        if at >= NOW:
            break
        confidence = max(0, min(10, confidence + rng.choice((-1, 0, 0, 1))))
        value = start + (target - start) * (n + 1) / total * rng.uniform(0.4, 1.1)
        note = f"week {n // per_week + 1}: {rng.choice(('on it', 'blocked', 'shipped a step', ''))}"
        rows.append(
            {"workspace_id": 1, "key_result_id": kr_id, "member_id": owner, "value": round(value, 1),
             "confidence": confidence, "note": note, "created_at": at, "source": "bench"}
        )  # fmt: skip
    return rows


async def generate(db: Database, size: Size) -> int:
    """Write one organisation of ``size``; returns the number of rows written."""
    rng = random.Random(size.teams * 1000 + size.per_week)
    made = dt.datetime.combine(STARTS, dt.time(8), dt.UTC)
    await _insert(db, Workspace, [{"id": 1, "platform": "local", "external_id": "bench", "name": "bench",
                                   "timezone": "UTC", "next_objective_number": 1, "next_kr_number": 1,
                                   "created_at": made}])  # fmt: skip
    members = [
        {"id": m, "workspace_id": 1, "external_id": f"u{m}", "display_name": f"Person {m}", "is_admin": m == 1,
         "created_at": made}
        for m in range(1, 2 * size.teams + 2)
    ]  # fmt: skip
    await _insert(db, Member, members)
    await _insert(db, Cycle, [{"id": 1, "workspace_id": 1, "name": "2026-T4", "starts_on": STARTS, "ends_on": ENDS,
                               "closed": False}])  # fmt: skip
    capabilities = [
        {"id": i, "workspace_id": 1, "key": key, "name": key.title(), "position": i, "parent_id": None}
        for i, key in enumerate(STAGES, 1)
    ]
    capabilities += [
        {"id": 10 + i, "workspace_id": 1, "key": f"{key}-sub", "name": f"{key.title()} (sub)", "position": 1,
         "parent_id": i}
        for i, key in enumerate(STAGES, 1)
    ]  # fmt: skip
    await _insert(db, Capability, capabilities)
    teams, memberships, objectives, krs, checkins = [], [], [], [], []
    for t in range(1, size.teams + 1):
        lead, other = 2 * t, 2 * t + 1
        teams.append({"id": t, "workspace_id": 1, "key": f"team{t}", "name": f"Team {t}", "lead_id": lead})
        memberships += [{"workspace_id": 1, "team_id": t, "member_id": m} for m in (lead, other)]
        for k in range(OBJECTIVES_PER_TEAM):
            o = (t - 1) * OBJECTIVES_PER_TEAM + k + 1
            parent = rng.randrange(1, o) if o > OBJECTIVES_PER_TEAM and k < 3 else None
            capability = None if k == 9 else (rng.choice(capabilities)["id"])
            objectives.append(
                {"id": o, "workspace_id": 1, "number": o, "title": f"Objective {o}", "team_id": t, "owner_id": lead,
                 "cycle_id": 1, "capability_id": capability, "parent_id": parent,
                 "kind": "aspirational" if k % 4 == 3 else "committed", "archived": False, "created_at": made}
            )  # fmt: skip
            for r in range(KRS_PER_OBJECTIVE):
                kr = (o - 1) * KRS_PER_OBJECTIVE + r + 1
                owner = (lead, other)[r % 2]
                start, target = (100.0, 20.0) if r == 3 else (0.0, 100.0)  # one that goes down
                history = _checkins(kr, owner, start, target, size.per_week, rng)
                checkins += history
                last = history[-1] if history else None
                krs.append(
                    {"id": kr, "workspace_id": 1, "number": kr, "objective_id": o, "title": f"Key result {kr}",
                     "owner_id": owner, "start": start, "target": target,
                     "current": last["value"] if last else start, "unit": "%",
                     "confidence": last["confidence"] if last else 5, "score": None, "archived": False,
                     "created_at": made, "updated_at": made}
                )  # fmt: skip
    await _insert(db, Team, teams)
    await _insert(db, TeamMembership, memberships)
    await _insert(db, Objective, objectives)
    await _insert(db, KeyResult, krs)
    await _insert(db, CheckIn, checkins)
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE workspace SET next_objective_number = :o, next_kr_number = :k WHERE id = 1"),
            {"o": len(objectives) + 1, "k": len(krs) + 1},
        )
        if db.is_sqlite:  # sequences on PostgreSQL would need moving too; nothing here inserts by id later
            await conn.execute(text("ANALYZE"))
    if not db.is_sqlite:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("ANALYZE"))
    return (
        1
        + len(members)
        + 1
        + len(capabilities)
        + len(teams)
        + len(memberships)
        + len(objectives)
        + len(krs)
        + len(checkins)
    )


async def _timed(db: Database, view: Callable[[Ctx], Awaitable[object]], runs: int) -> list[float]:
    """``view`` built ``runs`` times, each in its own read session as a command would be."""
    command = Command(WorkspaceRef("local", "bench", "bench"), Actor("u1", "Person 1"), "digest", source="bench")
    latencies = []
    for _ in range(runs + 1):  # the first run warms caches and the pool, and is not counted
        started = time.perf_counter()
        async with db.read() as session:
            workspace, actor = await identity(session, "local", "bench", "u1")
            assert workspace is not None and actor is not None
            ctx = Ctx(repo=Repo(session, workspace.id), workspace=workspace, actor=actor, command=command, now=NOW)  # type: ignore[arg-type]
            await view(ctx)
        latencies.append(time.perf_counter() - started)
    return latencies[1:]


async def _team_view(ctx: Ctx, key: str) -> object:
    return await team_digest(ctx, await ctx.team(key), chart=False)


async def _chart_seconds(db: Database, runs: int) -> list[float]:
    """One team's chart (10 objectives, 13 weeks): the CPU part, timed on its own."""
    async with db.read() as session:
        workspace, actor = await identity(session, "local", "bench", "u1")
        assert workspace is not None and actor is not None
        command = Command(WorkspaceRef("local", "bench", "bench"), Actor("u1"), "digest", source="bench")
        ctx = Ctx(repo=Repo(session, workspace.id), workspace=workspace, actor=actor, command=command, now=NOW)  # type: ignore[arg-type]
        d = await load_team(ctx, await ctx.team("team7"))
    all_krs = [kr for krs in d.krs.values() for kr in krs]
    series = weekly_series(all_krs, d.history, d.clock, dt.UTC)
    labelled = {f"O-{o.number}": series[o.id] for o in d.objectives if series.get(o.id)}  # type: ignore[call-overload]
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        png = render("Team team7 · 2026-T4", labelled, WEEKS)
        latencies.append(time.perf_counter() - started)
    assert png.startswith(b"\x89PNG")
    return latencies


async def run_backend(label: str, make_url: Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]],
                      sizes: tuple[Size, ...], runs: int) -> list[Result]:  # fmt: skip
    results: list[Result] = []
    for size in sizes:
        url, drop = await make_url()
        try:
            await upgrade_async(url)
            db = Database(url)
            try:
                started = time.perf_counter()
                rows = await generate(db, size)
                took = time.perf_counter() - started
                results.append(Result(f"{label} generate: {size.label}", rows, took, [took], 0))
                team = await _timed(db, lambda ctx: _team_view(ctx, "team7"), runs)
                results.append(Result(f"{label} team digest, no chart: {size.label}", runs, sum(team), team, 0))
                org = await _timed(db, organisation, runs)
                results.append(Result(f"{label} digest all: {size.label}", runs, sum(org), org, 0))
                if size is sizes[0] and label == "SQLite":
                    chart = await _chart_seconds(db, runs)
                    results.append(Result("chart render (10 objectives, 13 weeks)", runs, sum(chart), chart, 0))
            finally:
                await db.dispose()
        finally:
            await drop()
    return results


def _sqlite_url(tmp: str) -> Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]:
    async def make() -> tuple[str, Callable[[], Awaitable[None]]]:
        path = Path(tmp) / f"digest-{uuid.uuid4().hex[:8]}.db"

        async def drop() -> None:  # the temporary directory goes too; this frees the space early
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240  (a local file, once)

        return f"sqlite:///{path}", drop

    return make


def _postgres_url(admin: str) -> Callable[[], Awaitable[tuple[str, Callable[[], Awaitable[None]]]]]:
    """A fresh database per size on the server of ``admin``, dropped afterwards (as tests do)."""

    async def make() -> tuple[str, Callable[[], Awaitable[None]]]:
        return await fresh_database(admin)

    return make


async def run(quick: bool) -> list[Result]:
    """Every size on SQLite, then on PostgreSQL when OKRBOT_TEST_POSTGRES_URL is set.

    ``quick`` leaves out the million check-ins and times three runs instead of seven.
    """
    sizes = SIZES[:2] if quick else SIZES
    runs = 3 if quick else RUNS
    with tempfile.TemporaryDirectory() as tmp:
        results = await run_backend("SQLite", _sqlite_url(tmp), sizes, runs)
    admin = os.environ.get("OKRBOT_TEST_POSTGRES_URL")
    if admin:
        results += await run_backend("PostgreSQL", _postgres_url(admin), sizes, runs)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.digest")
    parser.add_argument("--quick", action="store_true", help="no million check-ins, fewer runs")
    args = parser.parse_args()
    print("| benchmark | requests | throughput | p50 ms | p95 ms | p99 ms | max ms | errors | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for result in asyncio.run(run(args.quick)):
        print(result.row())


if __name__ == "__main__":
    main()
