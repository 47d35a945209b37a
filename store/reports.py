"""Queries behind the alignment views: a fixed number of statements per view, none per row.

Each function takes a :class:`~store.repo.Repo` and filters every table it touches on the
repo's workspace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import and_, func
from sqlmodel import col, select

from store.models import Capability, CheckIn, Cycle, KeyResult, Member, Objective, Team, TeamMembership, row_id
from store.repo import Repo


async def cycle_for(repo: Repo, day: dt.date) -> Cycle | None:
    """The open cycle holding ``day``, else the latest one that has started (it may have ended),
    else the next one to start: a workspace that planned its first cycle ahead sees it."""
    cycle = await repo.open_cycle_on(day)
    if cycle is not None:
        return cycle
    started = (
        select(Cycle)
        .where(Cycle.workspace_id == repo.workspace_id, Cycle.starts_on <= day)
        .order_by(col(Cycle.ends_on).desc())
        .limit(1)
    )
    cycle = (await repo.session.exec(started)).first()
    if cycle is not None:
        return cycle
    upcoming = select(Cycle).where(Cycle.workspace_id == repo.workspace_id).order_by(col(Cycle.starts_on)).limit(1)
    return (await repo.session.exec(upcoming)).first()


class CheckInRow(NamedTuple):
    """What a digest reads of a check-in: plain tuples, several times cheaper to load than ORM rows
    (a team's cycle can hold thousands of check-ins)."""

    key_result_id: int
    value: float
    confidence: int
    note: str
    created_at: dt.datetime


class KrFigures(NamedTuple):
    """What the organisation view reads of a key result."""

    id: int
    objective_id: int
    owner_id: int
    start: float
    target: float
    current: float
    confidence: int


async def check_ins_since(repo: Repo, kr_ids: Sequence[int], since: dt.datetime) -> list[CheckInRow]:
    """The history of some key results from ``since`` on, oldest first."""
    if not kr_ids:
        return []
    query = (
        # sqlmodel's select() is typed for up to four columns (fastapi/sqlmodel#271); it takes any number
        select(CheckIn.key_result_id, CheckIn.value, CheckIn.confidence, CheckIn.note, CheckIn.created_at)  # type: ignore[call-overload]
        .where(
            CheckIn.workspace_id == repo.workspace_id,
            col(CheckIn.key_result_id).in_(kr_ids),
            CheckIn.created_at >= since,
        )
        .order_by(col(CheckIn.created_at), col(CheckIn.id))
    )
    return [CheckInRow._make(row) for row in (await repo.session.exec(query)).all()]


async def cycle_kr_figures(repo: Repo, cycle_id: int) -> list[KrFigures]:
    """The active key results of a cycle's active objectives, by number: one statement joined on
    the cycle (no list of objective ids, however many there are)."""
    query = (
        # sqlmodel's select() is typed for up to four columns (fastapi/sqlmodel#271); it takes any number
        select(  # type: ignore[call-overload]
            KeyResult.id,
            KeyResult.objective_id,
            KeyResult.owner_id,
            KeyResult.start,
            KeyResult.target,
            KeyResult.current,
            KeyResult.confidence,
        )
        .join(Objective, col(Objective.id) == KeyResult.objective_id)
        .where(
            KeyResult.workspace_id == repo.workspace_id,
            col(KeyResult.archived).is_(False),
            Objective.cycle_id == cycle_id,
            col(Objective.archived).is_(False),
        )
        .order_by(col(KeyResult.number))
    )
    return [KrFigures._make(row) for row in (await repo.session.exec(query)).all()]


async def teams_by_ids(repo: Repo, ids: Sequence[int]) -> dict[int, Team]:
    if not ids:
        return {}
    query = select(Team).where(Team.workspace_id == repo.workspace_id, col(Team.id).in_(ids))
    return {row_id(t): t for t in (await repo.session.exec(query)).all()}


async def members_by_ids(repo: Repo, ids: Sequence[int]) -> dict[int, Member]:
    return {row_id(m): m for m in await repo.members(list(ids))} if ids else {}


async def feeders(repo: Repo, cycle_id: int, capability_ids: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """(capability id, team id, sum of KR confidence, KR count) for some capabilities.

    Sums and counts, not averages, so a caller rolling sub-capabilities up into their stage
    weighs every key result once (an average of averages would weigh a one-KR objective like
    a ten-KR one).  A team whose objectives there have no key results comes with a count of 0.
    """
    if not capability_ids:
        return []
    query = (
        select(
            Objective.capability_id,
            Objective.team_id,
            func.coalesce(func.sum(KeyResult.confidence), 0),
            func.count(col(KeyResult.id)),
        )
        .join(
            KeyResult,
            and_(
                col(KeyResult.objective_id) == Objective.id,
                col(KeyResult.archived).is_(False),
                col(KeyResult.workspace_id) == repo.workspace_id,
            ),
            isouter=True,
        )
        .where(
            Objective.workspace_id == repo.workspace_id,
            Objective.cycle_id == cycle_id,
            col(Objective.archived).is_(False),
            col(Objective.capability_id).in_(capability_ids),
        )
        .group_by(col(Objective.capability_id), col(Objective.team_id))
    )
    rows = (await repo.session.exec(query)).all()
    # c is never None: the query keeps the objectives of the capabilities asked about
    return [(c, t, int(total), int(n)) for c, t, total, n in rows if c is not None]


async def unsupported_capabilities(repo: Repo, cycle_id: int) -> list[Capability]:
    """Capabilities that no active objective of the cycle supports, in value-chain order (each
    stage, then its sub-capabilities); a stage counts as supported when one of its
    sub-capabilities is.  Two statements, whatever the size of the organisation."""
    capabilities = list(
        (await repo.session.exec(select(Capability).where(Capability.workspace_id == repo.workspace_id))).all()
    )
    supported_query = (
        select(Objective.capability_id)
        .distinct()
        .where(
            Objective.workspace_id == repo.workspace_id,
            Objective.cycle_id == cycle_id,
            col(Objective.archived).is_(False),
            col(Objective.capability_id).is_not(None),
        )
    )
    supported = set((await repo.session.exec(supported_query)).all())
    by_id = {c.id: c for c in capabilities}
    supported |= {by_id[c].parent_id for c in supported if c in by_id and by_id[c].parent_id}

    def chain_order(c: Capability) -> tuple[int, str, bool, int, str]:
        stage = by_id.get(c.parent_id, c) if c.parent_id else c
        return (stage.position, stage.key, c.parent_id is not None, c.position, c.key)

    return sorted((c for c in capabilities if c.id not in supported), key=chain_order)


async def checked_in_owners(repo: Repo, cycle_id: int, since: dt.datetime) -> set[tuple[int, int]]:
    """(team id, key-result owner id) for each owner with a check-in after ``since`` on a key
    result of the cycle: one row per person, not per check-in, so a busy week costs the database
    a range scan on the check-in time and Python a few hundred rows."""
    query = (
        select(Objective.team_id, KeyResult.owner_id)
        .select_from(CheckIn)
        # "+ 0" keeps SQLite off the check-in's key-result index: it then starts from the week's
        # range of the time index instead of walking every key result's whole history.
        .join(KeyResult, col(KeyResult.id) == CheckIn.key_result_id + 0)
        .join(Objective, col(Objective.id) == KeyResult.objective_id)
        .where(
            CheckIn.workspace_id == repo.workspace_id,
            CheckIn.created_at > since,
            Objective.cycle_id == cycle_id,
            col(KeyResult.archived).is_(False),
            col(Objective.archived).is_(False),
        )
        .group_by(col(Objective.team_id), col(KeyResult.owner_id))
    )
    return {(team, owner) for team, owner in (await repo.session.exec(query)).all()}


async def team_ids_of(repo: Repo, member_id: int) -> list[int]:
    """The teams a member belongs to, in one statement (not one per team)."""
    query = select(TeamMembership.team_id).where(
        TeamMembership.workspace_id == repo.workspace_id, TeamMembership.member_id == member_id
    )
    return list((await repo.session.exec(query)).all())


async def cycle_objectives(repo: Repo, cycle_id: int, team_id: int | None = None) -> list[Objective]:
    return await repo.objectives(cycle_id=cycle_id, team_id=team_id)
