"""What an adapter hands the core: one command, already freed of its platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Platform = Literal["slack", "teams", "local"]


@dataclass(frozen=True, slots=True)
class WorkspaceRef:
    platform: Platform
    external_id: str  # Slack team id, Teams tenant id, a local name
    name: str = ""


@dataclass(frozen=True, slots=True)
class Actor:
    external_id: str  # Slack user id, Azure AD object id, a local name
    display_name: str = ""
    timezone: str | None = None
    is_platform_admin: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    """One request to the core.

    Mentions are already in the core's form ``<@external_id>`` in ``text``; ``mentions`` maps
    each mentioned external id to the display name the platform gave, so a member mentioned
    before they ever spoke to okrbot can still be named.
    """

    workspace: WorkspaceRef
    actor: Actor
    text: str
    channel: str = ""
    source: str = "chat"  # slack | teams | console | webchat | scheduler | api:<token name>
    mentions: Mapping[str, str] = field(default_factory=dict)
    #: Others in the conversation see a private reply too (a Teams channel or group chat has no
    #: reply for one person): a secret is not shown there.
    seen_by_others: bool = False
