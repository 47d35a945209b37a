"""Submitted forms: the one-click weekly check-in, answered for every key result at once.

Every field is checked before anything is written: a form with one bad value records
nothing and comes back with an error next to that field (Slack's inline errors, Teams' card
shown again), so a person never wonders which half of their check-in was saved.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.commands.checkin import checkin_form, record
from bot.context import Ctx
from bot.errors import UserError
from bot.grammar import CONFIDENCE, MAX_NOTE, Kind, Number, Token
from bot.messages import Context, Form, Message, Text, spans
from bot.views import kr_line, mention
from store.models import KeyResult

_FIELD = re.compile(r"KR-(\d{1,9})\.(value|confidence|note|score)")
#: ``checkin`` or ``grade KR-7`` with no value: a request for the form, not a check-in or a grade.
_FORM_REQUEST = re.compile(r"\s*(checkin|grade)(?:\s+(KR-\d{1,9}))?\s*", re.IGNORECASE)


class FormErrors(UserError):
    """Some fields are wrong: ``errors`` maps field names to one sentence; ``form`` is shown again."""

    def __init__(self, errors: dict[str, str], form: Form) -> None:
        super().__init__("Some answers need a fix: " + " ".join(errors.values()))
        self.errors = errors
        self.form = form


@dataclass(frozen=True)
class Answer:
    kr: KeyResult
    value: float
    confidence: int | None
    note: str


def field_numbers(values: Mapping[str, str], parts: tuple[str, ...] = ("value", "confidence", "note")) -> list[int]:
    """The key result numbers a submitted form has fields for (``KR-7.value`` → 7), in order."""
    found = (_FIELD.fullmatch(key) for key in values)
    return sorted({int(m.group(1)) for m in found if m and m.group(2) in parts})


def parse_field(kind: Kind, text: str, field: str, errors: dict[str, str]) -> Any:
    """``text`` as ``kind`` reads it, or None with the sentence saying why put in ``errors``."""
    try:
        return kind.convert(Token(text.strip(), False, 0, len(text)))
    except ValueError as exc:
        errors[field] = str(exc)
        return None


async def submit_checkins(ctx: Ctx, values: Mapping[str, str], *, source: str) -> Message:
    """Record every answered key result of a check-in form in one transaction, or none.

    Like a typed check-in it locks the workspace only as it writes (:func:`record`): a key
    result that changed since it was read is read again, under the lock, before it is written."""
    numbers = field_numbers(values)
    if not numbers:
        raise UserError("The form came back empty; type checkin to get a new one.")
    errors: dict[str, str] = {}
    answers: list[Answer] = []
    krs: list[KeyResult] = []
    for number in numbers:
        kr = await ctx.key_result(number)
        krs.append(kr)
        ref = f"KR-{number}"
        raw_value = (values.get(f"{ref}.value") or "").strip()
        raw_confidence = (values.get(f"{ref}.confidence") or "").strip()
        note = (values.get(f"{ref}.note") or "").strip()
        if not raw_value:
            errors[f"{ref}.value"] = f"Give {ref} a value, like 42."
            continue
        value = parse_field(Number("<value>", "value"), raw_value, f"{ref}.value", errors)
        confidence = parse_field(CONFIDENCE, raw_confidence, f"{ref}.confidence", errors) if raw_confidence else None
        if len(note) > MAX_NOTE:
            errors[f"{ref}.note"] = f"The note is {len(note)} characters long; the most is {MAX_NOTE}."
        if value is not None:
            answers.append(Answer(kr, value, confidence, note))
    if errors:
        raise FormErrors(errors, checkin_form(krs, errors))
    blocks = []
    for answer in answers:
        done = await record(
            ctx, answer.kr.number, value=answer.value, confidence=answer.confidence, note=answer.note, source=source
        )
        blocks.append(kr_line(done.kr, (mention(ctx.actor),)))
    count = len(answers)
    head = Text(
        spans(f"Checked in {count} key result{'s' if count != 1 else ''} ✓ Thank you, ", mention(ctx.actor), "!")
    )
    return Message.of(head, *blocks)


def one_key_result(message: Message, ref: str) -> Message:
    """The check-in (or grading) form cut down to ``ref``'s inputs (a progress line's Check in button); the
    whole form, said so, when ``ref`` is not among the person's own active key results, so the
    button still leads somewhere."""
    ref = ref.upper()
    form = next((block for block in message.blocks if isinstance(block, Form)), None)
    if form is None:
        return message  # no key results of one's own, or an error: the core's sentence as it is
    groups = tuple(group for group in form.groups if group.ref.upper() == ref)
    if not groups:
        note = Context((f"{ref} is not one of your active key results, so here are the ones that are.",))
        return Message(blocks=(note, *message.blocks), visibility=message.visibility)
    cut = dataclasses.replace(form, groups=groups)
    blocks = tuple(cut if block is form else block for block in message.blocks)
    return Message(blocks=blocks, visibility=message.visibility, is_error=message.is_error)


@dataclass(frozen=True, slots=True)
class FormRequest:
    """What a surface's "Check in" or "Grade" asks for: the form, whole (``ref`` "") or cut to
    one key result's part (``ref`` "KR-7")."""

    action: str  # "checkin" or "grade": the command that, alone, answers with the form
    ref: str = ""


def form_request(text: str) -> FormRequest | None:
    """``checkin``, ``checkin KR-7``, ``grade``, ``grade KR-7``: a request for a form; None for
    anything else (a typed check-in or grade with a value goes to the core as a command)."""
    match = _FORM_REQUEST.fullmatch(text)
    if match is None:
        return None
    return FormRequest(match.group(1).lower(), (match.group(2) or "").upper())
