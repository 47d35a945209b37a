"""Neutral messages: what the core answers, before any platform has seen it.

A :class:`Message` is a tuple of typed blocks.  Text inside blocks is a tuple of spans:
plain ``str`` written by okrbot, :class:`UserText` written by a person (each renderer escapes
it for its platform so it can never mention, link or format), and :class:`Mention`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias


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


Colour = Literal["red", "yellow", "green", "grey"]


@dataclass(frozen=True, slots=True)
class Header:
    text: Spans


@dataclass(frozen=True, slots=True)
class Text:
    text: Spans
    strong: bool = False


@dataclass(frozen=True, slots=True)
class Fields:
    """Label/value pairs, shown as a two-column list or a fact set."""

    items: tuple[tuple[str, Spans], ...]


@dataclass(frozen=True, slots=True)
class Progress:
    """One key result's line: label, progress bar, value / target, confidence colour."""

    label: Spans
    fraction: float  # 0.0 to 1.0
    detail: str  # e.g. "40 / 100 users"
    confidence: int | None = None
    colour: Colour = "grey"
    ref: str | None = None  # "KR-7": lets a surface offer a check-in button


@dataclass(frozen=True, slots=True)
class Context:
    """Small secondary text."""

    text: Spans


@dataclass(frozen=True, slots=True)
class Divider:
    pass


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    command: str  # the command text the button runs, e.g. "checkin KR-7"
    style: Literal["primary", "default", "danger"] = "default"


@dataclass(frozen=True, slots=True)
class Actions:
    buttons: tuple[Button, ...]


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    kind: Literal["number", "choice", "text"]
    initial: str = ""
    choices: tuple[str, ...] = ()
    optional: bool = False
    error: str | None = None


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


@dataclass(frozen=True, slots=True)
class Image:
    png: bytes = field(repr=False)
    alt: str
    name: str = "chart.png"


@dataclass(frozen=True, slots=True)
class File:
    """A document the reply carries (an export)."""

    name: str
    mime: str
    content: str = field(repr=False)


Block: TypeAlias = Header | Text | Fields | Progress | Context | Divider | Actions | Form | Image | File


#: Marks a field that is not part of what a block says (bot/outbox.py does not store it).
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
        from bot.render_text import to_text

        return to_text(self)
