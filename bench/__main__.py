"""`python -m bench [--quick]`: every benchmark, one table.

Sections: Slack and Teams request latency against the bare SDK apps (bench/slack.py,
bench/teams.py), memory of ``okrbot serve``, check-in write throughput through the core
(bench/core.py), the digest and fan-out benchmarks (bench/digest.py, bench/fanout.py), the
prompt's clicks (bench/clicks.py) and the HTTP API (bench/api.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import platform
import time
from collections.abc import Iterable
from typing import Any

LATENCY_HEADER = (
    "| benchmark | requests | throughput | p50 ms | p95 ms | p99 ms | max ms | errors | vs bare SDK app |\n"
    "|---|---|---|---|---|---|---|---|---|"
)
#: (module, what it measures); each has ``async def run(quick: bool)`` returning printable rows.
SECTIONS = (
    ("bench.slack", "Slack /okr: okrbot serve vs a bare slack-bolt app"),
    ("bench.teams", "Teams /api/messages: okrbot serve vs a bare botbuilder echo bot"),
    ("bench.core", "check-in write throughput and reads through Bot.handle"),
    ("bench.digest", "digest"),
    ("bench.fanout", "scheduler fan-out"),
    ("bench.clicks", "Slack: a weekly prompt's Check in and No change, 50 people clicking at once"),
    ("bench.api", "HTTP API /api/v1: reads at 200/s, check-ins 50 at once, beside /okr checkin on the same server"),
)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def print_rows(rows: Iterable[Any], header: str = LATENCY_HEADER) -> None:
    print(header, flush=True)
    for row in rows:
        print(row.row(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="shorter runs, one round, SQLite only for the servers")
    parser.add_argument("--only", help="comma-separated section modules to run, e.g. bench.slack,bench.core")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    started = time.monotonic()
    print(f"machine: {machine()}")
    print(f"command: python -m bench{' --quick' if args.quick else ''}", flush=True)
    only = set(args.only.split(",")) if args.only else None
    for module_name, title in SECTIONS:
        if only is not None and module_name not in only:
            continue
        print(f"\n{title} ({module_name})", flush=True)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            print(f"(skipped: {module_name} is not there yet)", flush=True)
            continue
        rows = asyncio.run(module.run(args.quick))
        print_rows(rows, getattr(module, "HEADER", LATENCY_HEADER))
    print(f"\n(all benchmarks: {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
