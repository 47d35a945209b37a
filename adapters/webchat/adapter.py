"""The web chat's edge: what the page sends, as the core's Commands; the core's replies, as JSON.

The page says who it is (the "who am I" switcher): the web chat is a local try-out surface with
no login, which is why it answers only this machine unless the operator opens it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.local import LOCAL_NAME, local_id, to_command
from adapters.webchat.hub import DM_PREFIX, Hub, Pane
from adapters.webchat.render import to_json
from bot.command import Command
from bot.core import Bot
from bot.forms import FormRequest, form_request
from bot.messages import Message

CHANNEL = "general"
MAX_TEXT = 4000
MAX_VALUES = 300


class BadRequest(ValueError):
    """What the page sent cannot be a command (a missing user, a name that is not one word)."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not LOCAL_NAME.fullmatch(value):
        raise BadRequest(f"The {what} must be one word of letters, digits, '.', '_' or '-' (up to 64).")
    return value


def _pane(value: Any) -> Pane:
    return "direct" if value == "direct" else "channel"


class WebChatAdapter:
    def __init__(self, bot: Bot, hub: Hub) -> None:
        self.bot, self.hub = bot, hub

    def command(self, body: Mapping[str, Any], text: str) -> Command:
        """The page's request as a Command: ``@name`` options become mentions, as in the terminal."""
        workspace = _name(body.get("workspace"), "workspace")
        user = _name(body.get("user"), "user name")
        if len(text) > MAX_TEXT:
            raise BadRequest(f"A command is at most {MAX_TEXT} characters.")
        pane = _pane(body.get("pane"))
        channel = f"{DM_PREFIX}{local_id(user)}" if pane == "direct" else CHANNEL
        return to_command(text, user=user, workspace=workspace, channel=channel, source="webchat")

    async def run(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A typed command: the reply; a reply for the whole channel goes to the other pages too."""
        text = body.get("text")
        if not isinstance(text, str):
            raise BadRequest("Send the command as text.")
        command = self.command(body, text)
        message = await self._answer(command, body.get("only"))
        reply = to_json(message)
        if message.visibility == "channel" and command.channel == CHANNEL:
            self.hub.publish(
                command.workspace.external_id,
                "channel",
                CHANNEL,
                {"kind": "reply", "from": command.actor.external_id, "said": text, "message": reply,
                 "client": str(body.get("client", ""))[:64]},
            )  # fmt: skip
        return {"message": reply}

    async def _answer(self, command: Command, only: Any) -> Message:
        """The core's answer; a progress line's "Check in" (``only``: its key result) gets the
        check-in form cut to that key result."""
        request = form_request(command.text)
        if isinstance(only, str) and only and request is not None:
            return await self.bot.form(command, FormRequest(request.action, only[:20]))
        return await self.bot.handle(command)

    async def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A submitted form: the confirmation, or the form again with an error next to each wrong field."""
        values = body.get("values")
        if not isinstance(values, dict) or len(values) > MAX_VALUES:
            raise BadRequest("Send the form's values as an object of field names to text.")
        clean = {str(k)[:100]: str(v)[:MAX_TEXT] for k, v in values.items()}
        action = str(body.get("action", ""))[:40]
        command = self.command(body, action)
        reply = await self.bot.submit_form(command, action, clean)
        return {"message": to_json(reply.message), "errors": reply.errors}

    async def workspace(self, name: Any) -> dict[str, Any]:
        """Who can be chosen in the switcher: the workspace's members, admins first, then by name."""
        external = local_id(_name(name, "workspace"))
        found = await self.bot.members("local", external)
        return {
            "workspace": external,
            "name": found.workspace_name if found is not None and found.workspace_name else name,
            "channel": CHANNEL,
            "members": [
                {"id": p.external_id, "name": p.name, "admin": p.is_admin} for p in (found.people if found else ())
            ],
        }
