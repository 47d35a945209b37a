"""Neutral Messages as Adaptive Cards: pure functions, nothing here talks to Teams.

Cards are version 1.4 (everything okrbot shows is in 1.4, and Teams renders 1.4 on desktop, web
and mobile alike), except a card that carries a Universal Action: a button whose answer takes the
card's place, as the check-in form's submit and No change do, is an Action.Execute, and its card
is version 1.5 (adapters/teams/actions.py). A Message becomes one or more activities: each card
stays under :data:`MAX_CARD_BYTES` of JSON (images, which Teams does not count, travel in a card
of their own), so a long digest arrives as several messages rather than a 413. A message with a
form is drawn around the form's card (:func:`_form_cards`), which may hold what one Teams message
holds (adapters/teams/formcard.py).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from functools import singledispatch
from typing import Any

from adapters.teams.actions import CARD_TYPE, EXECUTE_VERSION, action_sets, button, executes, form_submit
from adapters.teams.formcard import FORM_CARD_UTF16_MAX, fitting, group_container, head, more
from adapters.teams.markup import Entities, chunks, compact, escape, markdown, text_block, utf16
from bot.messages import (
    Actions,
    Block,
    Button,
    Context,
    Divider,
    Fields,
    File,
    Form,
    Header,
    Image,
    Message,
    Progress,
    Text,
    bar,
    plain,
)

CARD_VERSION = "1.4"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
#: Per card, compact JSON in UTF-8, image data excluded: below the ~28 KB that Teams' oldest
#: limits allow, so no client refuses a card as too big.
MAX_CARD_BYTES = 28_000
#: Room for a File block's content in one card (the card's own keys and header come off the top).
FILE_BUDGET = MAX_CARD_BYTES - 1_500
MAX_IMAGE_BYTES = 1_000_000  # Teams' inline image limit
COLOURS = {"green": "good", "yellow": "warning", "red": "attention", "grey": "default"}
SUMMARY_MAX = 200


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
                "items": [{"type": "ActionSet", "actions": [button(Button("Check in", f"checkin {block.ref}"))]}],
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
    return action_sets([button(b) for b in block.buttons])


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


def card(body: list[dict[str, Any]], entities: Entities, *, body_json: str | None = None) -> dict[str, Any]:
    """``body_json``: the body as JSON if the caller already has it (which mentions it holds)."""
    used = []
    if entities.items:
        text = body_json if body_json is not None else json.dumps(body, ensure_ascii=False)
        used = [e for e in entities.items.values() if e["text"] in text]
    version = EXECUTE_VERSION if executes(body) else CARD_VERSION
    out: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": version, "body": body}
    out["msteams"] = {"width": "Full", **({"entities": used} if used else {})}
    return out


def size(element: Any) -> int:
    """Bytes an element adds to a card, image data not counted (Teams does not count it either)."""
    if isinstance(element, dict) and element.get("type") == "Image":
        return 200
    return len(compact(element).encode("utf-8"))


def to_cards(message: Message) -> list[dict[str, Any]]:
    """The Message as Adaptive Cards, each under the size limit; a form is always one card."""
    cards = _one_card(message) or _form_cards(message) or _cards(message)
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


def _form_cards(message: Message) -> list[dict[str, Any]] | None:
    """A message with a form (None without): the form's card holds what follows the form (its
    buttons, a hint) and, when everything fits one Teams message, what comes before it too, so
    an answer that replaces the card replaces the whole prompt. Otherwise the blocks before go
    ahead in cards of their own and the form keeps the key results that fit."""
    at = next((i for i, block in enumerate(message.blocks) if isinstance(block, Form)), None)
    if at is None:
        return None
    form = message.blocks[at]
    assert isinstance(form, Form)
    before, after = message.blocks[:at], message.blocks[at + 1 :]
    end = next((i for i, block in enumerate(after) if isinstance(block, Form)), len(after))
    after, rest = after[:end], after[end:]
    entities = Entities()
    groups = [group_container(group, entities) for group in form.groups]
    tail = _form_tail(form, after, entities)
    asked = {group.ref for group in form.groups}
    titled = any(isinstance(b, Header) and plain(b.text) == form.title for b in before)
    heading = [] if titled else head(form)  # the prompt's header says it already: not twice
    whole = card([*_elements(unasked(before, asked), entities), *heading, *groups, *tail], entities)
    if utf16(whole) <= FORM_CARD_UTF16_MAX:
        cards = [whole]
    else:
        form_card, kept = _cut_form_card(form, groups, tail, entities)
        ahead = _cards(Message(blocks=unasked(before, {g.ref for g in form.groups[:kept]}))) if before else []
        cards = [*ahead, form_card]
    return cards + (to_cards(Message(blocks=rest)) if rest else [])


def _form_tail(form: Form, after: tuple[Block, ...], entities: Entities) -> list[dict[str, Any]]:
    """The form's submit, with the buttons of an Actions block right after the form beside it
    (the prompt's Check in and No change in one row), then the elements of the other blocks."""
    buttons = [form_submit(form)]
    if after and isinstance(after[0], Actions):
        buttons += [button(b) for b in after[0].buttons]
        after = after[1:]
    return [*action_sets(buttons), *_elements(after, entities)]


def _cut_form_card(
    form: Form, groups: list[dict[str, Any]], tail: list[dict[str, Any]], entities: Entities
) -> tuple[dict[str, Any], int]:
    """The form's card with as many key results as fit, and how many that is."""
    room = FORM_CARD_UTF16_MAX - utf16(card([*head(form), more(form), *tail], entities))
    kept = fitting(groups, room)
    while True:
        form_card = card([*head(form), *groups[:kept], more(form), *tail], entities)
        if utf16(form_card) <= FORM_CARD_UTF16_MAX or kept == 1:
            return form_card, kept
        kept -= 1


def unasked(blocks: tuple[Block, ...], refs: set[str]) -> tuple[Block, ...]:
    """The blocks, without a Check in button on the progress lines of key results the form beside
    them already asks about."""
    return tuple(
        dataclasses.replace(block, ref=None) if isinstance(block, Progress) and block.ref in refs else block
        for block in blocks
    )


def _elements(blocks: tuple[Block, ...], entities: Entities) -> list[dict[str, Any]]:
    return [element for block in blocks for element in elements(block, entities)]


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
