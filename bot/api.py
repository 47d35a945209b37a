"""The HTTP API's core: what ``/api/v1`` reads and writes, as pydantic models.

The models validate what comes in and describe what goes out; ``adapters/api`` serves them over
HTTP and builds the OpenAPI document from the same models. Every call runs as the person who
made the token (:class:`Caller`), through :meth:`bot.core.Bot.call`, so it has their rights and
meets the same sentences the chat gives.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import JsonDict

from bot.command import Actor, Command, Platform, WorkspaceRef
from bot.commands.checkin import record
from bot.commands.tokens import token_digest as token_digest
from bot.context import Ctx
from bot.digest import load_team, participation
from bot.errors import NotFound, UserError
from bot.grammar import CONFIDENCE, MAX_NOTE, Kind, Rest, Value, read_as
from bot.progress import CycleClock
from bot.scales import pace
from bot.views import Catalog, kr_progress, kr_ref, objective_ref
from store.db import Database
from store.models import ApiAnswer, CheckIn, KeyResult, Member, Objective, as_utc, row_id, utcnow
from store.tokens import mark_used as mark_token_used
from store.tokens import token_by_digest

#: How long a POST's answer is kept for its Idempotency-Key.
KEEP_ANSWERS = dt.timedelta(hours=24)
#: A token's "last used" is written at most this often.
USED_EVERY = dt.timedelta(minutes=1)
HISTORY = 200  # check-ins in one key result's answer, newest first
#: How the chat reads each field of a check-in: a wrong one gets the chat's own sentence.
_AS_TYPED: dict[str, Kind] = {
    "value": Value("<value>", "value"),
    "confidence": CONFIDENCE,
    "note": Rest("[note ...]", "note", MAX_NOTE),
}
_PACE: JsonDict = {"enum": ["ahead", "on", "behind"]}
_BODY = 'The body must be a JSON object like {"value": 45, "confidence": 7, "note": "…"}.'


class ApiError(UserError):
    """A refusal with its HTTP status (the sentence is the problem's ``detail``)."""

    def __init__(self, status: int, sentence: str) -> None:
        super().__init__(sentence)
        self.status = status


# --- what goes in ----------------------------------------------------------------------------


class CheckInBody(BaseModel):
    """A check-in: the key result's new value; confidence (0–10) is kept from the last check-in
    when it is left out."""

    model_config = ConfigDict(extra="forbid")

    value: float = Field(allow_inf_nan=False, gt=-1e15, lt=1e15, examples=[45])
    confidence: int | None = Field(default=None, ge=0, le=10, examples=[7])
    note: str = Field(default="", max_length=MAX_NOTE, examples=["two deploys a day since the pipeline moved"])


class KeyResultFilters(BaseModel):
    """Filters of ``GET /key-results``; with no ``cycle``, the open cycles."""

    team: str | None = Field(default=None, description="a team's key")
    owner: str | None = Field(default=None, description="the owner's platform id or display name")
    cycle: str | None = Field(default=None, description="a cycle's name, e.g. 2026-Q4")
    capability: str | None = Field(default=None, description="a capability's key (its sub-capabilities count)")


class ObjectiveFilters(BaseModel):
    """Filters of ``GET /objectives``; with no ``cycle``, the open cycles."""

    team: str | None = Field(default=None, description="a team's key")
    cycle: str | None = Field(default=None, description="a cycle's name, e.g. 2026-Q4")
    capability: str | None = Field(default=None, description="a capability's key (its sub-capabilities count)")


class DigestQuery(BaseModel):
    team: str = Field(description="the team's key")


def check_in_body(raw: bytes) -> CheckInBody:
    """The body read as the chat would read the same words: ApiError with the chat's sentence."""
    try:
        return CheckInBody.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise ApiError(422 if _is_object(raw) else 400, _sentence(exc, raw)) from None


FiltersT = TypeVar("FiltersT", bound=BaseModel)


def filters(model: type[FiltersT], query: Mapping[str, str]) -> FiltersT:
    """A query string as ``model``: ApiError for a filter it does not have, or one it needs."""
    unknown = sorted(set(query) - set(model.model_fields))
    if unknown:
        known = ", ".join(model.model_fields)
        raise ApiError(400, f'"{unknown[0][:40]}" is not a filter here; the filters are {known}.')
    try:
        return model.model_validate(dict(query))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ApiError(400, f"The filter {first['loc'][0]} is missing: it is required here.") from None


def _is_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


def _sentence(exc: ValidationError, raw: bytes) -> str:
    if not _is_object(raw):
        return _BODY
    body = json.loads(raw)
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    if first["type"] == "missing":
        return f"The {name} is missing. {_BODY}"
    if first["type"] == "extra_forbidden":
        return f'"{name[:40]}" is not a field of a check-in; the fields are value, confidence and note.'
    kind = _AS_TYPED.get(name)
    if kind is not None:
        typed = body.get(name)
        try:
            read_as(kind, typed if isinstance(typed, str) else json.dumps(typed))
        except ValueError as wrong:
            return str(wrong)
    return f"The {name} is not right: {first['msg']}."


# --- what goes out ---------------------------------------------------------------------------


class Person(BaseModel):
    id: str = Field(description="the platform's id (a Slack user id, an Azure AD object id)")
    name: str


class CheckInOut(BaseModel):
    key_result: str = Field(examples=["KR-7"])
    value: float
    confidence: int
    note: str
    by: Person | None
    source: str = Field(description="where it came from: slack, teams, webchat, console, api:<token name>…")
    at: dt.datetime


class KeyResultOut(BaseModel):
    ref: str = Field(examples=["KR-7"])
    title: str
    objective: str = Field(examples=["O-3"])
    team: str = Field(description="the objective's team's key")
    cycle: str
    owner: Person | None
    start: float
    target: float
    current: float
    unit: str
    confidence: int = Field(ge=0, le=10)
    progress: float = Field(ge=0, le=1, description="the share of the way from start to target")
    pace: str = Field(description="progress against the cycle's time elapsed", json_schema_extra=_PACE)
    score: float | None = Field(description="the end-of-cycle grade (0.0–1.0), null until graded")
    archived: bool
    updated_at: dt.datetime


class KeyResultDetail(KeyResultOut):
    check_ins: list[CheckInOut] = Field(description=f"newest first, at most {HISTORY}")


class KeyResultList(BaseModel):
    key_results: list[KeyResultOut]


class ObjectiveOut(BaseModel):
    ref: str = Field(examples=["O-3"])
    title: str
    team: str
    cycle: str
    owner: Person | None
    kind: Literal["committed", "aspirational"]
    capability: str | None = Field(description="the capability's key it supports")
    parent: str | None = Field(description="the objective it rolls up to")
    progress: float | None = Field(description="the average progress of its key results; null without any")
    archived: bool
    key_results: list[str]


class ObjectiveDetail(ObjectiveOut):
    key_result_details: list[KeyResultOut]


class ObjectiveList(BaseModel):
    objectives: list[ObjectiveOut]


class DigestKeyResult(BaseModel):
    ref: str
    title: str
    owner: Person | None
    progress: float
    pace: str = Field(json_schema_extra=_PACE)
    confidence: int
    confidence_change: int | None = Field(description="now against a week ago")
    checked_in: bool = Field(description="a check-in in the last seven days")
    stale: bool = Field(description="no check-in in two weeks")
    at_risk: bool = Field(description="confidence 3 or less, or behind pace")
    note: str | None = Field(description="the latest note")


class DigestObjective(BaseModel):
    ref: str
    title: str
    kind: Literal["committed", "aspirational"]
    capability: str | None
    parent: str | None
    progress: float | None
    key_results: list[DigestKeyResult]


class StageFeeders(BaseModel):
    capability: str = Field(description="a value-chain stage this team's objectives support")
    other_teams: list[str] = Field(description="the other teams feeding the same stage")


class DigestOut(BaseModel):
    team: str
    team_name: str
    cycle: str
    week: int
    weeks: int
    elapsed: float = Field(ge=0, le=1, description="the share of the cycle's time gone")
    objectives: list[DigestObjective]
    checked_in: list[Person] = Field(description="key-result owners who checked in this week")
    missing: list[Person] = Field(description="key-result owners who did not, and are not away")
    away: list[Person]
    at_risk: list[str] = Field(description="key results at risk, worst first")
    across: list[StageFeeders]
    unsupported: list[str] = Field(description="capabilities no objective of the cycle supports")


# --- who calls -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """A request's token: its workspace, and the member it acts as."""

    token_id: int
    name: str
    command: Command  # the token's maker in its workspace, as the core runs commands
    last_used_at: dt.datetime | None = None

    @property
    def source(self) -> str:
        return self.command.source  # api:<token name>


async def authenticate(db: Database, token: str) -> Caller | None:
    """The caller a bearer token stands for; None for a token that was never made or is revoked."""
    found = await token_by_digest(db, token_digest(token))
    if found is None:
        return None
    platform: Platform = found.platform  # type: ignore[assignment]  # one of them, as a plain string
    ref = WorkspaceRef(platform, found.workspace_external_id, found.workspace_name)
    command = Command(ref, Actor(found.maker_external_id), "api", source=f"api:{found.name}")
    return Caller(found.token_id, found.name, command, found.last_used_at)


async def mark_used(db: Database, caller: Caller, now: dt.datetime | None = None) -> None:
    """Note that the token answered a request (at most once a minute, so reads stay reads)."""
    now = now or utcnow()
    if caller.last_used_at is None or caller.last_used_at < now - USED_EVERY:
        async with db.write() as session:
            await mark_token_used(session, caller.token_id, now, unless_since=now - USED_EVERY)


# --- the calls -------------------------------------------------------------------------------


async def key_results(ctx: Ctx, wanted: KeyResultFilters) -> KeyResultList:
    catalog, objectives = await _objectives(ctx, wanted.team, wanted.cycle, wanted.capability)
    owner = await _owner(ctx, wanted.owner) if wanted.owner else None
    found = [
        _kr(ctx, kr, catalog)
        for objective in objectives
        for kr in catalog.krs.get(row_id(objective), [])
        if owner is None or kr.owner_id == owner.id
    ]
    return KeyResultList(key_results=sorted(found, key=lambda k: int(k.ref[3:])))


async def key_result(ctx: Ctx, number: int) -> KeyResultDetail:
    kr, objective, _ = await ctx.key_result_in_cycle(number)
    catalog = await Catalog.load(ctx.repo, [objective])
    if kr.owner_id not in catalog.members:  # an archived key result's owner
        catalog.members.update({row_id(m): m for m in await ctx.repo.members([kr.owner_id])})
    history = await ctx.repo.check_ins(row_id(kr), limit=HISTORY)
    people = {row_id(m): m for m in await ctx.repo.members(list({c.member_id for c in history}))}
    check_ins = [_check_in(c, kr, people.get(c.member_id)) for c in history]
    return KeyResultDetail(**_kr(ctx, kr, catalog).model_dump(), check_ins=check_ins)


async def objectives(ctx: Ctx, wanted: ObjectiveFilters) -> ObjectiveList:
    catalog, found = await _objectives(ctx, wanted.team, wanted.cycle, wanted.capability)
    return ObjectiveList(objectives=[_objective(o, catalog) for o in found])


async def objective(ctx: Ctx, number: int) -> ObjectiveDetail:
    row = await ctx.objective(number)
    catalog = await Catalog.load(ctx.repo, [row])
    krs = [_kr(ctx, kr, catalog) for kr in catalog.krs.get(row_id(row), [])]
    return ObjectiveDetail(**_objective(row, catalog).model_dump(), key_result_details=krs)


async def digest(ctx: Ctx, wanted: DigestQuery) -> DigestOut:
    team = await ctx.team(wanted.team)
    d = await load_team(ctx, team)
    people = d.owners

    def person(member_id: int | None) -> Person | None:
        member = people.get(member_id) if member_id is not None else None
        return _person(member)

    def who(ids: list[int]) -> list[Person]:
        return [p for p in (person(m) for m in ids) if p is not None]

    done, away, missing = participation(d)
    out_objectives = []
    for o in d.objectives:
        statuses = [d.status[row_id(kr)] for kr in d.krs.get(row_id(o), [])]
        out_objectives.append(
            DigestObjective(
                ref=objective_ref(o),
                title=o.title,
                kind=o.kind,  # type: ignore[arg-type]  # committed | aspirational
                capability=d.capabilities[o.capability_id].key if o.capability_id in d.capabilities else None,
                parent=objective_ref(d.parents[o.parent_id]) if o.parent_id in d.parents else None,
                progress=sum(s.progress for s in statuses) / len(statuses) if statuses else None,
                key_results=[
                    DigestKeyResult(
                        ref=kr_ref(s.kr),
                        title=s.kr.title,
                        owner=person(s.kr.owner_id),
                        progress=s.progress,
                        pace=s.pace,
                        confidence=s.kr.confidence,
                        confidence_change=s.change,
                        checked_in=s.checked_in,
                        stale=s.stale,
                        at_risk=s.at_risk,
                        note=s.note,
                    )  # fmt: skip
                    for s in statuses
                ],
            )
        )
    fed = []
    for o in d.objectives:
        stage = d.stages.get(o.capability_id) if o.capability_id else None
        if stage is not None and stage not in fed:
            fed.append(stage)
    across = [
        StageFeeders(capability=s.key, other_teams=[t.key for t, _ in d.across.get(row_id(s), [])])
        for s in sorted(fed, key=lambda c: (c.position, c.key))
    ]
    risky = sorted((s for s in d.status.values() if s.at_risk), key=lambda s: s.risk_order)
    clock = d.clock
    return DigestOut(
        team=team.key, team_name=team.name, cycle=clock.cycle.name, week=clock.week, weeks=clock.weeks,
        elapsed=round(clock.elapsed, 4), objectives=out_objectives, checked_in=who(done), missing=who(missing),
        away=who(away), at_risk=[kr_ref(s.kr) for s in risky], across=across,
        unsupported=[c.key for c in d.gaps],
    )  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """What a POST answered: its status and JSON body, and whether it is a kept one, replayed."""

    status: int
    body: str
    replayed: bool = False


async def check_in(
    ctx: Ctx, caller: Caller, number: int, body: CheckInBody, *, key: str | None, fingerprint: str
) -> Answer:
    """Record a check-in on KR-``number``; with an Idempotency-Key, once: a retry with the same
    key gets the first answer again (a different request under that key is refused)."""
    if key is not None:
        kept = await ctx.repo.api_answer(caller.token_id, key, since=ctx.now - KEEP_ANSWERS)
        if kept is not None:
            if kept.fingerprint != fingerprint:
                raise ApiError(
                    422, "This Idempotency-Key was used for a different request; send a new key with a new check-in."
                )
            return Answer(kept.status, kept.body, replayed=True)
    done = await record(
        ctx, number, value=body.value, confidence=body.confidence, note=body.note, source=caller.source, audited=True
    )  # every write through the API is in the audit log
    entry = CheckInOut(
        key_result=kr_ref(done.kr), value=done.kr.current, confidence=done.kr.confidence, note=body.note,
        by=_person(ctx.actor), source=caller.source, at=ctx.now,
    )  # fmt: skip
    text = entry.model_dump_json()
    if key is not None:
        answer = ApiAnswer(
            workspace_id=ctx.repo.workspace_id, token_id=caller.token_id, key=key, fingerprint=fingerprint,
            status=201, body=text, created_at=ctx.now,
        )  # fmt: skip
        await ctx.repo.add(answer)  # two retries at once: the second's insert fails, and it runs again
    return Answer(201, text)


# --- helpers ---------------------------------------------------------------------------------


async def _objectives(
    ctx: Ctx, team: str | None, cycle: str | None, capability: str | None
) -> tuple[Catalog, list[Objective]]:
    """The objectives asked for (in the open cycles, or in the named one), with their catalog."""
    if cycle is None:
        board = await ctx.board()
        catalog, found = board.catalog, list(board.objectives)
    else:
        row = await ctx.cycle(cycle)
        found = await ctx.repo.objectives(cycle_id=row_id(row))
        catalog = await Catalog.load(ctx.repo, found)
    if team is not None:
        team_id = row_id(await ctx.team(team))
        found = [o for o in found if o.team_id == team_id]
    if capability is not None:
        stage = await ctx.capability(capability)
        ids = {row_id(stage)} | {row_id(c) for c in catalog.capabilities.values() if c.parent_id == stage.id}
        found = [o for o in found if o.capability_id in ids]
    return catalog, found


async def _owner(ctx: Ctx, who: str) -> Member:
    member = await ctx.repo.member_by_external(who)
    if member is None:
        wanted = who.strip().lstrip("@").lower()
        member = next((m for m in await ctx.repo.members() if (m.display_name or "").lower() == wanted), None)
    if member is None:
        raise NotFound(f'There is nobody "{who[:60]}" in this workspace: give a platform id or a display name.')
    return member


def _person(member: Member | None) -> Person | None:
    return Person(id=member.external_id, name=member.display_name or member.external_id) if member else None


def _kr(ctx: Ctx, kr: KeyResult, catalog: Catalog) -> KeyResultOut:
    objective = catalog.objectives[kr.objective_id]
    cycle = catalog.cycles[objective.cycle_id]
    team = catalog.teams.get(objective.team_id)
    value = kr_progress(kr)
    return KeyResultOut(
        ref=kr_ref(kr), title=kr.title, objective=objective_ref(objective), team=team.key if team else "",
        cycle=cycle.name, owner=_person(catalog.members.get(kr.owner_id)), start=kr.start, target=kr.target,
        current=kr.current, unit=kr.unit, confidence=kr.confidence, progress=round(value, 4),
        pace=pace(value, CycleClock(cycle, ctx.today).elapsed), score=kr.score,
        archived=kr.archived, updated_at=as_utc(kr.updated_at),
    )  # fmt: skip


def _objective(objective: Objective, catalog: Catalog) -> ObjectiveOut:
    krs = catalog.krs.get(row_id(objective), [])
    team = catalog.teams.get(objective.team_id)
    capability = catalog.capabilities.get(objective.capability_id) if objective.capability_id else None
    parent = catalog.objectives.get(objective.parent_id) if objective.parent_id else None
    return ObjectiveOut(
        ref=objective_ref(objective), title=objective.title, team=team.key if team else "",
        cycle=catalog.cycles[objective.cycle_id].name, owner=_person(catalog.members.get(objective.owner_id)),
        kind=objective.kind,  # type: ignore[arg-type]  # committed | aspirational
        capability=capability.key if capability else None, parent=objective_ref(parent) if parent else None,
        progress=round(sum(kr_progress(k) for k in krs) / len(krs), 4) if krs else None,
        archived=objective.archived, key_results=[kr_ref(k) for k in krs],
    )  # fmt: skip


def _check_in(entry: CheckIn, kr: KeyResult, member: Member | None) -> CheckInOut:
    return CheckInOut(
        key_result=kr_ref(kr), value=entry.value, confidence=entry.confidence, note=entry.note,
        by=_person(member), source=entry.source, at=as_utc(entry.created_at),
    )  # fmt: skip
