"""Neutral Messages as Adaptive Cards: pure functions, nothing here talks to Teams.

Cards are version 1.4: everything okrbot shows (FactSet, ColumnSet, ActionSet, Input.* with
labels) is in 1.4, Teams renders 1.4 on desktop, web and mobile alike, and okrbot needs no 1.5
feature (Universal Actions' Action.Execute). A Message becomes one or more activities: each card
stays under :data:`MAX_CARD_BYTES` of JSON (images, which Teams does not count, travel in a card
of their own), so a long digest arrives as several messages rather than a 413.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from functools import singledispatch
from typing import Any

from adapters.teams.translate import COMMAND_ACTION, SUBMIT_KEY
from bot.messages import (
    Actions,
    Block,
    Context,
    Divider,
    Fields,
    File,
    Form,
    FormField,
    Header,
    Image,
    Mention,
    Message,
    Progress,
    Spans,
    Text,
    UserText,
    bar,
)

CARD_VERSION = "1.4"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
#: Per card, compact JSON in UTF-8, image data excluded: below the ~28 KB that Teams' oldest
#: limits allow, so no client refuses a card as too big.
MAX_CARD_BYTES = 28_000
#: Room for a File block's content in one card (the card's own keys and header come off the top).
FILE_BUDGET = MAX_CARD_BYTES - 1_500
TEXT_CHUNK = 3_000  # characters per TextBlock of a long text
MAX_IMAGE_BYTES = 1_000_000  # Teams' inline image limit
COLOURS = {"green": "good", "yellow": "warning", "red": "attention", "grey": "default"}
SUMMARY_MAX = 200

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


def submit(title: str, data: dict[str, Any], style: str = "default") -> dict[str, Any]:
    action = {"type": "Action.Submit", "title": title[:80], "data": data}
    if style in ("positive", "destructive"):
        action["style"] = style
    return action


def command_button(title: str, command: str, style: str = "default") -> dict[str, Any]:
    return submit(title, {SUBMIT_KEY: COMMAND_ACTION, "command": command[:500]}, style)


@singledispatch
def elements(block: Block, entities: Entities) -> list[dict[str, Any]]:
    raise TypeError(f"no Adaptive Card rendering for {type(block).__name__}")


@elements.register
def _(block: Header, entities: Entities) -> list[dict[str, Any]]:
    return [text_block(markdown(block.text, entities)[:400], size="Medium", weight="Bolder")]


@elements.register
def _(block: Text, entities: Entities) -> list[dict[str, Any]]:
    style = {"weight": "Bolder"} if block.strong else {}
    return [text_block(piece, **style) for piece in chunks(markdown(block.text, entities))]


@elements.register
def _(block: Fields, entities: Entities) -> list[dict[str, Any]]:
    facts = [{"title": escape(label), "value": markdown(value, entities) or " "} for label, value in block.items]
    return [{"type": "FactSet", "facts": facts}] if facts else []


@elements.register
def _(block: Progress, entities: Entities) -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = [
        {"type": "Column", "width": "auto", "items": [text_block(bar(block.fraction), fontType="Monospace")]},
        {
            "type": "Column",
            "width": "stretch",
            "items": [text_block(f"{round(block.fraction * 100)}% · {escape(block.detail)}", isSubtle=True)],
        },
    ]
    if block.confidence is not None:
        colour = COLOURS.get(block.colour, "default")
        columns.append(
            {
                "type": "Column",
                "width": "auto",
                "items": [text_block(f"● {block.confidence}/10", color=colour, weight="Bolder")],
            }
        )
    if block.ref:
        columns.append(
            {
                "type": "Column",
                "width": "auto",
                "items": [{"type": "ActionSet", "actions": [command_button("Check in", f"checkin {block.ref}")]}],
            }
        )
    return [
        text_block(markdown(block.label, entities), spacing="Medium"),
        {"type": "ColumnSet", "spacing": "Small", "columns": columns},
    ]


@elements.register
def _(block: Context, entities: Entities) -> list[dict[str, Any]]:
    return [text_block(piece, size="Small", isSubtle=True) for piece in chunks(markdown(block.text, entities))]


@elements.register
def _(block: Divider, entities: Entities) -> list[dict[str, Any]]:
    return [{"type": "Container", "separator": True, "spacing": "Medium", "items": []}]


@elements.register
def _(block: Actions, entities: Entities) -> list[dict[str, Any]]:
    styles = {"primary": "positive", "danger": "destructive"}
    buttons = [command_button(b.label, b.command, styles.get(b.style, "default")) for b in block.buttons]
    return [{"type": "ActionSet", "actions": buttons[i : i + 5]} for i in range(0, len(buttons), 5)]


@elements.register
def _(block: Image, entities: Entities) -> list[dict[str, Any]]:
    if len(block.png) > MAX_IMAGE_BYTES:
        return [text_block(f"(The chart “{escape(block.alt)}” is too large to show here.)", isSubtle=True)]
    url = "data:image/png;base64," + base64.b64encode(block.png).decode("ascii")
    return [{"type": "Image", "url": url, "altText": block.alt[:200], "size": "Stretch"}]


@elements.register
def _(block: File, entities: Entities) -> list[dict[str, Any]]:
    """A small export whole, in a box to copy from; a large one as a sentence saying where to get it.

    The content sits in a multiline Input.Text's ``value``, not a TextBlock: inputs show text
    exactly as it is, while a TextBlock would run it through markdown and the backslash escapes
    that keep it inert show up literally on Teams' mobile clients, corrupting the CSV a person copies.
    """
    kilobytes = max(1, round(len(block.content.encode("utf-8")) / 1024))
    elements = [
        text_block(f"{escape(block.name)} · {block.mime} · {kilobytes} KB", weight="Bolder"),
        text_block(f"Select all in the box below and save it as {escape(block.name)}.", size="Small", isSubtle=True),
        {"type": "Input.Text", "id": "okrbot.file", "isMultiline": True, "value": block.content, "label": block.name},
    ]
    if sum(size(e) for e in elements) <= FILE_BUDGET:
        return elements
    return [text_block(too_large(block, kilobytes))]


def too_large(block: File, kilobytes: int) -> str:
    return (
        f"{escape(block.name)} is {kilobytes} KB, more than a Teams card holds (about {FILE_BUDGET // 1024} KB). "
        "so it cannot be shown here."
    )


@elements.register
def _(block: Form, entities: Entities) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [text_block(escape(block.title), size="Medium", weight="Bolder")]
    for group in block.groups:
        items: list[dict[str, Any]] = [text_block(markdown(group.title, entities), weight="Bolder")]
        for f in group.fields:
            items.append(form_input(f))
            if f.error:
                items.append(text_block(f"⚠ {escape(f.error)}", color="attention", spacing="None", size="Small"))
        out.append({"type": "Container", "separator": True, "items": items})
    return out


def form_input(f: FormField) -> dict[str, Any]:
    common: dict[str, Any] = {"id": f.name, "label": f.label, "isRequired": not f.optional}
    if not f.optional:
        common["errorMessage"] = f"{f.label} is required."
    if f.kind == "number":
        element: dict[str, Any] = {"type": "Input.Number", **common, "placeholder": "e.g. 42"}
        with contextlib.suppress(ValueError):
            element["value"] = float(f.initial) if "." in f.initial else int(f.initial)
        return element
    if f.kind == "choice":
        element = {
            "type": "Input.ChoiceSet",
            **common,
            "style": "compact",
            "choices": [{"title": choice, "value": choice} for choice in f.choices],
        }
        if f.initial in f.choices:
            element["value"] = f.initial
        return element
    element = {"type": "Input.Text", **common, "maxLength": 500, "placeholder": "What moved, what is in the way?"}
    if f.initial:
        element["value"] = f.initial
    return element


def card(
    body: list[dict[str, Any]],
    entities: Entities,
    actions: list[dict[str, Any]] | None = None,
    *,
    body_json: str | None = None,
) -> dict[str, Any]:
    """``body_json``: the body as JSON if the caller already has it (which mentions it holds)."""
    used = []
    if entities.items:
        text = body_json if body_json is not None else json.dumps(body, ensure_ascii=False)
        used = [e for e in entities.items.values() if e["text"] in text]
    out: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": CARD_VERSION, "body": body}
    if actions:
        out["actions"] = actions
    out["msteams"] = {"width": "Full", **({"entities": used} if used else {})}
    return out


def size(element: Any) -> int:
    """Bytes an element adds to a card, image data not counted (Teams does not count it either)."""
    if isinstance(element, dict) and element.get("type") == "Image":
        return 200
    return len(compact(element).encode("utf-8"))


def compact(element: Any) -> str:
    return json.dumps(element, ensure_ascii=False, separators=(",", ":"))


def to_cards(message: Message) -> list[dict[str, Any]]:
    """The Message as Adaptive Cards, each under the size limit; a form is always one card."""
    cards = _one_card(message) or _cards(message)
    if message.is_error:
        for c in cards:
            for element in c["body"]:
                if element.get("type") == "TextBlock":
                    element.setdefault("color", "attention")
    return cards


def _one_card(message: Message) -> list[dict[str, Any]] | None:
    """Most answers: every block in one card, measured with one ``json.dumps`` of the whole body
    instead of one per element. The cards are exactly those :func:`_cards` would make (a body
    that fits as a whole fits element by element); None when it would split, or has a form or an
    image (each of those gets a card of its own)."""
    entities = Entities()
    body: list[dict[str, Any]] = []
    for block in message.blocks:
        if isinstance(block, Form):
            return None
        body.extend(elements(block, entities))
    if not body or any(element.get("type") == "Image" for element in body):
        return None
    text = compact(body)
    if len(text.encode("utf-8")) > MAX_CARD_BYTES - 1_000:  # the budget of _cards
        return None
    return [card(body, entities, body_json=text)]


def _cards(message: Message) -> list[dict[str, Any]]:
    entities = Entities()
    cards: list[dict[str, Any]] = []
    body: list[dict[str, Any]] = []
    used = 0
    budget = MAX_CARD_BYTES - 1_000  # the card's own keys and its mention entities

    def flush() -> None:
        nonlocal body, used
        if body:
            cards.append(card(body, entities))
        body, used = [], 0

    for block in message.blocks:
        if isinstance(block, Form):
            flush()
            cards.append(card(elements(block, entities), entities, [form_submit(block)]))
            continue
        for element in elements(block, entities):
            cost = size(element)
            is_image = element.get("type") == "Image"
            if body and (used + cost > budget or is_image):
                flush()
            body.append(element)
            used += cost
            if is_image:
                flush()
    flush()
    return cards or [card([text_block("Done.")], entities)]


def form_submit(form: Form) -> dict[str, Any]:
    return submit(form.submit_label, {SUBMIT_KEY: form.action}, "positive")


def to_activities(message: Message) -> list[dict[str, Any]]:
    """Bot Framework message activities (JSON) carrying the Message's cards, in order.

    Drawn once per Message (a reply the core kept is the same Message again): callers must not
    change what they get."""
    return message.drawn_by("teams", _draw)  # type: ignore[no-any-return]


def _draw(message: Message) -> list[dict[str, Any]]:
    summary = message.text.strip().replace("\n", " ")[:SUMMARY_MAX]
    return [
        {
            "type": "message",
            "summary": summary,
            "attachments": [{"contentType": CARD_TYPE, "content": c}],
        }
        for c in to_cards(message)
    ]
