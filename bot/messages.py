"""Neutral messages: what the core answers, before any platform has seen it.

A :class:`Message` is a tuple of typed blocks.  Text inside blocks is a tuple of spans:
plain ``str`` written by okrbot, :class:`UserText` written by a person (each renderer escapes
it for its platform so it can never mention, link or format), and :class:`Mention`.

Every block draws itself as plain text (:meth:`plain`): the terminal shows that, and the
platforms use it as their notification fallback. A message also round-trips through plain JSON
values (:func:`encode`, :func:`decode`): the delivery outbox stores it that way.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from bot.scales import Colour


@dataclass(frozen=True, slots=True)
class UserText:
    """Text a person typed: shown exactly as typed, never interpreted as markup."""

    text: str


@dataclass(frozen=True, slots=True)
class Mention:
    """A member, rendered as a real mention where the platform has them."""

    external_id: str
    name: str


Span: TypeAlias = str | UserText | Mention
Spans: TypeAlias = tuple[Span, ...]


def spans(*parts: Span | Spans | None) -> Spans:
    """Flatten parts into spans, dropping ``None`` and empty strings."""
    out: list[Span] = []
    for part in parts:
        if part is None or part == "":
            continue
        if isinstance(part, tuple):
            out.extend(part)
        else:
            out.append(part)
    return tuple(out)


def plain(parts: Spans) -> str:
    """Spans as plain text: what people typed as typed, mentions as ``@name``."""
    out = []
    for part in parts:
        if isinstance(part, UserText):
            out.append(part.text)
        elif isinstance(part, Mention):
            out.append(f"@{part.name}")
        else:
            out.append(part)
    return "".join(out)


DOTS = {"red": "🔴", "yellow": "🟡", "green": "🟢", "grey": "⚪"}


def bar(fraction: float, width: int = 10) -> str:
    """A progress bar in block characters: ``████░░░░░░`` for 0.4."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


@dataclass(frozen=True, slots=True)
class Header:
    text: Spans

    def plain(self) -> str:
        return f"== {plain(self.text)} =="


@dataclass(frozen=True, slots=True)
class Text:
    text: Spans
    strong: bool = False

    def plain(self) -> str:
        return plain(self.text)


@dataclass(frozen=True, slots=True)
class Fields:
    """Label/value pairs, shown as a two-column list or a fact set."""

    items: tuple[tuple[str, Spans], ...]

    def plain(self) -> str:
        return "\n".join(f"{label}: {plain(value)}" for label, value in self.items)


@dataclass(frozen=True, slots=True)
class Progress:
    """One key result's line: label, progress bar, value / target, confidence colour."""

    label: Spans
    fraction: float  # 0.0 to 1.0
    detail: str  # e.g. "40 / 100 users"
    confidence: int | None = None
    colour: Colour = "grey"
    ref: str | None = None  # "KR-7": lets a surface offer a check-in button

    def plain(self) -> str:
        confidence = f" · {DOTS[self.colour]} {self.confidence}/10" if self.confidence is not None else ""
        return (
            f"  {plain(self.label)}\n    {bar(self.fraction)} {round(self.fraction * 100)}% · {self.detail}{confidence}"
        )


@dataclass(frozen=True, slots=True)
class Context:
    """Small secondary text."""

    text: Spans

    def plain(self) -> str:
        return f"  {plain(self.text)}"


@dataclass(frozen=True, slots=True)
class Divider:
    def plain(self) -> str:
        return "  ---"


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    command: str  # the command text the button runs, e.g. "checkin KR-7"
    style: Literal["primary", "default", "danger"] = "default"
    #: The reply takes the place of the message that carried the button (a prompt answered in
    #: place: Slack chat.update, a Teams card refreshed, the web chat's message redrawn).
    replaces: bool = False


@dataclass(frozen=True, slots=True)
class Actions:
    buttons: tuple[Button, ...]

    def plain(self) -> str:
        return "  " + "   ".join(f"[{button.label}: {button.command}]" for button in self.buttons)


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    kind: Literal["number", "choice", "text"]
    initial: str = ""
    choices: tuple[str, ...] = ()
    optional: bool = False
    error: str | None = None
    example: str = "42"  # a number field's placeholder: "e.g. 42"


@dataclass(frozen=True, slots=True)
class FormGroup:
    """The inputs for one key result in the check-in form."""

    ref: str  # "KR-7"
    title: Spans
    fields: tuple[FormField, ...]


@dataclass(frozen=True, slots=True)
class Form:
    title: str
    groups: tuple[FormGroup, ...]
    submit_label: str
    action: str  # the name of the form, e.g. "checkin"
    #: Where a surface holds fewer groups than the form has: what to say, then the command to type.
    rest: tuple[str, str] = ("check in on the rest with", "checkin KR-n <value>")

    def plain(self) -> str:
        lines = [self.title]
        for group in self.groups:
            lines.append(f"  {plain(group.title)}")
            for f in group.fields:
                initial = f" [{f.initial}]" if f.initial else ""
                error = f"  ← {f.error}" if f.error else ""
                lines.append(f"    {f.label}{initial}{error}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Image:
    png: bytes = field(repr=False)
    alt: str
    name: str = "chart.png"

    def plain(self) -> str:
        return f"[chart: {self.alt}]"


@dataclass(frozen=True, slots=True)
class File:
    """A document the reply carries (an export)."""

    name: str
    mime: str
    content: str = field(repr=False)

    def plain(self) -> str:
        return self.content.rstrip("\n")


Block: TypeAlias = Header | Text | Fields | Progress | Context | Divider | Actions | Form | Image | File


#: Marks a field that is not part of what a message says: never stored (:func:`encode`).
TRANSIENT = "transient"


@dataclass(frozen=True, slots=True)
class Message:
    blocks: tuple[Block, ...]
    #: "private" replies concern only the person who asked (ephemeral on Slack).
    visibility: Literal["private", "channel"] = "private"
    is_error: bool = False
    #: What each surface drew of this message, by surface name, drawn once: a reply the core kept
    #: (bot/cache.py) is the same Message each time. Never compared, shown or stored.
    drawn: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, metadata={TRANSIENT: True})

    @classmethod
    def of(cls, *blocks: Block, visibility: Literal["private", "channel"] = "private") -> Message:
        return cls(blocks=tuple(blocks), visibility=visibility)

    @classmethod
    def error(cls, sentence: str) -> Message:
        return cls(blocks=(Text((sentence,)),), is_error=True)

    def drawn_by(self, surface: str, draw: Callable[[Message], Any]) -> Any:
        """What ``draw`` makes of this message for ``surface``: drawn the first time, kept after."""
        if surface not in self.drawn:
            self.drawn[surface] = draw(self)
        return self.drawn[surface]

    @property
    def text(self) -> str:
        """The whole message as plain text, one block after another."""
        return "\n".join(block.plain() for block in self.blocks)


# -- as JSON: each dataclass as an object naming its type -----------------------------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.metadata.get(TRANSIENT)
        }
        return {"_": type(value).__name__, **fields}
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, bytes):
        return {"_b": base64.b64encode(value).decode()}
    return value


def encode(message: Message) -> Any:
    """The message as plain JSON values (dicts, lists, strings, numbers)."""
    return _encode(message)


def decode(value: Any) -> Any:
    """What :func:`encode` made, as the dataclasses again."""
    if isinstance(value, list):
        return tuple(decode(item) for item in value)
    if isinstance(value, dict):
        if "_b" in value:
            return base64.b64decode(value["_b"])
        cls = _TYPES[value["_"]]
        return cls(**{k: decode(v) for k, v in value.items() if k != "_"})
    return value


_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (UserText, Mention, Header, Text, Fields, Progress, Context, Divider, Button, Actions, FormField,
                FormGroup, Form, Image, File, Message)
}  # fmt: skip
