"""The dependency rule, checked on the source: ``store ← bot ← scheduler ← adapters``.

Every ``import`` in the four packages counts, at the top of a module or inside a function (an
import deferred into a function is still a dependency, only a hidden one), and importing
``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too, so it depends on them as well.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("store", "bot", "scheduler", "adapters")
SURFACES = ("adapters.console", "adapters.slack", "adapters.teams", "adapters.webchat")
PLATFORM_SDKS = ("slack_bolt", "slack_sdk", "botbuilder", "botframework", "msrest", "aiohttp")
SQL = ("sqlalchemy", "sqlmodel", "asyncpg", "aiosqlite", "alembic")

#: (importing package, imported package or library, why it may not)
RULES: tuple[tuple[str, str, str], ...] = (
    *(("store", layer, "store/ is the bottom layer") for layer in ("bot", "scheduler", "adapters")),
    *(("bot", name, "the core is platform-neutral") for name in (*PLATFORM_SDKS, "apscheduler")),
    ("bot", "scheduler", "the scheduler builds on the core, not the other way"),
    ("bot", "adapters", "the core never knows a surface"),
    *(("scheduler", name, "the scheduler sends through bot.outbound.Outbound") for name in PLATFORM_SDKS),
    ("scheduler", "adapters", "the scheduler never knows a surface"),
    *((layer, name, "SQL lives in store/") for layer in ("bot", "scheduler", "adapters") for name in SQL),
    *((a, b, "a surface never imports another surface") for a in SURFACES for b in SURFACES if a != b),
)


@dataclass(frozen=True)
class Import:
    importer: str  # the module that imports, e.g. "bot.core"
    imported: str  # what it names, e.g. "bot.commands.checkin" or "sqlalchemy.exc"
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, packages: tuple[str, ...] = LAYERS) -> dict[str, Path]:
    """Every module of the packages, by dotted name (migrations included: they are code too)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    """What a module imports, anywhere in it; ``from pkg import mod`` names the module ``pkg.mod``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(name, full if full in known else base, node.lineno)


def graph(root: Path) -> tuple[dict[str, Path], list[Import]]:
    found = modules(root)
    known = set(found)
    return found, [i for name, path in found.items() for i in imports_of(name, path, known)]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def broken_rules(root: Path) -> list[str]:
    found, imports = graph(root)
    return [
        f"{found[i.importer].relative_to(root)}:{i.line}: {i.importer} imports {i.imported}: {why}"
        for i in imports
        for importer, imported, why in RULES
        if within(i.importer, importer) and within(i.imported, imported)
    ]


def _needs(imported: str, known: set[str]) -> list[str]:
    """The modules an import runs: the module and every package above it."""
    parts = imported.split(".")
    return [m for m in (".".join(parts[:n]) for n in range(1, len(parts) + 1)) if m in known]


def cycles(root: Path) -> list[list[str]]:
    """Every group of modules that import each other in a loop (Tarjan's strongly connected components)."""
    found, imports = graph(root)
    known = set(found)
    edges: dict[str, set[str]] = {name: set() for name in found}
    for i in imports:
        edges[i.importer].update(m for m in _needs(i.imported, known) if m != i.importer)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for name in sorted(edges):
        if name not in index:
            visit(name)
    return loops


def test_the_dependency_rule_holds() -> None:
    assert broken_rules(ROOT) == []


def test_no_two_modules_import_each_other_in_a_loop() -> None:
    assert cycles(ROOT) == []


# -- the checks themselves, on a tree made to break them ---------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for layer in LAYERS:
        (tmp_path / layer).mkdir(exist_ok=True)
        (tmp_path / layer / "__init__.py").touch()
    for relative, source in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(source, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("relative", "source", "named"),
    [
        ("store/repo.py", "from bot.messages import Message\n", "store.repo imports bot.messages"),
        ("store/repo.py", "def f():\n    import adapters.server\n", "store.repo imports adapters.server"),
        ("bot/core.py", "import slack_sdk\n", "bot.core imports slack_sdk"),
        ("bot/core.py", "from aiohttp import web\n", "bot.core imports aiohttp"),
        ("bot/core.py", "from apscheduler.triggers.cron import CronTrigger\n", "imports apscheduler.triggers.cron"),
        ("bot/core.py", "from scheduler import runs\n", "bot.core imports scheduler"),
        ("bot/outbox.py", "from sqlalchemy import select\n", "bot.outbox imports sqlalchemy"),
        ("scheduler/runs.py", "from adapters.slack import outbound\n", "scheduler.runs imports adapters.slack"),
        ("scheduler/runs.py", "import botbuilder.core\n", "scheduler.runs imports botbuilder.core"),
        ("adapters/webchat/a.py", "from adapters.console.b import x\n", "imports adapters.console.b"),
        ("adapters/webchat/a.py", "from ..console import b\n", "adapters.webchat.a imports adapters.console"),
    ],
)
def test_a_wrong_import_is_named(tmp_path: Path, relative: str, source: str, named: str) -> None:
    root = _tree(tmp_path, {relative: source, "adapters/console/b.py": "x = 1\n"})
    broken = broken_rules(root)
    assert len(broken) == 1 and named in broken[0], broken
    assert broken[0].startswith(relative)


def test_allowed_imports_are_not_flagged(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bot/core.py": "from store.db import Database\nimport bot.messages\n",
            "bot/messages.py": "import json\n",
            "scheduler/runs.py": "from bot.core import Bot\nfrom apscheduler.triggers.cron import CronTrigger\n",
            "adapters/slack/adapter.py": "import slack_bolt\nfrom adapters.slack import render\nfrom bot import core\n",
            "adapters/slack/render.py": "from bot.messages import Message\n",
            "adapters/server.py": "from adapters.slack import adapter\nfrom scheduler import runs\n",
        },
    )
    assert broken_rules(root) == []
    assert cycles(root) == []


def test_a_loop_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bot/messages.py": "def text():\n    from bot.render_text import to_text\n",
            "bot/render_text.py": "from bot.scales import bar\n",
            "bot/scales.py": "from bot.messages import Colour\n",
            "bot/views.py": "from bot import messages\n",
        },
    )
    assert cycles(root) == [["bot.messages", "bot.render_text", "bot.scales"]]


def test_a_loop_through_a_package_init_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "bot/commands/__init__.py": "from bot.commands import schedule\n",
            "bot/commands/schedule.py": "from bot.outbox import x\n",
            "bot/outbox.py": "from bot.commands.checkin import form\n",
            "bot/commands/checkin.py": "form = 1\n",
        },
    )
    assert cycles(root) == [["bot.commands", "bot.commands.schedule", "bot.outbox"]]
