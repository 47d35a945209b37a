"""The terminal chat: the same grammar as ``/okr`` in Slack, on the same database as ``serve``.

On a terminal it is an interactive REPL with history; with standard input from a pipe or a
file it reads one command per line, prints each reply and exits at the end of input.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from adapters.local import to_command
from bot.core import Bot
from bot.messages import Image

HISTORY = Path.home() / ".okrbot_history"
CHARTS = Path(tempfile.gettempdir()) / "okrbot-charts"


class ConsoleAdapter:
    def __init__(self, bot: Bot, *, user: str, workspace: str) -> None:
        self.bot, self.user, self.workspace = bot, user, workspace

    async def reply(self, line: str) -> str:
        message = await self.bot.handle(to_command(line, user=self.user, workspace=self.workspace))
        return "\n".join(self._save(block) if isinstance(block, Image) else block.plain() for block in message.blocks)

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
