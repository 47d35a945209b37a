"""Live delivery to open pages: the Outbound of platform ``local``, and the server-sent events
that carry what it sends (scheduled prompts, reminders, digests, nudges, channel replies).

Each open page holds one stream for (workspace, person). A direct message goes to that person's
streams; a channel post to every stream of the workspace. The last events of each workspace are
kept in memory, so a page opened (or reconnected, with ``Last-Event-ID``) a little later still
shows them. They live in this process only: the web chat is a single-machine surface.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from adapters.webchat.render import to_json
from bot.command import WorkspaceRef
from bot.messages import Message

log = logging.getLogger(__name__)
BACKLOG = 200  # events kept per workspace
QUEUE = 100  # events waiting for one slow page before it is dropped
DM_PREFIX = "dm:"  # the channel of a person's direct-message pane: "dm:amelie"

Pane = Literal["channel", "direct"]


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    workspace: str
    pane: Pane
    channel: str  # "general", or the person's id for a direct message
    data: dict[str, Any]

    def for_member(self, member: str) -> bool:
        return self.pane == "channel" or self.channel == member

    def sse(self) -> bytes:
        body = json.dumps({"pane": self.pane, "channel": self.channel, **self.data}, separators=(",", ":"))
        return f"id: {self.id}\nevent: message\ndata: {body}\n\n".encode()


@dataclass(eq=False)
class _Listener:
    workspace: str
    member: str
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(QUEUE))


class Hub:
    """Fan-out of events to the open pages of this process."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._listeners: set[_Listener] = set()
        self._backlog: dict[str, deque[Event]] = {}
        self.closed = False

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def publish(self, workspace: str, pane: Pane, channel: str, data: dict[str, Any]) -> Event:
        event = Event(next(self._ids), workspace, pane, channel, data)
        self._backlog.setdefault(workspace, deque(maxlen=BACKLOG)).append(event)
        for listener in list(self._listeners):
            if listener.workspace == workspace and event.for_member(listener.member):
                try:
                    listener.queue.put_nowait(event)
                except asyncio.QueueFull:  # a page that stopped reading: it reconnects with Last-Event-ID
                    self._drop(listener)
        return event

    def _drop(self, listener: _Listener) -> None:
        self._listeners.discard(listener)
        while not listener.queue.empty():
            listener.queue.get_nowait()
        listener.queue.put_nowait(None)

    async def listen(
        self, workspace: str, member: str, *, after: int | None, heartbeat: float = 15.0
    ) -> AsyncIterator[Event | None]:
        """The events for one page: missed ones since ``after`` first (none when ``after`` is None);
        ``None`` after ``heartbeat`` seconds of silence, so the page knows the stream is alive."""
        listener = _Listener(workspace, member)
        self._listeners.add(listener)
        try:
            if after is not None:
                for event in list(self._backlog.get(workspace, ())):
                    if event.id > after and event.for_member(member):
                        yield event
            while not self.closed:
                try:
                    event = await asyncio.wait_for(listener.queue.get(), heartbeat)
                except TimeoutError:
                    yield None
                    continue
                if event is None:
                    return
                yield event
        finally:
            self._listeners.discard(listener)

    def close(self) -> None:
        """Server shutdown: end every stream so in-flight requests are all that is waited for."""
        self.closed = True
        for listener in list(self._listeners):
            self._drop(listener)


class WebChatOutbound:
    """The Outbound Protocol (bot.outbound.Outbound) for platform ``local``: into open pages."""

    platform = "local"

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def send_direct(self, workspace: WorkspaceRef, member_id: str, message: Message) -> None:
        self.hub.publish(workspace.external_id, "direct", member_id, {"kind": "push", "message": to_json(message)})

    async def post_channel(self, workspace: WorkspaceRef, channel: str, message: Message) -> None:
        data = {"kind": "push", "message": to_json(message)}
        if channel.startswith(DM_PREFIX):  # subscribed from someone's direct-message pane
            self.hub.publish(workspace.external_id, "direct", channel.removeprefix(DM_PREFIX), data)
        else:
            self.hub.publish(workspace.external_id, "channel", channel, data)
