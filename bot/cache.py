"""Reads kept until the workspace's next write.

Every write of the core raises its workspace's ``revision`` (:meth:`store.repo.Repo.touch`, in
the write's own transaction), and every command reads that revision with the workspace and the
person asking, in the one query it starts with. What a read builds from the whole workspace
(the board every ``list`` filters) is kept here under the revision it was built at and used
while the workspace still has that revision: exact across processes and instances, since
the revision lives in the database, not in any one process.

Only read transactions use it: a write's transaction may see its own rows before they are
committed, or rolled back.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from store.models import Workspace

T = TypeVar("T")
WORKSPACES = 256  # boards kept, the least recently used dropped first


class ReadCache:
    def __init__(self, size: int = WORKSPACES) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, str], tuple[int, Any]] = OrderedDict()
        self.hits = self.misses = 0

    async def get(self, workspace: Workspace, name: str, build: Callable[[], Awaitable[T]]) -> T:
        key = (workspace.id or 0, name)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == workspace.revision:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]  # type: ignore[no-any-return]
        self.misses += 1
        value = await build()
        self._entries[key] = (workspace.revision, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value
