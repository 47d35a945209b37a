"""What a command handler works with: the workspace's repo, who asks, and the time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast
from zoneinfo import ZoneInfo

from bot.cache import ReadCache
from bot.command import Actor, Command, Platform, WorkspaceRef
from bot.errors import NotFound, UserError
from bot.scales import quarter_of
from bot.views import Board
from store.models import Capability, Cycle, KeyResult, Member, Objective, Team, Workspace
from store.repo import Repo


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


@dataclass
class Ctx:
    repo: Repo
    workspace: Workspace
    actor: Member
    command: Command
    now: dt.datetime  # aware, UTC
    cache: ReadCache | None = None  # in a read transaction: reads kept until the next write

    @classmethod
    def scheduled(cls, repo: Repo, workspace: Workspace, *, timezone: str, channel: str, now: dt.datetime) -> Ctx:
        """A scheduled run's context: okrbot itself asks, in the schedule's timezone. Its actor
        is no member of the workspace and is never stored: a scheduled run only reads."""
        me = Member(workspace_id=repo.workspace_id, external_id="okrbot", display_name="okrbot", timezone=timezone)
        platform = cast(Platform, workspace.platform)  # the column holds one of them, as a plain string
        ref = WorkspaceRef(platform, workspace.external_id, workspace.name)
        command = Command(ref, Actor("okrbot", "okrbot"), "digest", channel=channel, source="scheduler")
        return cls(repo=repo, workspace=workspace, actor=me, command=command, now=now)

    async def board(self) -> Board:
        """Every objective in the open cycles, with what it takes to show them."""
        if self.cache is None:
            return await Board.load(self.repo)
        return await self.cache.get(self.workspace, "board", lambda: Board.load(self.repo))

    @property
    def today(self) -> dt.date:
        """Today where the person asking is (their timezone, else the workspace's)."""
        tz = zone(self.actor.timezone or self.workspace.timezone)
        return self.now.astimezone(tz).date()

    # lookups that turn an id typed by a person into a row, or one clear sentence --------------

    async def team(self, key: str) -> Team:
        team = await self.repo.team(key)
        if team is None:
            raise NotFound(f'There is no team "{key}" in this workspace; `team list` shows the teams.')
        return team

    async def capability(self, key: str) -> Capability:
        capability = await self.repo.capability(key)
        if capability is None:
            raise NotFound(f'There is no capability "{key}" in this workspace; `capability list` shows them.')
        return capability

    async def cycle(self, name: str) -> Cycle:
        cycle = await self.repo.cycle(name)
        if cycle is None:
            raise NotFound(f'There is no cycle "{name}" in this workspace; `cycle list` shows them.')
        return cycle

    async def objective(self, number: int) -> Objective:
        objective = await self.repo.objective(number)
        if objective is None:
            raise NotFound(f"There is no objective O-{number} in this workspace; `list all` shows them.")
        return objective

    async def objective_by_id(self, objective_id: int) -> Objective:
        objective = await self.repo.objective_by_id(objective_id)
        if objective is None:  # a key result always has its objective in the same workspace
            raise NotFound("That key result's objective is gone.")
        return objective

    async def key_result_in_cycle(self, number: int, *, again: bool = False) -> tuple[KeyResult, Objective, Cycle]:
        found = await self.repo.key_result_in_cycle(number, again=again)
        if found is None:
            raise NotFound(f"There is no key result KR-{number} in this workspace; `list all` shows them.")
        return found

    async def key_result(self, number: int) -> KeyResult:
        kr = await self.repo.key_result(number)
        if kr is None:
            raise NotFound(f"There is no key result KR-{number} in this workspace; `list all` shows them.")
        return kr

    async def member(self, external_id: str, name: str = "") -> Member:
        """A mentioned person, added to the workspace on first mention, named as the platform named them."""
        member = await self.repo.member_by_external(external_id)
        if member is None:
            name = self.command.mentions.get(external_id) or name or external_id
            member = await self.repo.add(
                Member(workspace_id=self.repo.workspace_id, external_id=external_id, display_name=name[:200])
            )
        return member

    async def current_cycle(self, *, create: bool) -> Cycle:
        """The open cycle holding today; the calendar quarter is created on first use."""
        cycle = await self.repo.open_cycle_on(self.today)
        if cycle is not None:
            return cycle
        name, first, last = quarter_of(self.today)
        existing = await self.repo.cycle(name)
        if existing is not None:
            state = "is closed" if existing.closed else f"runs {existing.starts_on} to {existing.ends_on}"
            raise UserError(
                f"Cycle {name} {state} and no open cycle covers today; "
                "add one with `cycle add <name> <start> <end>` or name one with --cycle."
            )
        if not create:
            raise NotFound("There is no current cycle yet; it is created with the first objective.")
        return await self.repo.add(Cycle(workspace_id=self.repo.workspace_id, name=name, starts_on=first, ends_on=last))
