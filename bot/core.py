"""The core's one entry point: a :class:`Command` in, a :class:`Message` out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from bot.audit import audited, record, target_of
from bot.cache import ReadCache
from bot.command import Command, Platform, WorkspaceRef
from bot.commands import alignment, audit_log, checkin, data, forget, help, okrs, org, reading, review, schedule, tokens  # noqa: F401  (registers every command)
from bot.commands.data import import_csv
from bot.context import Ctx, zone
from bot.errors import UserError
from bot.forms import FormErrors, FormRequest, one_key_result, submit_checkins
from bot.grading import submit_grades
from bot.grammar import REGISTRY, parse
from bot.messages import Message
from store.db import WRITES, Conflict, Database, Session
from store.models import Member, utcnow
from store.people import mark_left, member_team_keys, workspace_members
from store.repo import LOCKS_LATE, NeedsTransaction, Repo, Revisions, Seen, ensure_workspace, identity

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3
#: Reads whose whole reply is kept until the workspace's next write (bot/cache.py): ``checkin``
#: alone is the form of my key results, asked for by every Check in button of a prompt.
KEPT_REPLIES = frozenset({"list", "show", "checkin"})
REPLIES = 256  # replies kept, over every workspace (each with its Slack and Teams drawings)
PEOPLE = 4096  # who asked (store.repo.Seen), kept under the revision they were read at
#: Commands that may read much (every team, every check-in): their reads run as long reads.
LONG_READS = (("digest",), ("export",), ("tree",), ("cycle", "review"))  # read with the long statement timeout
INTERNAL_ERROR = "Something went wrong on okrbot's side and nothing was saved; please try again in a moment."
#: The first words of okrbot's commands: the only ones an observer is told (labels stay few).
FORMS = frozenset({"checkin", "grade"})  # the forms a surface may submit (bot.forms.FormRequest)
CHECKIN = FormRequest("checkin")
COMMAND_WORDS = frozenset(words[0] for words in REGISTRY)

Clock = Callable[[], dt.datetime]
T = TypeVar("T")


@dataclass(frozen=True)
class FormReply:
    message: Message
    errors: dict[str, str] = field(default_factory=dict)  # field name → sentence; empty when recorded


@dataclass(frozen=True)
class Answered:
    """One answer the core gave, as an observer (metrics) sees it: never what was typed.

    ``command``: the command's first word when okrbot knows it, else "other"; a form is
    ``form:<word>``. ``outcome``: ok, refused (the person is told what was wrong) or failed
    (okrbot's side)."""

    source: str
    command: str
    outcome: str
    seconds: float


Observer = Callable[[Answered], None]


@dataclass(frozen=True)
class Person:
    external_id: str
    name: str
    is_admin: bool


@dataclass(frozen=True)
class People:
    """A workspace's name and the people okrbot knows in it, admins first, then by name."""

    workspace_name: str
    people: tuple[Person, ...]


def command_word(text: str) -> str:
    """A command's first word when it is one okrbot knows (never free text: labels stay few)."""
    words = text.split()
    return words[0].lower() if words and words[0].lower() in COMMAND_WORDS else "other"


def outcome_of(message: Message) -> str:
    if not message.is_error:
        return "ok"
    return "failed" if message.text == INTERNAL_ERROR else "refused"


class Bot:
    """Parses, checks and runs commands against the store, one transaction each (on PostgreSQL a
    typed check-in's one write is a transaction of its own: :meth:`_write_single`)."""

    def __init__(self, db: Database, *, clock: Clock = utcnow, timezone: str = "UTC") -> None:
        self.db = db
        self.clock = clock
        self.timezone = timezone  # for workspaces created here
        self.reads = ReadCache()
        self.replies = ReadCache(REPLIES)
        self.people = ReadCache(PEOPLE)
        self.revisions = Revisions(db)
        #: Told of every answer of :meth:`handle` and :meth:`submit_form`, after it is ready.
        self.observers: list[Observer] = []

    def observe(self, observer: Observer) -> None:
        """Tell ``observer`` of every answer from now on; it must be quick (it runs inline), and
        one that raises is logged, never passed on to the person asking."""
        self.observers.append(observer)

    def _tell(self, answered: Answered) -> None:
        for observer in self.observers:
            try:
                observer(answered)
            except Exception:
                log.exception("an observer of the core's answers failed")

    async def handle(self, command: Command) -> Message:
        """Run one command; whatever the input, the answer is a Message, never an exception."""
        started = time.perf_counter()
        message = await self._answer(command)
        if self.observers:
            word = command_word(command.text or "help")
            self._tell(Answered(command.source, word, outcome_of(message), time.perf_counter() - started))
        return message

    async def form(self, command: Command, request: FormRequest = CHECKIN) -> Message:
        """The person's check-in or grading form (what ``checkin`` or ``grade`` alone answers), cut
        to the request's key result when it names one of theirs; otherwise the whole form, with a
        note saying so, so that a progress line's "Check in" leads somewhere on every surface."""
        message = await self.handle(dataclasses.replace(command, text=request.action))
        return one_key_result(message, request.ref) if request.ref else message

    async def call(
        self, command: Command, action: Callable[[Ctx], Awaitable[T]], *, writes: bool = False, single: bool = False
    ) -> T:
        """Run ``action`` as ``command``'s person, in one transaction: the HTTP API's way in
        (bot/api.py). A UserError is the caller's to say; a write takes the workspace's lock with
        the statement that writes, as a typed check-in does; ``single``: its one write is its
        last statement (grammar.Spec.single_write)."""
        return await self._run(command, writes, action, locks_late=writes, single=single)

    async def _answer(self, command: Command) -> Message:
        try:
            parsed = parse(command.text.strip() or "help")
            spec = parsed.spec
            long = any(spec.words[: len(words)] == words for words in LONG_READS)
            writes = spec.writes_with(parsed.values)
            keep = None
            if not writes and spec.words[0] in KEPT_REPLIES:
                keep = (spec.words, tuple(sorted(parsed.values.items())))
                kept = await self._kept_reply(command, keep)
                if kept is not None:
                    return kept
            audit = writes and audited(spec, command)

            async def act(ctx: Ctx) -> Message:
                reply: Message = await spec.handler(ctx, **parsed.values)
                if audit and not reply.is_error:  # in the same transaction: no entry without the write
                    await record(ctx, " ".join(spec.words), target_of(spec, parsed.values))
                return reply

            return await self._run(
                command,
                writes,
                act,
                long=long,
                keep=keep,
                locks_late=spec.locks_late,
                single=spec.single_write and not audit,  # an entry is a second write
            )
        except UserError as exc:
            return Message.error(exc.sentence)
        except Exception:
            log.exception("command failed: %s", parsed_name(command))
            return Message.error(INTERNAL_ERROR)

    async def submit_form(self, command: Command, action: str, values: Mapping[str, str]) -> FormReply:
        """A submitted form (the check-in form): a confirmation, or the form again with its errors.

        ``values`` maps the form's field names (``KR-7.value``, ``KR-7.confidence``, ``KR-7.note``)
        to what the person typed; nothing is written unless every field is right.
        """
        started = time.perf_counter()
        reply = await self._submit(command, action, values)
        if self.observers:
            outcome = "refused" if reply.errors else outcome_of(reply.message)
            word = f"form:{command_word(action)}"
            self._tell(Answered(command.source, word, outcome, time.perf_counter() - started))
        return reply

    async def _submit(self, command: Command, action: str, values: Mapping[str, str]) -> FormReply:
        if action not in FORMS:
            return FormReply(Message.error(f'okrbot has no form called "{action[:40]}".'))
        try:
            if action == "checkin":
                message = await self._run(
                    command, True, lambda ctx: submit_checkins(ctx, values, source=command.source), locks_late=True
                )
            else:
                message = await self._run(command, True, lambda ctx: submit_grades(ctx, values))
            return FormReply(message)
        except FormErrors as exc:
            return FormReply(Message.of(exc.form), errors=exc.errors)
        except UserError as exc:
            return FormReply(Message.error(exc.sentence))
        except Exception:
            log.exception("form failed: %s", action)
            return FormReply(Message.error(INTERNAL_ERROR))

    async def members(self, platform: Platform, external_id: str) -> People | None:
        """Who a surface may offer to act as (the web chat's switcher); None for a workspace
        okrbot has never seen."""
        async with self.db.read() as session:
            found = await workspace_members(session, platform, external_id)
        if found is None:
            return None
        workspace, members = found
        people = sorted(
            (Person(m.external_id, m.display_name or m.external_id, m.is_admin) for m in members),
            key=lambda person: (not person.is_admin, person.name.lower()),
        )
        return People(workspace.name or "", tuple(people))

    async def team_keys(self, workspace: WorkspaceRef, external_id: str, *, limit: int) -> list[str]:
        """The keys of the teams a person belongs to, by key (Slack's App Home shows those)."""
        async with self.db.read() as session:
            return await member_team_keys(session, workspace.platform, workspace.external_id, external_id, limit=limit)

    async def member_left(self, workspace: WorkspaceRef, external_id: str, *, left: bool) -> bool:
        """The platform says a person left (a deactivated account) or is back: while gone they get
        no prompts, reminders, nudges or grading DMs and digests show them as away. Not forgotten."""
        async with self.db.write() as session:
            at = self.clock() if left else None
            return await mark_left(session, workspace.platform, workspace.external_id, external_id, at)

    async def import_csv(self, command: Command, text: str) -> tuple[bool, str]:
        """Import a CSV file whole, or nothing of it: (done, the sentence to show)."""
        try:

            async def act(ctx: Ctx) -> str:
                done = await import_csv(ctx, text)
                await record(ctx, "import")
                return done

            return True, await self._run(command, True, act)
        except UserError as exc:
            return False, exc.sentence

    async def _kept_reply(self, command: Command, keep: Hashable) -> Message | None:
        """The reply kept for this person and these arguments, if the workspace has not been
        written since: one small statement, shared with whoever asks at the same moment
        (:class:`store.repo.Revisions`), no transaction."""
        ref = command.workspace
        try:
            current = await self.revisions.current(ref.platform, ref.external_id)
        except Exception:
            log.debug("revision peek failed", exc_info=True)
            return None
        if current is None:
            return None
        workspace_id, revision = current
        seen: Seen | None = self.people.kept(workspace_id, revision, command.actor.external_id)
        if seen is None or _stale(seen, command):
            return None
        today = self.clock().astimezone(zone(seen.timezone or seen.workspace_timezone)).date()
        return self.replies.kept(workspace_id, revision, (seen.member_id, today, keep))

    async def _run(
        self,
        command: Command,
        writes: bool,
        action: Callable[[Ctx], Awaitable[T]],
        *,
        long: bool = False,
        keep: Hashable | None = None,
        locks_late: bool = False,
        single: bool = False,
    ) -> T:
        """Run ``action`` in one transaction, registering the workspace and person on first sight.

        ``keep``: a read's arguments; its reply is kept under them (:attr:`replies`).
        ``locks_late``: a write that locks the workspace itself (store.repo.LOCKS_LATE).
        ``single``: a write whose one write is its last statement (grammar.Spec.single_write)."""
        if not writes:
            async with self.db.read(long=long) as session:
                ctx = await self._context(session, command)
                if ctx is not None:
                    result = await action(ctx)
                    if keep is not None and isinstance(result, Message) and not result.is_error:
                        self._keep_reply(ctx, keep, result)
                    return result
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                return await self._write(command, action, locks_late=locks_late, single=single)
            except Conflict:
                # Another instance wrote the same unique row first (two people's first message to a
                # new workspace, two `team add` of one key): nothing of ours was kept, so run again
                # and see what they wrote.
                if attempt == WRITE_ATTEMPTS:
                    raise
                log.info("retrying after a concurrent write: %s", parsed_name(command))
        raise AssertionError("unreachable")

    def _keep_reply(self, ctx: Ctx, keep: Hashable, reply: Message) -> None:
        workspace, actor = ctx.workspace, ctx.actor
        seen = Seen(actor.id, actor.display_name, actor.timezone, actor.is_admin, workspace.timezone)  # type: ignore[arg-type]
        self.people.keep(workspace.id, workspace.revision, actor.external_id, seen)  # type: ignore[arg-type]
        self.replies.keep(workspace.id, workspace.revision, (actor.id, ctx.today, keep), reply)  # type: ignore[arg-type]

    async def _write(
        self, command: Command, action: Callable[[Ctx], Awaitable[T]], *, locks_late: bool, single: bool = False
    ) -> T:
        if single:
            done, result = await self._write_single(command, action)
            if done:
                return result  # type: ignore[return-value]
        async with self.db.write() as session:
            session.info[LOCKS_LATE] = locks_late
            ctx = await self._context(session, command)
            if ctx is None:
                await self._register(session, command)
                ctx = await self._context(session, command)
                assert ctx is not None
            result = await action(ctx)
            await ctx.repo.touch()
            return result

    async def _write_single(self, command: Command, action: Callable[[Ctx], Awaitable[T]]) -> tuple[bool, T | None]:
        """A command whose one write is its last statement: on PostgreSQL run without a
        transaction (Database.write(single=True)), so the workspace's lock is held only while
        that statement runs. (False, None) when it needs a transaction after all: a person to
        register first, or a lock to hold across statements (the key result changed between
        the read and the write)."""
        try:
            async with self.db.write(single=True) as session:
                session.info[LOCKS_LATE] = True
                ctx = await self._context(session, command)
                if ctx is None:
                    return False, None
                result = await action(ctx)
                await ctx.repo.touch()
                return True, result
        except NeedsTransaction:
            return False, None

    async def _context(self, session: Session, command: Command) -> Ctx | None:
        ref = command.workspace
        workspace, actor = await identity(session, ref.platform, ref.external_id, command.actor.external_id)
        if workspace is None or actor is None or _stale(actor, command):
            return None
        repo = Repo(session, workspace.id)  # type: ignore[arg-type]
        cache = None if session.info.get(WRITES) else self.reads
        return Ctx(repo=repo, workspace=workspace, actor=actor, command=command, now=self.clock(), cache=cache)

    async def _register(self, session: Session, command: Command) -> None:
        """Create the workspace and member on first sight; the first member is the admin."""
        ref = command.workspace
        workspace = await ensure_workspace(
            session, platform=ref.platform, external_id=ref.external_id, name=ref.name[:200], timezone=self.timezone
        )
        repo = Repo(session, workspace.id)  # type: ignore[arg-type]
        actor = command.actor
        member = await repo.member_by_external(actor.external_id)
        if member is None:
            first = await repo.member_count() == 0
            member = Member(workspace_id=repo.workspace_id, external_id=actor.external_id, is_admin=first)
        member.display_name = (actor.display_name or member.display_name or actor.external_id)[:200]
        member.timezone = actor.timezone or member.timezone
        member.is_admin = member.is_admin or actor.is_platform_admin
        await repo.add(member)


def _stale(member: Member | Seen, command: Command) -> bool:
    """Whether what the platform says of the person differs from what we stored."""
    actor = command.actor
    return bool(
        (actor.display_name and actor.display_name[:200] != member.display_name)
        or (actor.timezone and actor.timezone != member.timezone)
        or (actor.is_platform_admin and not member.is_admin)
    )


def parsed_name(command: Command) -> str:
    """The command's first word, for logs: never the rest, which may hold personal text."""
    words = command.text.split()
    return words[0][:20] if words else "(empty)"
