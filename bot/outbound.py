"""How the core and the scheduler send without a request to answer: a Protocol each surface
implements (Slack, Teams, the web chat), so nothing here knows a platform SDK."""

from __future__ import annotations

from typing import Protocol

from bot.command import WorkspaceRef
from bot.messages import Message


class DeliveryError(Exception):
    """Sending failed; ``retry_after`` (seconds) when the platform said when to try again."""

    def __init__(self, reason: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.permanent = permanent


class Outbound(Protocol):
    platform: str

    async def send_direct(self, workspace: WorkspaceRef, member_id: str, message: Message) -> None:
        """A direct message to one member (their external id)."""

    async def post_channel(self, workspace: WorkspaceRef, channel: str, message: Message) -> None:
        """A post in a channel or conversation (its external id)."""
