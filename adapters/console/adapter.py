"""The terminal chat: the same grammar as ``/okr`` in Slack, on the same database as ``serve``.

On a terminal it is an interactive REPL with history; with standard input from a pipe or a
file it reads one command per line, prints each reply and exits at the end of input.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.messages import Image
from bot.render_text import block_text

LOCAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# a mention is the value of an option (--owner @bob); "@bob" inside a note stays text
_MENTION = re.compile(r"(--[A-Za-z][\w-]*\s+)@([A-Za-z0-9][A-Za-z0-9_.-]{0,63})")
_PREFIX = re.compile(r"^\s*/?okr\b", re.IGNORECASE)
_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"?|[“„][^”"]*[”"]?|«[^»]*»?')  # as bot.grammar reads quotes
HISTORY = Path.home() / ".okrbot_history"
CHARTS = Path(tempfile.gettempdir()) / "okrbot-charts"


def local_id(name: str) -> str:
    return name.lower()


def _outside_quotes(text: str, change: Callable[[str], str]) -> str:
    """``change`` applied to the text between quoted titles, never inside them."""
    out, end = [], 0
    for quoted in _QUOTED.finditer(text):
        out += [change(text[end : quoted.start()]), quoted.group()]
        end = quoted.end()
    return "".join([*out, change(text[end:])])


def to_command(line: str, *, user: str, workspace: str) -> Command:
    """A typed line as the core sees it: ``@name`` becomes the mention ``<@name>``.

    Inside a quoted title ``@name`` stays as typed: "Ask @bob" is a title, not a mention.
    """
    text = _PREFIX.sub("", line, count=1)
    mentions: dict[str, str] = {}

    def mention(match: re.Match[str]) -> str:
        name = match.group(2)
        external = local_id(name.rstrip("."))
        mentions[external] = name.rstrip(".")
        return f"{match.group(1)}<@{external}>" + ("." if name.endswith(".") else "")

    text = _outside_quotes(text, lambda part: _MENTION.sub(mention, part))
    return Command(
        workspace=WorkspaceRef("local", local_id(workspace), workspace),
        # a login typed in lower case says nothing about how the person writes their name:
        # keep the name the workspace knows (the demo's "Amélie Laurent" logs in as amelie)
        actor=Actor(local_id(user), "" if user == local_id(user) else user),
        text=text,
        channel="console",
        source="console",
        mentions=mentions,
    )


class ConsoleAdapter:
    def __init__(self, bot: Bot, *, user: str, workspace: str) -> None:
        self.bot, self.user, self.workspace = bot, user, workspace

    async def reply(self, line: str) -> str:
        message = await self.bot.handle(to_command(line, user=self.user, workspace=self.workspace))
        return "\n".join(
            self._save(block) if isinstance(block, Image) else block_text(block) for block in message.blocks
        )

    def _save(self, image: Image) -> str:
        """A terminal shows no pictures: the chart goes to a file, and the reply names it."""
        CHARTS.mkdir(parents=True, exist_ok=True)
        path = CHARTS / image.name
        path.write_bytes(image.png)
        return f"  chart: {path} ({image.alt})"

    async def run_lines(self, stream: TextIO, out: TextIO) -> None:
        """One command per line (blank lines and ``#`` comments skipped)."""
        for line in stream:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            out.write(await self.reply(line.rstrip("\n")) + "\n\n")
            out.flush()

    def run_repl(self, runner: asyncio.Runner) -> None:
        """Interactive: prompt, history, Ctrl-D or ``exit`` to leave."""
        try:
            import readline

            readline.set_history_length(1000)
            if HISTORY.exists():
                readline.read_history_file(HISTORY)
        except (ImportError, OSError):
            readline = None  # type: ignore[assignment]
        print(f"okrbot chat: you are {self.user} in workspace {self.workspace}. Type help, or exit to leave.")
        try:
            while True:
                try:
                    line = input("okr> ")
                except KeyboardInterrupt:
                    print()
                    continue
                if line.strip() in ("exit", "quit"):
                    break
                if line.strip():
                    print(runner.run(self.reply(line)) + "\n")
        except EOFError:
            print()
        finally:
            if readline is not None:
                with contextlib.suppress(OSError):  # a read-only home keeps no history, nothing more
                    readline.write_history_file(HISTORY)


def is_interactive(stream: TextIO = sys.stdin) -> bool:
    return stream.isatty()
