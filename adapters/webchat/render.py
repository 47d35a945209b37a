"""Neutral messages as JSON for the page: typed blocks in, plain data out.

Nothing here builds HTML. The page turns every string into DOM text (``textContent``), so a
title holding ``<img src=x onerror=...>`` is shown as those characters and never parsed; the
``user`` flag on a span only changes how it looks (people's words in a quieter style).
"""

from __future__ import annotations

import base64
from functools import singledispatch
from typing import Any

from bot.messages import (
    Actions,
    Block,
    Button,
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
)

Json = dict[str, Any]


def span_json(parts: Spans) -> list[Json]:
    out: list[Json] = []
    for part in parts:
        if isinstance(part, UserText):
            out.append({"text": part.text, "user": True})
        elif isinstance(part, Mention):
            out.append({"text": f"@{part.name or part.external_id}", "mention": part.external_id})
        else:
            out.append({"text": part})
    return out


@singledispatch
def block_json(block: Block) -> Json:
    raise TypeError(f"no web chat rendering for {type(block).__name__}")


@block_json.register
def _(block: Header) -> Json:
    return {"type": "header", "text": span_json(block.text)}


@block_json.register
def _(block: Text) -> Json:
    return {"type": "text", "text": span_json(block.text), "strong": block.strong}


@block_json.register
def _(block: Fields) -> Json:
    return {"type": "fields", "items": [{"label": label, "value": span_json(value)} for label, value in block.items]}


@block_json.register
def _(block: Progress) -> Json:
    return {
        "type": "progress",
        "label": span_json(block.label),
        "fraction": max(0.0, min(1.0, block.fraction)),
        "detail": block.detail,
        "confidence": block.confidence,
        "colour": block.colour,
        "ref": block.ref,
    }


@block_json.register
def _(block: Context) -> Json:
    return {"type": "context", "text": span_json(block.text)}


@block_json.register
def _(block: Divider) -> Json:
    return {"type": "divider"}


def _button(button: Button) -> Json:
    """``replaces``: the page draws the button's reply where its message was (a prompt answered)."""
    return {"label": button.label, "command": button.command, "style": button.style, "replaces": button.replaces}


@block_json.register
def _(block: Actions) -> Json:
    return {"type": "actions", "buttons": [_button(b) for b in block.buttons]}


def _field(field: FormField) -> Json:
    return {
        "name": field.name,
        "label": field.label,
        "kind": field.kind,
        "initial": field.initial,
        "choices": list(field.choices),
        "optional": field.optional,
        "error": field.error,
    }


@block_json.register
def _(block: Form) -> Json:
    return {
        "type": "form",
        "title": block.title,
        "action": block.action,
        "submit": block.submit_label,
        "groups": [
            {"ref": g.ref, "title": span_json(g.title), "fields": [_field(f) for f in g.fields]} for g in block.groups
        ],
    }


@block_json.register
def _(block: Image) -> Json:
    data = base64.b64encode(block.png).decode("ascii")
    return {"type": "image", "src": f"data:image/png;base64,{data}", "alt": block.alt, "name": block.name}


@block_json.register
def _(block: File) -> Json:
    return {"type": "file", "name": block.name, "mime": block.mime, "content": block.content}


def to_json(message: Message) -> Json:
    """The whole reply: its blocks, who sees it, and whether it is an error."""
    return {
        "blocks": [block_json(block) for block in message.blocks],
        "visibility": message.visibility,
        "error": message.is_error,
        "text": message.text,
    }
