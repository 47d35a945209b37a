"""Check-ins: the weekly habit, so it must take seconds.

Here too are the messages that ask for one: the check-in form, and the weekly prompt,
reminder and nudge that carry it.
"""

from __future__ import annotations

from bot.context import Ctx
from bot.errors import UsageError, UserError
from bot.grammar import CONFIDENCE, MAX_NOTE, REGISTRY, Arg, Number, Ref, Rest, command
from bot.messages import Context, Form, FormField, FormGroup, Header, Message, Text, UserText, spans
from bot.permissions import require_key_result
from bot.scales import CONFIDENCE_MAX, CONFIDENCE_MIN, number
from bot.views import confidence_text, kr_line, kr_ref, mention
from store.models import KeyResult, Member, row_id

CHOICES = tuple(str(n) for n in range(CONFIDENCE_MIN, CONFIDENCE_MAX + 1))


async def record(
    ctx: Ctx, number: int, *, value: float, confidence: int | None, note: str, source: str
) -> tuple[KeyResult, int]:
    """Append to KR-``number``'s history and move it, in the caller's one transaction.

    Returns the key result and its confidence before this check-in.
    """
    for again in (False, True):
        kr, objective, cycle = await ctx.key_result_in_cycle(number, again=again)
        await require_key_result(ctx, kr, objective, "check in on")
        if kr.archived:
            raise UserError(f"KR-{kr.number} is archived; check in on an active key result.")
        if cycle.closed:
            raise UserError(
                f"Cycle {cycle.name} is closed, so KR-{kr.number} takes no more check-ins; grade it instead."
            )
        before = kr.confidence
        recorded = await ctx.repo.record_checkin(
            kr,
            member_id=row_id(ctx.actor),
            value=value,
            confidence=before if confidence is None else confidence,
            note=note,
            at=ctx.now,
            source=source,
        )
        if recorded:
            return kr, before
        # Someone changed the key result between our read and our write (PostgreSQL, where the
        # check-in locks the workspace only as it writes): lock now, read it again, write.
        await ctx.repo.lock()
    raise AssertionError("a check-in under the workspace's lock found its key result changed")


async def my_key_results(ctx: Ctx) -> list[KeyResult]:
    """The active key results I own, in open cycles, by number."""
    board = await ctx.board()
    krs = (kr for o in board.objectives for kr in board.catalog.krs.get(row_id(o), ()))
    return sorted((kr for kr in krs if kr.owner_id == ctx.actor.id), key=lambda kr: kr.number)


def checkin_form(krs: list[KeyResult], errors: dict[str, str] | None = None) -> Form:
    errors = errors or {}
    groups = []
    for kr in krs:
        ref = kr_ref(kr)
        unit = f" ({kr.unit})" if kr.unit else ""
        groups.append(
            FormGroup(
                ref=ref,
                title=spans(f"{ref} ", UserText(kr.title), f" · target {number(kr.target)}{unit}"),
                fields=(
                    FormField(
                        f"{ref}.value", f"Value{unit}", "number", number(kr.current), error=errors.get(f"{ref}.value")
                    ),
                    FormField(
                        f"{ref}.confidence",
                        "Confidence 0–10",
                        "choice",
                        str(kr.confidence),
                        CHOICES,
                        error=errors.get(f"{ref}.confidence"),
                    ),
                    FormField(f"{ref}.note", "Note", "text", optional=True, error=errors.get(f"{ref}.note")),
                ),
            )
        )
    return Form(title="Weekly check-in", groups=tuple(groups), submit_label="Check in", action="checkin")


HOW = "Answer with the button, or type checkin KR-n <value> [<confidence 0-10>] [note]."


def prompt_message(member: Member, krs: list[KeyResult]) -> Message:
    """The weekly prompt: the person's key results as they stand, and the form for all of them."""
    return Message.of(
        Header(("Weekly check-in",)),
        Text(spans("Hi ", mention(member), ", how did your key results move this week?")),
        *[kr_line(kr, ()) for kr in krs],
        checkin_form(krs),
        Context((HOW,)),
    )


def reminder_message(member: Member, krs: list[KeyResult], *, by: Member | None = None) -> Message:
    """A reminder (or a nudge ``by`` someone) to those who have not checked in this week."""
    who = spans(mention(by), " asks: ") if by is not None else ()
    return Message.of(
        Text(spans(who, "Reminder, ", mention(member), ": you have not checked in this week yet.")),
        *[kr_line(kr, ()) for kr in krs],
        checkin_form(krs),
        Context((HOW,)),
    )


@command(
    "checkin",
    "KR-n <value> [<confidence 0-10>] [note ...]",
    "Record progress; with no arguments, a form with all your key results.",
    Arg("kr", Ref("KR"), required=False),
    Arg("value", Number("<value>", "value"), required=False),
    Arg("confidence", CONFIDENCE, required=False),
    Arg("note", Rest("[note ...]", "note", MAX_NOTE), required=False),
    writes=lambda values: values.get("kr") is not None,  # alone, it only shows the form
    locks_late=True,  # record() locks the workspace with the statement that writes,
    single_write=True,  # and that statement is its only write
)
async def checkin(
    ctx: Ctx,
    kr: tuple[str, int] | None = None,
    value: float | None = None,
    confidence: int | None = None,
    note: str = "",
) -> Message:
    if kr is None:
        krs = await my_key_results(ctx)
        if not krs:
            return Message.of(Text(("You own no active key results; `list all` shows everyone's.",)))
        return Message.of(checkin_form(krs))
    if value is None:
        raise UsageError(f"The value for KR-{kr[1]} is missing.", REGISTRY[("checkin",)].usage)
    row, before = await record(ctx, kr[1], value=value, confidence=confidence, note=note, source=ctx.command.source)
    change = "" if before == row.confidence else f" (was {before})"
    return Message.of(
        Text(spans(f"Checked in {kr_ref(row)}: confidence {confidence_text(row.confidence)}{change}.")),
        kr_line(row, (mention(ctx.actor),)),
    )
