"""Plain text for every block: the terminal's rendering and the platforms' fallback text."""

from __future__ import annotations

from functools import singledispatch

from bot.messages import (
    Actions,
    Block,
    Context,
    Divider,
    Fields,
    File,
    Form,
    Header,
    Image,
    Mention,
    Message,
    Progress,
    Spans,
    Text,
    UserText,
)
from bot.scales import bar

DOTS = {"red": "🔴", "yellow": "🟡", "green": "🟢", "grey": "⚪"}


def inline(parts: Spans) -> str:
    out = []
    for part in parts:
        if isinstance(part, UserText):
            out.append(part.text)
        elif isinstance(part, Mention):
            out.append(f"@{part.name}")
        else:
            out.append(part)
    return "".join(out)


@singledispatch
def block_text(block: Block) -> str:
    raise TypeError(f"no text rendering for {type(block).__name__}")


@block_text.register
def _(block: Header) -> str:
    return f"== {inline(block.text)} =="


@block_text.register
def _(block: Text) -> str:
    return inline(block.text)


@block_text.register
def _(block: Fields) -> str:
    return "\n".join(f"{label}: {inline(value)}" for label, value in block.items)


@block_text.register
def _(block: Progress) -> str:
    confidence = f" · {DOTS[block.colour]} {block.confidence}/10" if block.confidence is not None else ""
    return f"  {inline(block.label)}\n    {bar(block.fraction)} {round(block.fraction * 100)}% · {block.detail}{confidence}"


@block_text.register
def _(block: Context) -> str:
    return f"  {inline(block.text)}"


@block_text.register
def _(block: Divider) -> str:
    return "  ---"


@block_text.register
def _(block: Actions) -> str:
    return "  " + "   ".join(f"[{button.label}: {button.command}]" for button in block.buttons)


@block_text.register
def _(block: Form) -> str:
    lines = [block.title]
    for group in block.groups:
        lines.append(f"  {inline(group.title)}")
        for f in group.fields:
            initial = f" [{f.initial}]" if f.initial else ""
            error = f"  ← {f.error}" if f.error else ""
            lines.append(f"    {f.label}{initial}{error}")
    return "\n".join(lines)


@block_text.register
def _(block: Image) -> str:
    return f"[chart: {block.alt}]"


@block_text.register
def _(block: File) -> str:
    return block.content.rstrip("\n")


def to_text(message: Message) -> str:
    return "\n".join(block_text(block) for block in message.blocks)
