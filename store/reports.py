"""Queries behind the alignment views: a fixed number of statements per view, none per row.

Each function takes a :class:`~store.repo.Repo` and filters every table it touches on the
repo's workspace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, exists, func
from sqlmodel import col, select

from store.models import Capability, CheckIn, Cycle, KeyResult, Member, Objective, Team
from store.repo import Repo


async def cycle_for(repo: Repo, day: dt.date) -> Cycle | None:
    """The open cycle holding ``day``, else the latest one that has started (it may have ended)."""
    cycle = await repo.open_cycle_on(day)
    if cycle is not None:
        return cycle
    query = (
        select(Cycle)
        .where(Cycle.workspace_id == repo.workspace_id, Cycle.starts_on <= day)
        .order_by(col(Cycle.ends_on).desc())
        .limit(1)
    )
    return (await repo.session.exec(query)).first()


async def check_ins_since(repo: Repo, kr_ids: Sequence[int], since: dt.datetime) -> list[CheckIn]:
    """The history of some key results from ``since`` on, oldest first."""
    if not kr_ids:
        return []
    query = (
        select(CheckIn)
        .where(
            CheckIn.workspace_id == repo.workspace_id,
            col(CheckIn.key_result_id).in_(kr_ids),
            CheckIn.created_at >= since,
        )
        .order_by(CheckIn.created_at, CheckIn.id)
    )
    return list((await repo.session.exec(query)).all())


async def teams_by_ids(repo: Repo, ids: Sequence[int]) -> dict[int, Team]:
    if not ids:
        return {}
    query = select(Team).where(Team.workspace_id == repo.workspace_id, col(Team.id).in_(ids))
    return {t.id: t for t in (await repo.session.exec(query)).all()}  # type: ignore[misc]


async def members_by_ids(repo: Repo, ids: Sequence[int]) -> dict[int, Member]:
    return {m.id: m for m in await repo.members(list(ids))} if ids else {}  # type: ignore[misc]


async def feeders(repo: Repo, cycle_id: int, capability_ids: Sequence[int]) -> list[tuple[int, int, float | None, int]]:
    """(capability id, team id, average KR confidence, objective count) for some capabilities."""
    if not capability_ids:
        return []
    query = (
        select(
            Objective.capability_id,
            Objective.team_id,
            func.avg(KeyResult.confidence),
            func.count(func.distinct(Objective.id)),
        )
        .join(
            KeyResult,
            and_(
                col(KeyResult.objective_id) == Objective.id,
                col(KeyResult.archived).is_(False),
                KeyResult.workspace_id == repo.workspace_id,
            ),
            isouter=True,
        )
        .where(
            Objective.workspace_id == repo.workspace_id,
            Objective.cycle_id == cycle_id,
            col(Objective.archived).is_(False),
            col(Objective.capability_id).in_(capability_ids),
        )
        .group_by(Objective.capability_id, Objective.team_id)
    )
    rows = (await repo.session.exec(query)).all()
    return [(c, t, float(a) if a is not None else None, int(n)) for c, t, a, n in rows]  # type: ignore[misc]


async def unsupported_capabilities(repo: Repo, cycle_id: int) -> list[Capability]:
    """Capabilities that no active objective of the cycle supports; a stage counts as supported
    when one of its sub-capabilities is."""
    supported = exists().where(
        Objective.workspace_id == repo.workspace_id,
        Objective.capability_id == Capability.id,
        Objective.cycle_id == cycle_id,
        col(Objective.archived).is_(False),
    )
    query = (
        select(Capability)
        .where(Capability.workspace_id == repo.workspace_id, ~supported)
        .order_by(Capability.position, Capability.key)
    )
    unsupported = list((await repo.session.exec(query)).all())
    if not unsupported:
        return []
    fed_parents = select(Capability.parent_id).where(
        Capability.workspace_id == repo.workspace_id, col(Capability.parent_id).is_not(None), supported
    )
    rolled_up = set((await repo.session.exec(fed_parents)).all())
    return [c for c in unsupported if c.id not in rolled_up]


async def cycle_objectives(repo: Repo, cycle_id: int, team_id: int | None = None) -> list[Objective]:
    return await repo.objectives(cycle_id=cycle_id, team_id=team_id)
