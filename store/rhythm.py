"""The weekly rhythm's queries: the schedules, who owes a check-in, who has checked in.

Unlike :class:`store.repo.Repo` these read across workspaces where the scheduler needs it
(every schedule, every owner's timezone); the rest take the workspace id they are for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.models import CheckIn, Cycle, KeyResult, Member, Objective, Schedule, Team, Workspace, row_id


@dataclass
class Owner:
    """A person who owns key results in the open cycles: one prompt covers all of them."""

    member: Member
    krs: list[KeyResult] = field(default_factory=list)  # every active key result they own
    in_scope: bool = False  # owns a key result of the team (or one of the key results) asked about


def _owned(query: Any, workspace_id: int) -> Any:
    """``query`` over the workspace's active key results in open cycles, with their objective,
    cycle and owner joined, by key result number."""
    return (
        query.join(Objective, col(Objective.id) == KeyResult.objective_id)
        .join(Cycle, col(Cycle.id) == Objective.cycle_id)
        .join(Member, col(Member.id) == KeyResult.owner_id)
        .where(
            KeyResult.workspace_id == workspace_id,
            col(KeyResult.archived).is_(False),
            col(Objective.archived).is_(False),
            col(Cycle.closed).is_(False),
        )
        .order_by(col(KeyResult.number))
    )


async def owners(
    session: AsyncSession, workspace_id: int, today: dt.date, *, team_id: int | None = None, kr_ids: Iterable[int] = ()
) -> list[Owner]:
    """The owners of the team's (or the given key results', or every) active key results in the
    open cycles holding ``today``, each with all their active key results, by key result number."""
    query = _owned(select(KeyResult, Objective.team_id, Member), workspace_id).where(
        Cycle.starts_on <= today, Cycle.ends_on >= today
    )
    wanted = set(kr_ids)
    found: dict[int, Owner] = {}
    for kr, kr_team, member in (await session.exec(query)).all():
        owner = found.setdefault(row_id(member), Owner(member))
        owner.krs.append(kr)
        if (wanted and kr.id in wanted) or (not wanted and (team_id is None or kr_team == team_id)):
            owner.in_scope = True
    return [o for o in found.values() if o.in_scope]


@dataclass
class Grader:
    """An owner with key results left to grade in a cycle that ends soon: one message asks for all."""

    member: Member
    cycle: Cycle
    krs: list[KeyResult] = field(default_factory=list)  # the active key results of the cycle without a score
    in_scope: bool = False


async def graders(
    session: AsyncSession, workspace_id: int, first: dt.date, last: dt.date, *, team_id: int | None = None
) -> list[Grader]:
    """For each open cycle ending from ``first`` to ``last``, the owners of its ungraded active key
    results (the team's, or anyone's), each with all their ungraded ones of that cycle, by number."""
    query = _owned(select(KeyResult, Objective.team_id, Member, Cycle), workspace_id).where(
        col(KeyResult.score).is_(None), Cycle.ends_on >= first, Cycle.ends_on <= last
    )
    found: dict[tuple[int, int], Grader] = {}
    for kr, kr_team, member, cycle in (await session.exec(query)).all():
        grader = found.setdefault((row_id(member), row_id(cycle)), Grader(member, cycle))
        grader.krs.append(kr)
        grader.in_scope = grader.in_scope or team_id is None or kr_team == team_id
    return [g for g in found.values() if g.in_scope]


async def checked_in_since(
    session: AsyncSession, workspace_id: int, owner_ids: Iterable[int], since: dt.datetime
) -> set[int]:
    """Owners with a check-in on one of their key results at or after ``since``."""
    ids = list(owner_ids)
    if not ids:
        return set()
    query = (
        select(KeyResult.owner_id)
        .join(CheckIn, col(CheckIn.key_result_id) == KeyResult.id)
        .where(
            KeyResult.workspace_id == workspace_id,
            CheckIn.workspace_id == workspace_id,
            col(KeyResult.owner_id).in_(ids),
            CheckIn.created_at >= since,
        )
        .distinct()
    )
    return set((await session.exec(query)).all())


async def owner_zones(session: AsyncSession, today: dt.date) -> dict[tuple[int, int], set[str | None]]:
    """For every (workspace, team): the timezones of the people owning its active key results."""
    query = (
        select(Objective.workspace_id, Objective.team_id, Member.timezone)
        .join(KeyResult, col(KeyResult.objective_id) == Objective.id)
        .join(Cycle, col(Cycle.id) == Objective.cycle_id)
        .join(Member, col(Member.id) == KeyResult.owner_id)
        .where(col(KeyResult.archived).is_(False), col(Cycle.closed).is_(False), Cycle.ends_on >= today)
        .distinct()
    )
    zones: dict[tuple[int, int], set[str | None]] = {}
    for workspace_id, team_id, timezone in (await session.exec(query)).all():
        zones.setdefault((workspace_id, team_id), set()).add(timezone)
    return zones


async def all_schedules(session: AsyncSession) -> list[Schedule]:
    """Every workspace's schedules, by id."""
    return list((await session.exec(select(Schedule).order_by(col(Schedule.id)))).all())


async def schedule(session: AsyncSession, schedule_id: int) -> Schedule | None:
    return await session.get(Schedule, schedule_id)


async def workspaces(session: AsyncSession, named: str | None = None) -> list[Workspace]:
    """Every workspace, or those whose external id (or row id) is ``named``."""
    rows = list((await session.exec(select(Workspace).order_by(col(Workspace.id)))).all())
    return rows if named is None else [w for w in rows if named in (w.external_id, str(w.id))]


async def workspace(session: AsyncSession, workspace_id: int) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def teams_keyed(session: AsyncSession, key: str, workspace_ids: Iterable[int]) -> list[Team]:
    """The teams with this key in any of these workspaces."""
    query = select(Team).where(Team.key == key, col(Team.workspace_id).in_(list(workspace_ids)))
    return list((await session.exec(query)).all())
