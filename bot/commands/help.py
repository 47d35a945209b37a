"""help: every command, from the same declarations the parser reads."""

from __future__ import annotations

from bot.context import Ctx
from bot.errors import UserError
from bot.grammar import REGISTRY, Arg, Title, command, shown
from bot.messages import Context, Fields, Header, Message

ORDER = [
    "checkin",
    "list",
    "show",
    "objective",
    "kr",
    "grade",
    "archive",
    "team",
    "capability",
    "cycle",
    "export",
    "import",
    "help",
]


@command("help", "[command]", "What okrbot can do.", Arg("topic", Title("[command]", "command"), required=False))
async def help_command(ctx: Ctx, topic: str | None = None) -> Message:
    if topic:
        words = tuple(topic.lower().split())
        specs = [s for key, s in REGISTRY.items() if key[: len(words)] == words]
        if not specs:
            raise UserError(f'There is no command "{shown(topic)}"; type help to see them all.')
        return Message.of(Fields(tuple((spec.usage, (spec.summary,)) for spec in specs)))
    first = sorted({key[0] for key in REGISTRY}, key=lambda w: ORDER.index(w) if w in ORDER else len(ORDER))
    rows = []
    for word in first:
        for key, spec in REGISTRY.items():
            if key[0] == word and key != ("list", "mine"):
                rows.append((spec.usage, (spec.summary,)))
    return Message.of(
        Header(("okrbot: OKR check-ins where your team talks",)),
        Fields(tuple(rows)),
        Context(
            ('Titles with spaces go in double quotes. People are @mentions. Type "help <command>" for one command.',)
        ),
    )
