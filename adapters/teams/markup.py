"""Text in Teams' card markdown: what people typed made inert, mentions made real, JSON measured.

The pieces every card is built from (render.py for whole messages, formcard.py for the check-in
form): pure functions, nothing here talks to Teams.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.messages import Mention, Spans, UserText

TEXT_CHUNK = 3_000  # characters per TextBlock of a long text

_MARKDOWN = re.compile(r"([\\`*_\[\]()~#>+!|{}])")
_LIST_START = re.compile(r"^(\s*)([-+]|\d+\.)(\s)", re.MULTILINE)
_ANGLE = re.compile(r"<")
_NAME_UNSAFE = re.compile(r"[<>\r\n\\*_\[\]]")


def escape(text: str) -> str:
    """Text a person typed, made inert for Teams' card markdown.

    Markdown's link, emphasis and code characters get a backslash, a line cannot start a list,
    and every ``<`` is followed by a zero-width space: ``<at>Bob</at>`` typed in a note matches
    no mention entity and never notifies Bob, and no HTML tag survives either.
    """
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _LIST_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}", text)
    return _ANGLE.sub("<\u200b", text)


def mention_text(name: str) -> str:
    return f"<at>{_NAME_UNSAFE.sub('', name)[:100] or 'someone'}</at>"


class Entities:
    """The mention entities a card needs, one per person it mentions."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    def add(self, mention: Mention) -> str:
        text = mention_text(mention.name)
        self.items.setdefault(
            mention.external_id,
            {"type": "mention", "text": text, "mentioned": {"id": mention.external_id, "name": mention.name[:100]}},
        )
        return text


def markdown(parts: Spans, entities: Entities) -> str:
    out = []
    for part in parts:
        if isinstance(part, UserText):
            out.append(escape(part.text))
        elif isinstance(part, Mention):
            out.append(entities.add(part))
        else:
            out.append(part.replace("<", "<\u200b"))  # okrbot's own words hold no markup either
    return "".join(out)


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def chunks(text: str, limit: int = TEXT_CHUNK) -> list[str]:
    """Long text in pieces at line ends where possible (a backslash escape is never cut in two)."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
            while cut > 1 and text[cut - 1] == "\\":
                cut -= 1
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    pieces.append(text)
    return [piece for piece in pieces if piece.strip()]


def compact(element: Any) -> str:
    return json.dumps(element, ensure_ascii=False, separators=(",", ":"))


def utf16(element: Any) -> int:
    """Bytes of the element's JSON in UTF-16: how Teams counts a message against its limit."""
    return len(compact(element).encode("utf-16-le"))
