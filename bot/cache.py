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

import asyncio
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
        #: Builds running now, by (workspace, revision, name): whoever asks for the same while one
        #: runs waits for it instead of building it again (fifty people clicking one prompt).
        self._building: dict[tuple[int, int, Hashable], asyncio.Future[Any]] = {}
        self.hits = self.misses = self.builds = 0

    async def get(self, workspace: Workspace, name: Hashable, build: Callable[[], Awaitable[T]]) -> T:
        """What was built at the workspace's revision, else built now: once for everyone who asks
        while it is being built. If that build fails, each of them builds their own."""
        workspace_id, revision = workspace.id or 0, workspace.revision
        entry = self.kept(workspace_id, revision, name)
        if entry is not None:
            return entry
        key = (workspace_id, revision, name)
        running = self._building.get(key)
        if running is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this caller was cancelled, not the build
            return await build()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            self.builds += 1
            value = await build()
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._building[key]
        self.keep(workspace_id, revision, name, value)
        future.set_result(value)
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
