"""What the Slack and Teams benchmarks share: servers as subprocesses, the load process, the
figures (percentiles, ratios to the bare SDK app) and the memory of ``okrbot serve``.

Every server runs in its own process on a free loopback port; the load generator
(bench/load.py) runs in another; the fake platform API runs in this one. Rounds alternate
okrbot and the bare app, so a noisy neighbour on the machine slows both alike and the ratios
hold when the absolute figures do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.pg import fresh_database

ROOT = Path(__file__).resolve().parent.parent
OKRBOT = Path(sys.executable).with_name("okrbot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ms = sorted(values)
    return ms[min(len(ms) - 1, int(p * len(ms)))] * 1000 if ms else float("nan")


@dataclass
class Memory:
    """VmRSS and VmHWM (peak) of a process, in MB, read from /proc."""

    rss: float = 0.0
    peak: float = 0.0

    @classmethod
    def of(cls, pid: int) -> Memory:
        fields: dict[str, float] = {}
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    fields[name] = int(rest.split()[0]) / 1024
        return cls(fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0))


class Server:
    """One server process (okrbot serve or a bare SDK app) and its base URL."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str], folder: Path) -> None:
        self.label = label
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"{label.replace(' ', '_').replace('/', '_')}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [*argv, "--port", str(self.port)], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )

    async def wait_healthy(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):  # bounded: 30 s
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.label} exited: {self.log.read_text()[-2000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.label} did not answer /healthz in 30 s")

    def memory(self) -> Memory:
        return Memory.of(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_", "MICROSOFT_"))}
    return env | extra


def okrbot_serve(label: str, database_url: str, folder: Path, **env: str) -> Server:
    environment = clean_env(OKRBOT_DATABASE_URL=database_url, **env)
    return Server(label, [str(OKRBOT), "serve", "--host", "127.0.0.1"], environment, folder)


def bare(label: str, module: str, folder: Path, **env: str) -> Server:
    return Server(label, [sys.executable, "-m", module], clean_env(**env), folder)


@dataclass
class Load:
    name: str  # "50 req/s", "200 req/s", "concurrency 50"
    mode: str
    rate: float = 0.0
    concurrency: int = 50


LOADS = (Load("50/s offered", "open", rate=50), Load("200/s offered", "open", rate=200), Load("conc. 50", "closed"))


async def run_load(plan: dict[str, Any], limit: float) -> dict[str, Any]:
    """One run of bench/load.py in its own process; its JSON outcome."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(json.dumps(plan).encode()), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError("the load process overran its time") from None
    if process.returncode != 0:
        raise RuntimeError(f"the load process failed: {err.decode()[-2000:]}")
    return json.loads(out)


@dataclass
class Series:
    """One (target, command, load) cell, pooled over rounds."""

    target: str
    command: str
    load: Load
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0
    deferred: int = 0
    seconds: float = 0.0
    first_error: str = ""

    def add(self, outcome: dict[str, Any]) -> None:
        self.latencies += outcome["latencies"]
        self.sent += outcome["sent"]
        self.errors += outcome["errors"]
        self.deferred += outcome.get("deferred", 0)
        self.seconds += outcome["seconds"]
        self.first_error = self.first_error or outcome["first_error"]

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return pct(self.latencies, q)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=float("nan")) * 1000


@dataclass
class Row:
    """A printable line of the latency table: okrbot's figures and the ratio to the bare app."""

    surface: str
    series: Series
    floor: Series | None

    def row(self) -> str:
        s, f = self.series, self.floor
        ratio = ""
        if f is not None and f is not s:
            thr = s.throughput / f.throughput if f.throughput else float("nan")
            p99 = s.p(0.99) / f.p(0.99) if f.latencies else float("nan")
            ratio = f"p99 {p99:.2f}× · thr {thr:.2f}×"
        elif f is s:
            ratio = "(floor)"
        if s.deferred:
            ratio += f" · {s.deferred} past the 2 s ack budget (reply via response_url)"
        if s.errors and s.first_error:
            ratio += f" first error: {s.first_error[:80]}"
        return (
            f"| {self.surface} {s.target}{'' if s.command == 'floor' else ' ' + s.command}, {s.load.name} | {s.sent} | {s.throughput:,.0f}/s | "
            f"{s.p(0.50):.1f} | {s.p(0.95):.1f} | {s.p(0.99):.1f} | {s.worst:.0f} | {s.errors} | {ratio} |"
        )


@dataclass
class MemoryRow:
    label: str
    samples: list[Memory]

    def row(self) -> str:
        after = " → ".join(f"{m.rss:.0f}" for m in self.samples)
        peak = max((m.peak for m in self.samples), default=0.0)
        return f"| memory {self.label}: RSS after each round (MB) {after}; peak {peak:.0f} MB | | | | | | | | |"


@contextlib.asynccontextmanager
async def databases(quick: bool) -> AsyncIterator[list[tuple[str, str]]]:
    """(label, URL) of the databases okrbot is measured on: a SQLite file, and a fresh PostgreSQL
    database when OKRBOT_TEST_POSTGRES_URL is set (and not --quick), dropped afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        found = [("SQLite", f"sqlite:///{Path(folder) / 'okrbot.db'}")]
        pg = os.environ.get("OKRBOT_TEST_POSTGRES_URL")
        drop = None
        if pg and not quick:
            url, drop = await fresh_database(pg)
            found.append(("PostgreSQL", url))
        try:
            yield found
        finally:
            if drop is not None:
                await drop()


@dataclass
class Workload:
    """What is sent to one target: its request bodies, and the text a good answer contains."""

    bodies: list[str]
    expect: str | None = None


Check = Any  # async (server, outcome) -> extra errors (e.g. replies that never reached the fake)


async def measure(
    surface: str,
    *,
    path: str,
    kind: str,
    okrbots: list[Server],
    floor: Server,
    workloads: dict[str, Workload],
    floor_workload: Workload,
    quick: bool,
    secret: str = "",
    check: Check | None = None,
) -> list[Any]:
    """Every load against every target, rounds alternating okrbot and the floor; the table rows."""
    rounds, duration = (1, 1.5) if quick else (3, 5.0)
    series: dict[tuple[str, str, str], Series] = {}
    memory: dict[str, list[Memory]] = {s.label: [] for s in okrbots}
    for number in range(rounds):
        for load in LOADS:
            targets: list[tuple[Server, str, Workload]] = [(floor, "floor", floor_workload)]
            targets += [(s, name, w) for s in okrbots for name, w in workloads.items()]
            if number % 2:
                targets.reverse()
            for server, name, workload in targets:
                plan = {
                    "url": server.url + path, "kind": kind, "secret": secret, "bodies": workload.bodies,
                    "expect": workload.expect, "mode": load.mode, "rate": load.rate,
                    "concurrency": load.concurrency, "duration": duration, "max_requests": 20_000,
                }  # fmt: skip
                before = await check(server, None) if check else None
                outcome = await run_load(plan, limit=duration + 60)
                if check:
                    outcome["errors"] += await check(server, (before, outcome))
                key = (server.label, name, load.name)
                series.setdefault(key, Series(server.label, name, load)).add(outcome)
        for server in okrbots:
            memory[server.label].append(server.memory())
    rows: list[Any] = []
    for load in LOADS:
        bottom = series[(floor.label, "floor", load.name)]
        rows.append(Row(surface, bottom, bottom))
        for server in okrbots:
            for name in workloads:
                rows.append(Row(surface, series[(server.label, name, load.name)], bottom))
    rows += [MemoryRow(f"{surface} {label}", samples) for label, samples in memory.items()]
    return rows
