"""Neutral messages as Block Kit: pure functions, a Message in, JSON-ready dicts out.

Slack refuses a whole message for one oversized piece (a header over 150 characters, a section
over 3,000, more than 50 blocks, or about 12k characters of block text in total), so every
piece is cut here and long messages are split into several.
User-written text is escaped (``&``, ``<``, ``>``) everywhere, so it can never mention or link.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import singledispatch
from typing import Any

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
from bot.messages import plain as spans_text

HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
FIELDS_PER_SECTION = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ACTIONS_MAX = 25
CONTEXT_MAX = 2000
#: Per message: Slack allows 50 blocks, and rejects well below its documented text sizes.
BLOCKS_PER_MESSAGE = 45
CHARS_PER_MESSAGE = 10_000
FALLBACK_MAX = 3000
MODAL_TITLE_MAX = 24
MODAL_BLOCKS_MAX = 100
LABEL_MAX = 2000
NOTE_MAX_LENGTH = 3000

#: action_ids the adapter listens for.
CHECKIN_ACTION = "okr_checkin"  # opens a form; value: "KR-7" or "" (the check-in), "grade" or "grade KR-7"
RUN_ACTION = "okr_run"  # value: the command text the button runs
REPLACE_ACTION = "okr_replace"  # as okr_run, and the reply takes the place of the button's message
#: The modals' callback_ids, one per form (bot.forms.FormRequest.action).
FORM_CALLBACKS = {"checkin": "okr_checkin_form", "grade": "okr_grade_form"}
FORM_TITLES = {"checkin": "Check-in", "grade": "Grading"}

DOTS = {
    "red": ":red_circle:",
    "yellow": ":large_yellow_circle:",
    "green": ":large_green_circle:",
    "grey": ":white_circle:",
}
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


def escape(text: str) -> str:
    """Slack's three control characters, so text shows as typed and mentions/links nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(parts: Spans) -> str:
    out = []
    for part in parts:
        if isinstance(part, UserText):
            out.append(escape(part.text))
        elif isinstance(part, Mention):
            out.append(f"<@{part.external_id}>" if _USER_ID.fullmatch(part.external_id) else escape(f"@{part.name}"))
        else:
            out.append(escape(part))
    return "".join(out)


def plain(parts: Spans) -> str:
    """Text for plain_text objects: mentions as names; still escaped, as Slack decodes entities."""
    return escape(spans_text(parts))


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis, never inside an ``&lt;`` entity."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + "…"


def chunks(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most ``limit`` characters, at line ends where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        at = text.rfind("\n", 0, limit)
        if at <= 0:
            at = limit
            amp = text.rfind("&", 0, at)
            if amp > 0 and ";" not in text[amp:at]:
                at = amp
        pieces.append(text[:at])
        text = text[at:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def plain_text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit) or " ", "emoji": True}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(label: str, action_id: str, value: str, style: str = "default") -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "button",
        "text": plain_text(escape(label), BUTTON_TEXT_MAX),
        "action_id": action_id[:255],
        "value": value[:BUTTON_VALUE_MAX],
    }
    if style in ("primary", "danger"):
        out["style"] = style
    return out


def checkin_button(ref: str) -> dict[str, Any]:
    return button("Check in", f"{CHECKIN_ACTION}:{ref}"[:255], ref, "primary")


@singledispatch
def block_kit(block: Block) -> list[dict[str, Any]]:
    raise TypeError(f"no Block Kit rendering for {type(block).__name__}")


@block_kit.register
def _(block: Header) -> list[dict[str, Any]]:
    return [{"type": "header", "text": plain_text(plain(block.text), HEADER_MAX)}]


@block_kit.register
def _(block: Text) -> list[dict[str, Any]]:
    text = mrkdwn(block.text)
    if block.strong:
        return [section(f"*{piece}*") for piece in chunks(text, SECTION_MAX - 2) if piece.strip()]
    return [section(piece) for piece in chunks(text, SECTION_MAX) if piece.strip()]


@block_kit.register
def _(block: Fields) -> list[dict[str, Any]]:
    fields = [
        {"type": "mrkdwn", "text": cut(f"*{escape(label)}*\n{mrkdwn(value)}", FIELD_MAX)}
        for label, value in block.items
    ]
    return [
        {"type": "section", "fields": fields[i : i + FIELDS_PER_SECTION]}
        for i in range(0, len(fields), FIELDS_PER_SECTION)
    ]


@block_kit.register
def _(block: Progress) -> list[dict[str, Any]]:
    confidence = f" · confidence *{block.confidence}*/10" if block.confidence is not None else ""
    line = f"`{bar(block.fraction)}` {round(block.fraction * 100)}% · {escape(block.detail)}{confidence}"
    out = section(cut(f"{DOTS.get(block.colour, DOTS['grey'])} {mrkdwn(block.label)}", SECTION_MAX - len(line) - 1))
    out["text"]["text"] += "\n" + line
    if block.ref:
        out["accessory"] = checkin_button(block.ref)
    return [out]


@block_kit.register
def _(block: Context) -> list[dict[str, Any]]:
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": cut(mrkdwn(block.text), CONTEXT_MAX) or " "}]}]


@block_kit.register
def _(block: Divider) -> list[dict[str, Any]]:
    return [{"type": "divider"}]


@block_kit.register
def _(block: Actions) -> list[dict[str, Any]]:
    buttons = [
        button(b.label, f"{REPLACE_ACTION if b.replaces else RUN_ACTION}:{i}", b.command, b.style)
        for i, b in enumerate(block.buttons)
    ]
    return [{"type": "actions", "elements": buttons[i : i + ACTIONS_MAX]} for i in range(0, len(buttons), ACTIONS_MAX)]


@block_kit.register
def _(block: Form) -> list[dict[str, Any]]:
    """A form cannot live in a message: offer the button that opens it as a modal (one key
    result's form, ``checkin KR-7`` typed in a DM, opens as that key result's modal)."""
    refs = ", ".join(group.ref for group in block.groups[:10])
    out = section(cut(f"*{escape(block.title)}* · {escape(refs)}", SECTION_MAX))
    only = block.groups[0].ref if len(block.groups) == 1 else ""
    value = only if block.action == "checkin" else f"{block.action} {only}".strip()
    out["accessory"] = button(block.submit_label, f"{CHECKIN_ACTION}:all", value, "primary")
    return [out]


@block_kit.register
def _(block: Image) -> list[dict[str, Any]]:
    return []  # uploaded as a file into the message's thread (see the adapter)


@block_kit.register
def _(block: File) -> list[dict[str, Any]]:
    return []  # uploaded as a file (see the adapter)


def to_blocks(message: Message) -> list[dict[str, Any]]:
    """Every block of the message, each within Block Kit's own limits (maybe more than 50)."""
    return [out for block in message.blocks for out in block_kit(block)]


def _size(block: dict[str, Any]) -> int:
    return len(json.dumps(block, ensure_ascii=False))


def split(blocks: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Blocks grouped into messages Slack accepts: at most 45 blocks, about 10k characters each."""
    messages: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        block_size = _size(block)
        if current and (len(current) >= BLOCKS_PER_MESSAGE or size + block_size > CHARS_PER_MESSAGE):
            messages.append(current)
            current, size = [], 0
        current.append(block)
        size += block_size
    if current:
        messages.append(current)
    return messages


def fallback(message: Message) -> str:
    """The notification text: plain, escaped (it is parsed for mentions too), short."""
    text = "\n".join(b.plain() for b in message.blocks if not isinstance(b, Image | File | Form))
    return cut(escape(text), FALLBACK_MAX) or "okrbot"


def to_messages(message: Message) -> list[dict[str, Any]]:
    """The message as one or more ``{"text", "blocks"}`` payloads for chat.postMessage / respond.

    Drawn once per Message (a reply the core kept is the same Message again): callers must not
    change what they get."""
    return message.drawn_by("slack", _draw)  # type: ignore[no-any-return]


def _draw(message: Message) -> list[dict[str, Any]]:
    parts = split(to_blocks(message))
    if not parts:
        return [{"text": fallback(message), "blocks": []}] if _has_text(message) else []
    text = fallback(message)
    return [
        {"text": text if i == 0 else cut(text, 150) + " (continued)", "blocks": blocks}
        for i, blocks in enumerate(parts)
    ]


def _has_text(message: Message) -> bool:
    return any(not isinstance(b, Image | File) for b in message.blocks)


# --- the check-in modal -------------------------------------------------------------------------


def _element(field: FormField) -> dict[str, Any]:
    if field.kind == "number":
        element: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": True, "action_id": "value"}
        if field.initial:
            element["initial_value"] = str(field.initial)
        return element
    if field.kind == "choice":
        options = [{"text": plain_text(c, 75), "value": c[:150]} for c in field.choices[:100]]
        element = {"type": "static_select", "action_id": "value", "options": options}
        chosen = [o for o in options if o["value"] == field.initial]
        if chosen:
            element["initial_option"] = chosen[0]
        return element
    element = {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": NOTE_MAX_LENGTH}
    if field.initial:
        element["initial_value"] = field.initial
    return element


def form_blocks(form: Form, *, room: int = MODAL_BLOCKS_MAX) -> list[dict[str, Any]]:
    """One title section and one input per field for each group, as many groups as fit in ``room`` blocks."""
    blocks: list[dict[str, Any]] = []
    for group in form.groups:
        group_blocks = [section(cut(f"*{mrkdwn(group.title)}*", SECTION_MAX))]
        for field in group.fields:
            block = {
                "type": "input",
                "block_id": field.name[:255],
                "label": plain_text(escape(field.label), LABEL_MAX),
                "element": _element(field),
                "optional": field.optional,
            }
            if field.error:
                block["hint"] = plain_text(escape(field.error), LABEL_MAX)
            group_blocks.append(block)
        if len(blocks) + len(group_blocks) > room - 1:
            more = f"More key results than a form holds: {form.rest[0]} `/okr {form.rest[1]}`."
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(more)}]})
            break
        blocks.extend(group_blocks)
    return blocks


def form_modal(form: Form, metadata: dict[str, str], *, notes: Iterable[Block] = ()) -> dict[str, Any]:
    """The modal for views.open; ``metadata`` comes back with the submission (where to confirm).

    ``notes``: the other blocks of the core's answer (why the whole form came back), above the inputs."""
    above = [rendered for block in notes for rendered in block_kit(block)][: MODAL_BLOCKS_MAX // 2]
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACKS[form.action],
        "title": plain_text(escape(form.title), MODAL_TITLE_MAX),
        "submit": plain_text(escape(form.submit_label), MODAL_TITLE_MAX),
        "close": plain_text("Cancel", MODAL_TITLE_MAX),
        "private_metadata": json.dumps(metadata)[:3000],
        "blocks": above + form_blocks(form, room=MODAL_BLOCKS_MAX - len(above)),
    }


def info_modal(title: str, message: Message) -> dict[str, Any]:
    """A modal with no inputs: a sentence where a form was expected."""
    return {
        "type": "modal",
        "title": plain_text(escape(title), MODAL_TITLE_MAX),
        "close": plain_text("Close", MODAL_TITLE_MAX),
        "blocks": to_blocks(message)[:MODAL_BLOCKS_MAX],
    }


def home_view(messages: Iterable[Message], *, picture: tuple[str, str] | None = None) -> dict[str, Any]:
    """App Home: the messages one under the other; ``picture`` (a Slack file id and its alt text),
    the value-chain map of the person's teams, at the end."""
    blocks: list[dict[str, Any]] = []
    for message in messages:
        if blocks:
            blocks.append({"type": "divider"})
        blocks.extend(to_blocks(message))
    tail: list[dict[str, Any]] = []
    if picture is not None:
        file_id, alt = picture
        tail = [{"type": "divider"}, {"type": "image", "slack_file": {"id": file_id}, "alt_text": alt[:2000],
                "title": {"type": "plain_text", "text": "Your teams on the value chain"}}]  # fmt: skip
    size, kept = sum(_size(block) for block in tail), []
    for block in blocks[: MODAL_BLOCKS_MAX - len(tail)]:
        size += _size(block)
        if size > 3 * CHARS_PER_MESSAGE:
            break
        kept.append(block)
    return {"type": "home", "blocks": kept + tail}
