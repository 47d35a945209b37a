"""The hello okrbot says when it is installed: what it does and the three commands to start with.

Teams tells a bot it was installed twice over: a ``conversationUpdate`` with the bot among
``membersAdded`` and an ``installationUpdate`` with ``action: add``, in either order (and some
clients send only one), and may send them again later (a client that reconnects, a retry).
:class:`Welcomes` keeps which conversations were greeted in the store, claimed with one insert, so
a conversation is greeted once however many signals arrive, on however many servers; removing
okrbot forgets it, so installing it again says hello again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from adapters.teams.translate import channel_key, conversation_kind, tenant_id
from bot.messages import Actions, Button, Context, Fields, Header, Message, Text
from store.db import Database
from store.references import claim_reference, forget_reference

#: The conversation_ref kind of a greeted conversation (its key: the conversation id).
KIND = "welcomed"


def is_install(activity: Mapping[str, Any]) -> bool:
    """Whether this activity says okrbot was just added to the conversation."""
    kind = activity.get("type")
    if kind == "installationUpdate":
        return str(activity.get("action") or "").lower() == "add"
    if kind == "conversationUpdate":
        bot_id = (activity.get("recipient") or {}).get("id")
        added = activity.get("membersAdded") or ()
        return bool(bot_id) and any(isinstance(m, Mapping) and m.get("id") == bot_id for m in added)
    return False


def is_uninstall(activity: Mapping[str, Any]) -> bool:
    """Whether this activity says okrbot was removed from the conversation."""
    kind, action = activity.get("type"), str(activity.get("action") or "").lower()
    return kind == "installationUpdate" and action == "remove"


def welcome_message(activity: Mapping[str, Any]) -> Message:
    """The welcome card: neutral blocks, rendered like any other answer."""
    personal = conversation_kind(activity) == "personal"
    how = (
        "Type a command here, for example:"
        if personal
        else "Mention @okrbot before a command here (or message me directly), for example:"
    )
    return Message.of(
        Header(("Hi, I'm okrbot",)),
        Text(
            (
                "I keep your team's objectives and key results next to the conversation: a weekly check-in "
                "takes seconds, progress and confidence show at a glance, and digests tell everyone how it is going.",
            )
        ),
        Text((how,)),
        Fields(
            (
                ("help", ("every command, with examples",)),
                ("checkin", ("a card to check in on all your key results at once",)),
                ("list mine", ("your key results and how they are doing",)),
            )
        ),
        Actions((Button("Help", "help"), Button("Check in", "checkin", "primary"), Button("List mine", "list mine"))),
        Context(
            (
                "Nothing to see yet? An admin starts with team add and objective add; help team and help objective explain.",
            )
        ),
        visibility="channel",
    )


class Welcomes:
    """Which conversations okrbot has greeted, as rows of the store, so each is greeted once."""

    def __init__(self, db: Database, *, timezone: str = "UTC") -> None:
        self.db = db
        self.timezone = timezone

    async def first(self, activity: Mapping[str, Any]) -> bool:
        """True for the first install signal of a conversation (recorded as it answers)."""
        where = _where(activity)
        if where is None:
            return False
        data = json.dumps({"welcomedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
        return await claim_reference(
            self.db, platform="teams", tenant=where[0], kind=KIND, key=where[1], data=data, timezone=self.timezone
        )

    async def forget(self, activity: Mapping[str, Any]) -> None:
        """The conversation is to be greeted again: okrbot was removed, or the hello did not go."""
        where = _where(activity)
        if where is not None:
            await forget_reference(self.db, platform="teams", tenant=where[0], kind=KIND, key=where[1])


def _where(activity: Mapping[str, Any]) -> tuple[str, str] | None:
    """The tenant and the conversation (without a thread's suffix), or None when either is missing."""
    tenant = tenant_id(activity)
    conversation = channel_key(str((activity.get("conversation") or {}).get("id") or ""))
    return (tenant, conversation) if tenant and conversation else None
