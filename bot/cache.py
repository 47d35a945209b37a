"""Reads kept until the workspace's next write.

Every write of the core raises its workspace's ``revision`` (:meth:`store.repo.Repo.touch`, in
the write's own transaction), and every command reads that revision with the workspace and the
person asking, in the one query it starts with. What a read builds from the whole workspace
(the board every ``list`` filters) is kept here under the revision it was built at and used
while the workspace still has that revision: exact across processes and instances, since
the revision lives in the database, not in any one process.

Only read transactions use it: a write's transaction may see its own rows before they are
committed, or rolled back.

Bot keeps two more: whole replies of the reads people repeat (``list``, ``show``: App Home runs
``list mine`` on every open), by person, day and arguments, and what those replies need of the
person asking (:class:`store.repo.Seen`: every write to a member raises the revision too).
Before it runs such a command it reads only the revision (:class:`store.repo.Revisions`, one
statement shared by everyone asking at that moment), so a reply kept at the current revision is
answered with that and nothing else.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from store.models import Workspace

T = TypeVar("T")
WORKSPACES = 256  # boards kept, the least recently used dropped first


class ReadCache:
    """Values kept per (workspace, name) under the revision they were built at; least recently
    used dropped first past ``size``."""

    def __init__(self, size: int = WORKSPACES) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, Hashable], tuple[int, Any]] = OrderedDict()
        self.hits = self.misses = 0

    async def get(self, workspace: Workspace, name: Hashable, build: Callable[[], Awaitable[T]]) -> T:
        workspace_id = workspace.id or 0
        entry = self.kept(workspace_id, workspace.revision, name)
        if entry is not None:
            return entry
        value = await build()
        self.keep(workspace_id, workspace.revision, name, value)
        return value

    def kept(self, workspace_id: int, revision: int, name: Hashable) -> Any | None:
        """What was kept under ``name`` if it was built at this revision, else None."""
        key = (workspace_id, name)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == revision:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def keep(self, workspace_id: int, revision: int, name: Hashable, value: Any) -> None:
        key = (workspace_id, name)
        self._entries[key] = (revision, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
