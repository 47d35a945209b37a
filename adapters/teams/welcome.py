"""The hello okrbot says when it is installed: what it does and the three commands to start with.

Teams tells a bot it was installed twice over: a ``conversationUpdate`` with the bot among
``membersAdded`` and an ``installationUpdate`` with ``action: add``, in either order (and some
clients send only one). :class:`Welcomes` answers whichever comes first and lets the other pass,
so a person is greeted once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from adapters.teams.translate import channel_key, conversation_kind
from bot.messages import Actions, Button, Context, Fields, Header, Message, Text

WINDOW = 600.0  # seconds within which a second install signal for one conversation is the same install
REMEMBER_MAX = 10_000


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
    """Which conversations were greeted lately, so two install signals make one welcome."""

    def __init__(self) -> None:
        self._greeted: OrderedDict[str, float] = OrderedDict()

    def first(self, activity: Mapping[str, Any]) -> bool:
        """True once per conversation per :data:`WINDOW`; records the greeting."""
        conversation = channel_key(str((activity.get("conversation") or {}).get("id") or ""))
        if not conversation:
            return False
        now = time.monotonic()
        seen = self._greeted.get(conversation)
        if seen is not None and now - seen < WINDOW:
            return False
        self._greeted[conversation] = now
        self._greeted.move_to_end(conversation)
        while len(self._greeted) > REMEMBER_MAX:
            self._greeted.popitem(last=False)
        return True
