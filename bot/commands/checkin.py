"""Check-ins: the weekly habit, so it must take seconds.

Here too are the messages that ask for one: the check-in form, and the weekly prompt,
reminder and nudge that carry it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from bot.context import Ctx, zone
from bot.errors import NotFound, UsageError, UserError
from bot.grammar import CONFIDENCE, MAX_NOTE, REGISTRY, Arg, Move, Ref, Rest, Value, command
from bot.messages import (
    Actions,
    Block,
    Button,
    Context,
    Form,
    FormField,
    FormGroup,
    Header,
    Message,
    Text,
    UserText,
    spans,
)
from bot.permissions import require_key_result
from bot.scales import CONFIDENCE_MAX, CONFIDENCE_MIN, CONFIDENCE_START, number, week_start
from bot.views import confidence_text, kr_line, kr_ref, mention
from store.models import Cycle, KeyResult, Member, Objective, as_utc, row_id

CHOICES = tuple(str(n) for n in range(CONFIDENCE_MIN, CONFIDENCE_MAX + 1))
UNDO_WINDOW = dt.timedelta(hours=24)
NO_CHANGE = "no change"  # the note of a check-in that keeps the value and confidence
_REF = re.compile(r"KR-(\d{1,9})", re.IGNORECASE)
_REFS_IN_A_BUTTON = 300  # characters: every surface carries a button's command whole up to there


@dataclass(frozen=True)
class Recorded:
    kr: KeyResult  # as it is after the check-in
    value_before: float
    confidence_before: int

    @property
    def jumped(self) -> bool:
        """Moved by more than the whole way from start to target: worth a second look."""
        span = abs(self.kr.target - self.kr.start)
        return span > 0 and abs(self.kr.current - self.value_before) > span


def resolve(move: Move | float, kr: KeyResult) -> float:
    """The value a typed move sets: ``+5`` adds to the current value; ``55%`` is 55 % of the way
    from start to target (for a key result counted in %, the value 55 itself)."""
    if not isinstance(move, Move):
        return move
    if move.how == "add":
        return kr.current + move.amount
    if move.how == "share" and (kr.unit or "").strip() != "%":
        return kr.start + move.amount / 100 * (kr.target - kr.start)
    return move.amount


async def _may_check_in(ctx: Ctx, kr: KeyResult, objective: Objective, cycle: Cycle) -> None:
    """One sentence when the person may not check in on ``kr`` now."""
    await require_key_result(ctx, kr, objective, "check in on")
    if kr.archived:
        raise UserError(f"KR-{kr.number} is archived; check in on an active key result.")
    if cycle.closed:
        raise UserError(f"Cycle {cycle.name} is closed, so KR-{kr.number} takes no more check-ins.")


async def record(
    ctx: Ctx,
    number: int,
    *,
    value: Move | float,
    confidence: int | None,
    note: str,
    source: str,
    read: tuple[KeyResult, Objective, Cycle] | None = None,
    audited: bool = False,
) -> Recorded:
    """Append to KR-``number``'s history and move it, in the caller's one transaction (``read``:
    the key result with its objective and cycle, when the caller has just read them; ``audited``:
    with its entry in the audit log, as a check-in through the HTTP API is)."""
    for again in (False, True):
        kr, objective, cycle = read or await ctx.key_result_in_cycle(number, again=again)
        read = None
        await _may_check_in(ctx, kr, objective, cycle)
        before, value_before = kr.confidence, kr.current
        recorded = await ctx.repo.record_checkin(
            kr,
            member_id=row_id(ctx.actor),
            value=resolve(value, kr),
            confidence=before if confidence is None else confidence,
            note=note,
            at=ctx.now,
            source=source,
            audited=("checkin", f"KR-{number}") if audited else None,
        )
        if recorded:
            return Recorded(kr, value_before, before)
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


HOW = "Answer with the buttons (No change if nothing moved), or type checkin KR-n <value> [<confidence 0-10>] [note]."


def no_change_button(krs: list[KeyResult]) -> Actions:
    """One click that records every key result of a prompt as it stands, in the prompt's place."""
    refs = " ".join(kr_ref(kr) for kr in krs)
    if len(refs) > _REFS_IN_A_BUTTON:  # a prompt holds all of one's key results: "no change" alone says the same
        return Actions((Button("No change", NO_CHANGE, replaces=True),))
    return Actions((Button("No change", f"{NO_CHANGE} {refs}", replaces=True),))


def prompt_message(member: Member, krs: list[KeyResult]) -> Message:
    """The weekly prompt: the person's key results as they stand, and the form for all of them."""
    return Message.of(
        Header(("Weekly check-in",)),
        Text(spans("Hi ", mention(member), ", how did your key results move this week?")),
        *[kr_line(kr, ()) for kr in krs],
        checkin_form(krs),
        no_change_button(krs),
        Context((HOW,)),
    )


def reminder_message(member: Member, krs: list[KeyResult], *, by: Member | None = None) -> Message:
    """A reminder (or a nudge ``by`` someone) to those who have not checked in this week."""
    who = spans(mention(by), " asks: ") if by is not None else ()
    return Message.of(
        Text(spans(who, "Reminder, ", mention(member), ": you have not checked in this week yet.")),
        *[kr_line(kr, ()) for kr in krs],
        checkin_form(krs),
        no_change_button(krs),
        Context((HOW,)),
    )


@command(
    "checkin",
    "KR-n <value> [<confidence 0-10>] [note ...]",
    "Record progress; with no arguments, a form with all your key results.",
    Arg("kr", Ref("KR"), required=False),
    Arg("value", Value("<value>", "value"), required=False),
    Arg("confidence", CONFIDENCE, required=False),
    Arg("note", Rest("[note ...]", "note", MAX_NOTE), required=False),
    writes=lambda values: values.get("kr") is not None,  # alone, it only shows the form
    locks_late=True,  # record() locks the workspace with the statement that writes,
    single_write=True,  # and that statement is its only write
)
async def checkin(
    ctx: Ctx,
    kr: tuple[str, int] | None = None,
    value: Move | None = None,
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
    done = await record(ctx, kr[1], value=value, confidence=confidence, note=note, source=ctx.command.source)
    row, before = done.kr, done.confidence_before
    change = "" if before == row.confidence else f" (was {before})"
    blocks: list[Block] = [
        Text(spans(f"Checked in {kr_ref(row)}: confidence {confidence_text(row.confidence)}{change}.")),
        kr_line(row, (mention(ctx.actor),)),
    ]
    if done.jumped:
        blocks.append(Context((
            f"That moved {kr_ref(row)} from {number(done.value_before)} to {number(row.current)}, more than its "
            f"whole way from {number(row.start)} to {number(row.target)}; `undo` takes it back.",
        )))  # fmt: skip
    return Message.of(*blocks)


# -- one click, and taking one back ---------------------------------------------------------------


def _refs(text: str) -> list[int]:
    """The key result numbers of ``KR-1 KR-2``; a word that is none is one clear sentence."""
    numbers = []
    for word in text.replace(",", " ").split():
        match = _REF.fullmatch(word)
        if match is None:
            raise UsageError(f'"{word[:40]}" is not a key result like KR-7.', REGISTRY[("no", "change")].usage)
        numbers.append(int(match.group(1)))
    return list(dict.fromkeys(numbers))


def _when(ctx: Ctx) -> str:
    """Now, where the person is, as a person says it: "Fri 4 Dec 14:05"."""
    local = ctx.now.astimezone(zone(ctx.actor.timezone or ctx.workspace.timezone))
    return f"{local:%a} {local.day} {local:%b %H:%M}"


@command(
    "no change",
    "[KR-n ...]",
    "Check in on your key results (or those named) as they stand: the same value and confidence.",
    Arg("krs", Rest("[KR-n ...]", "list of key results", 400), required=False),
    writes=True,
    locks_late=True,  # its one write checks and records under the workspace's lock, in one statement,
    single_write=True,  # and is its last: on PostgreSQL the lock lasts only while it runs
)
async def no_change(ctx: Ctx, krs: str = "") -> Message:
    numbers = _refs(krs) or [kr.number for kr in await my_key_results(ctx)]
    if not numbers:
        return Message.of(Text(("You own no active key results; `list all` shows everyone's.",)))
    since = week_start(ctx.now, ctx.actor.timezone or ctx.workspace.timezone or "UTC")
    read = await ctx.repo.key_results_in_cycle(numbers)
    if missing := [n for n in numbers if n not in read]:
        raise NotFound(f"There is no key result KR-{missing[0]} in this workspace; `list all` shows them.")
    for kr, objective, cycle in (read[n] for n in numbers):
        await _may_check_in(ctx, kr, objective, cycle)
    krs_read = [read[n][0] for n in numbers]
    recorded = await ctx.repo.record_unchanged(
        krs_read, member_id=row_id(ctx.actor), since=since, at=ctx.now, note=NO_CHANGE,
        source=f"{ctx.command.source}:prompt"[:16],
    )  # fmt: skip
    done = [kr for kr in krs_read if kr.id in recorded]
    return _no_change_reply(ctx, done, [kr for kr in krs_read if kr.id not in recorded])


def _no_change_reply(ctx: Ctx, done: list[KeyResult], skipped: list[KeyResult]) -> Message:
    already = ", ".join(kr_ref(kr) for kr in skipped)
    if not done:
        return Message.of(Text((f"Nothing more recorded: {already} already checked in this week.",)))
    head = Text(spans(f"No change ✓ recorded for {', '.join(kr_ref(kr) for kr in done)} on {_when(ctx)}."))
    blocks: list[Block] = [head, *[kr_line(kr, (mention(ctx.actor),)) for kr in done]]
    if skipped:
        blocks.append(Context((f"{already} already checked in this week: left as it was.",)))
    return Message.of(*blocks)


@command("undo", "", "Take back your last check-in, within 24 hours of it.", writes=True)
async def undo(ctx: Ctx) -> Message:
    found = await ctx.repo.last_check_in_by(row_id(ctx.actor))
    if found is None or ctx.now - as_utc(found[0].created_at) > UNDO_WINDOW:
        raise UserError("You have no check-in of the last 24 hours to undo.")
    checkin, kr = found
    _, _, cycle = await ctx.key_result_in_cycle(kr.number)
    if cycle.closed:
        raise UserError(f"Cycle {cycle.name} is closed, so its check-ins stay as they are.")
    history = await ctx.repo.check_ins(row_id(kr), limit=2)
    if history[0].id != checkin.id:
        raise UserError(f"{kr_ref(kr)} was checked in again after you; check in anew instead of undoing.")
    older = history[1] if len(history) > 1 else None
    value = checkin.previous_value
    if value is None:  # recorded before check-ins kept what they replaced
        value = older.value if older is not None else kr.start
    confidence = checkin.previous_confidence
    if confidence is None:
        confidence = older.confidence if older is not None else CONFIDENCE_START
    took = f"{number(checkin.value)} at confidence {checkin.confidence}"
    await ctx.repo.undo_check_in(checkin, kr, value=value, confidence=confidence)
    return Message.of(
        Text(
            (
                f"Took back your check-in on {kr_ref(kr)} ({took}): it is {number(value)} at confidence "
                f"{confidence} again.",
            )
        ),  # fmt: skip
        kr_line(kr, (mention(ctx.actor),)),
    )
