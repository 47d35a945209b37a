"""The check-in form's pieces of a card, and how many of its key results one Teams message holds.

A form is never split over two cards (that would be two submits, two half check-ins), so its card
is the largest okrbot sends. Teams refuses a bot message over about 100 KB and Microsoft advises
staying under 80 KB, counting the text in UTF-16 (two bytes a character; base64 images aside):
the card is measured that way against :data:`FORM_CARD_UTF16_MAX`, and the key results that do
not fit are left out, with a line saying how to check in on them by typing, as the Slack modal does.
"""

from __future__ import annotations

import contextlib
from typing import Any

from adapters.teams.markup import Entities, escape, markdown, text_block, utf16
from bot.messages import Form, FormField, FormGroup

#: What Microsoft advises a bot message stay under, in UTF-16 bytes.
MESSAGE_UTF16_MAX = 80_000
#: The form card's share of it: the activity around the card (addresses, summary) takes the rest.
FORM_CARD_UTF16_MAX = MESSAGE_UTF16_MAX - 4_000
MORE = "More key results than a form holds: {} {}."


def head(form: Form) -> list[dict[str, Any]]:
    return [text_block(escape(form.title), size="Medium", weight="Bolder")]


def more(form: Form) -> dict[str, Any]:
    """The line that stands for the key results left out (its ``<`` kept from reading as a tag)."""
    return text_block(MORE.format(*form.rest).replace("<", "<\u200b"), size="Small", isSubtle=True)


def group_container(group: FormGroup, entities: Entities) -> dict[str, Any]:
    """One key result's inputs, each with its error (if the last submission had one) below it."""
    items: list[dict[str, Any]] = [text_block(markdown(group.title, entities), weight="Bolder")]
    for f in group.fields:
        items.append(form_input(f))
        if f.error:
            items.append(text_block(f"⚠ {escape(f.error)}", color="attention", spacing="None", size="Small"))
    return {"type": "Container", "separator": True, "items": items}


def form_input(f: FormField) -> dict[str, Any]:
    common: dict[str, Any] = {"id": f.name, "label": f.label, "isRequired": not f.optional}
    if not f.optional:
        common["errorMessage"] = f"{f.label} is required."
    if f.kind == "number":
        element: dict[str, Any] = {"type": "Input.Number", **common, "placeholder": f"e.g. {f.example}"}
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


def fitting(groups: list[dict[str, Any]], room: int) -> int:
    """How many of ``groups``, in order, fit in ``room`` UTF-16 bytes (with the comma after each);
    at least one, or the form would ask nothing."""
    used = 0
    for count, group in enumerate(groups):
        used += utf16(group) + 2
        if used > room:
            return max(1, count)
    return len(groups)
