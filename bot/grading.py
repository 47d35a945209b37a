"""Grading at a cycle's end: the form with every key result's score, and the direct message
that asks for it in the cycle's last days.

A score is pre-filled with the key result's progress (its grade, when it has one), so grading
a cycle that went as the numbers say is one submit. As with the check-in form, every field is
checked before anything is written: one score outside 0.0–1.0 saves nothing and comes back
with an error beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from bot.context import Ctx
from bot.errors import UserError
from bot.forms import FormErrors, field_numbers, parse_field
from bot.grammar import Score
from bot.messages import Context, Form, FormField, FormGroup, Header, Message, Text, UserText, spans
from bot.permissions import require_key_result
from bot.scales import ASPIRATIONAL_SUCCESS
from bot.views import kr_ref, kr_score, mention
from store.models import Cycle, KeyResult, Member, Objective

GRADING_DAYS = 7  # a cycle's last week asks its owners to grade
FORM_ACTION = "grade"
HOW = (
    "Committed objectives are met at 1.0; aspirational ones are a success at 0.7. "
    "Or type grade KR-n <0.0-1.0> for one key result."
)


def grading_days(cycle: Cycle, today: dt.date) -> bool:
    """Whether ``today`` falls in the cycle's last :data:`GRADING_DAYS` days."""
    return cycle.ends_on - dt.timedelta(days=GRADING_DAYS - 1) <= today <= cycle.ends_on


def grading_form(krs: Sequence[KeyResult], errors: Mapping[str, str] | None = None) -> Form:
    """One score per key result, pre-filled with its grade or, without one, its progress."""
    errors = errors or {}
    groups = tuple(
        FormGroup(
            ref=kr_ref(kr),
            title=spans(f"{kr_ref(kr)} ", UserText(kr.title)),
            fields=(
                FormField(
                    f"{kr_ref(kr)}.score",
                    "Score 0.0–1.0",
                    "number",
                    f"{kr_score(kr):.2f}",
                    error=errors.get(f"{kr_ref(kr)}.score"),
                    example="0.7",
                ),
            ),
        )
        for kr in krs
    )
    rest = ("grade the rest with", "grade KR-n <0.0-1.0>")
    return Form(title="Grade the cycle", groups=groups, submit_label="Grade", action=FORM_ACTION, rest=rest)


def grading_message(member: Member, cycle: Cycle, krs: Sequence[KeyResult]) -> Message:
    """The direct message of a cycle's last week: the owner's ungraded key results, in one form."""
    ends = f"{cycle.ends_on:%A %-d %B}"
    return Message.of(
        Header((f"Grade {cycle.name}",)),
        Text(
            spans(
                "Hi ",
                mention(member),
                f", cycle {cycle.name} ends on {ends}. How did your key results land? "
                "Each score starts at the key result's progress: change the ones you judge otherwise, then Grade.",
            )
        ),
        grading_form(krs),
        Context((HOW,)),
    )


async def grade_one(ctx: Ctx, number: int, score: float) -> tuple[KeyResult, Objective]:
    """Set KR-``number``'s score, or one sentence on why it may not be (nothing written)."""
    row, objective, cycle = await ctx.key_result_in_cycle(number)
    await require_key_result(ctx, row, objective, "grade")
    if row.archived:
        raise UserError(f"KR-{row.number} is archived; it can no longer be graded.")
    if cycle.closed:
        raise UserError(
            f"Cycle {cycle.name} is closed, so KR-{row.number} keeps the score it had; grade before closing."
        )
    row.score = score
    await ctx.repo.save(row)
    return row, objective


def verdict(objective: Objective, score: float) -> str:
    if objective.kind != "aspirational":
        return ""
    if score >= ASPIRATIONAL_SUCCESS:
        return " (a success for an aspirational objective)"
    return " (below the 0.7 an aspirational objective aims for)"


async def submit_grades(ctx: Ctx, values: Mapping[str, str]) -> Message:
    """Grade every key result of a submitted grading form in one transaction, or none."""
    numbers = field_numbers(values, ("score",))
    if not numbers:
        raise UserError("The form came back empty; type grade to get a new one.")
    errors: dict[str, str] = {}
    scores: dict[int, float] = {}
    for number in numbers:
        name = f"KR-{number}.score"
        raw = (values.get(name) or "").strip()
        if not raw:
            errors[name] = f"Give KR-{number} a score from 0.0 to 1.0, like 0.7."
            continue
        score = parse_field(Score(), raw, name, errors)
        if score is not None:
            scores[number] = score
    if errors:
        krs = [await ctx.key_result(number) for number in numbers]
        raise FormErrors(errors, grading_form(krs, errors))
    lines = []
    for number, score in scores.items():
        row, objective = await grade_one(ctx, number, score)
        lines.append(Text(spans(f"{kr_ref(row)} ", UserText(row.title), f": {score:.2f}{verdict(objective, score)}")))
    count = len(lines)
    head = Text(spans(f"Graded {count} key result{'s' if count != 1 else ''} ✓ Thank you, ", mention(ctx.actor), "!"))
    return Message.of(head, *lines)
