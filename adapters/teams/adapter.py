"""One Teams turn: the activity in, the core's answer out as Adaptive Cards.

``TeamsAdapter.on_turn`` is the bot callback botbuilder's ``CloudAdapter`` calls after it has
checked the request's token; everything platform-specific (mentions, the roster, updating a card
in place) happens here, and the core only ever sees a :class:`bot.command.Command`.

A click on one of okrbot's cards arrives one of two ways: an Action.Execute as an
``adaptiveCard/action`` invoke, answered in the HTTP response with the card that takes the
clicked one's place, or (from a Teams client without Universal Actions) its Action.Submit
fallback as a message carrying ``value``, answered by updating the card through ``replyToId``.
Both run the same :meth:`TeamsAdapter._clicked`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ActivityTypes
from msrest.serialization import Model

from adapters.teams.actions import card_answer, error_answer, message_answer
from adapters.teams.jsonish import as_json
from adapters.teams.references import References
from adapters.teams.render import to_activities
from adapters.teams.translate import (
    COMMAND_ACTION,
    EXECUTE_INVOKE,
    NotForUs,
    Submission,
    conversation_kind,
    execution,
    mentioned_users,
    submission,
    to_command,
)
from adapters.teams.welcome import Welcomes, is_install, is_uninstall, welcome_message
from bot.core import Bot
from bot.forms import form_request
from bot.messages import Message

log = logging.getLogger("okrbot.teams")
ROSTER_TTL = 600.0  # seconds a member's roster entry (Azure AD id, role) is trusted
ROSTER_MAX = 5_000


class Roster:
    """Roster look-ups (a Teams id → Azure AD id and role), cached briefly per conversation."""

    def __init__(self) -> None:
        self._cache: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()

    async def member(self, turn_context: TurnContext, teams_id: str) -> Any | None:
        key = (str(turn_context.activity.conversation.id), teams_id)
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < ROSTER_TTL:
            return hit[1]
        try:
            member = await TeamsInfo.get_member(turn_context, teams_id)
        except Exception as exc:  # noqa: BLE001 - the roster is a nicety: without it we go on
            log.info("roster look-up failed: %s", exc.__class__.__name__)
            member = None
        self._cache[key] = (time.monotonic(), member)
        while len(self._cache) > ROSTER_MAX:
            self._cache.popitem(last=False)
        return member


@dataclass(frozen=True)
class Clicked:
    """What a click on one of okrbot's cards ran: the answer, and whether it takes the card's place."""

    message: Message
    replaces: bool
    #: A form with errors, or an error sentence: the card the person filled in stays where it is.
    refused: bool


class TeamsAdapter:
    """The bot CloudAdapter runs: stores the conversation reference, then answers messages."""

    def __init__(self, bot: Bot, references: References) -> None:
        self.bot = bot
        self.references = references
        self.roster = Roster()
        self.welcomes = Welcomes(references.db, timezone=references.timezone)

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        raw = as_json(activity)
        try:
            await self.references.remember(activity, raw)
        except Exception:  # a reference we fail to keep must not cost the person their answer
            log.exception("could not store the conversation reference")
        try:
            if activity.type == ActivityTypes.message:
                await self._message(turn_context, raw)
            elif activity.type == ActivityTypes.invoke and activity.name == EXECUTE_INVOKE:
                await self._execute(turn_context, raw)
            elif activity.type != ActivityTypes.invoke:
                await self._installation(turn_context, raw)
            # any other invoke: no answer set, so the SDK answers 501
        except NotForUs as exc:
            log.info("ignored an activity: %s", exc)

    async def _installation(self, turn_context: TurnContext, raw: dict[str, Any]) -> None:
        """conversationUpdates, installationUpdates …: a hello once per conversation, else nothing
        beyond the reference kept above."""
        try:
            if is_install(raw) and await self.welcomes.first(raw):
                await self.welcome(turn_context, raw)
            elif is_uninstall(raw):
                await self.welcomes.forget(raw)
        except Exception:  # okrbot's hello must never fail an install
            log.exception("could not tell whether this conversation was greeted")

    async def _message(self, turn_context: TurnContext, raw: dict[str, Any]) -> None:
        submitted = submission(raw)
        if submitted is None:
            is_owner = await self._is_owner(turn_context, raw)
            aad_ids = await self._aad_ids(turn_context, raw)
            command = to_command(raw, aad_ids=aad_ids, is_owner=is_owner)
            await self.send(turn_context, await self.bot.handle(command))
            return
        clicked = await self._clicked(turn_context, raw, submitted)
        card_id = turn_context.activity.reply_to_id
        if clicked.replaces and not clicked.refused and card_id:
            await self.update(turn_context, card_id, clicked.message)
        else:
            await self.send(turn_context, clicked.message)

    async def _execute(self, turn_context: TurnContext, raw: dict[str, Any]) -> None:
        """An Action.Execute: the answer's card in the clicked one's place, for this client at once
        (the invoke response) and for the person's other clients and the conversation's other
        members (the message edited, when the invoke names it). A form with errors comes back to
        this client only; an error sentence shows by the card, which stays as it was."""
        submitted = execution(raw)
        if submitted is None:
            await respond(turn_context, error_answer(400, "BadRequest", "This is not an okrbot card's action."))
            return
        try:
            clicked = await self._clicked(turn_context, raw, submitted)
        except NotForUs as exc:
            log.info("ignored a card action: %s", exc)
            await respond(turn_context, error_answer(400, "BadRequest", "okrbot answers people of a Teams tenant."))
            return
        if clicked.message.is_error:
            await respond(turn_context, message_answer(clicked.message.text))
            return
        first, *rest = outgoing(clicked.message)
        await respond(turn_context, card_answer(to_activities(clicked.message)[0]["attachments"][0]["content"]))
        card_id = turn_context.activity.reply_to_id
        if card_id and not clicked.refused:  # the form with its errors is for this client alone
            await self._edit(turn_context, card_id, first)
        for activity in rest:
            await turn_context.send_activity(activity)

    async def _clicked(self, turn_context: TurnContext, raw: dict[str, Any], submitted: Submission) -> Clicked:
        """Run what a click asked for: a button's command (a "Check in" one opens the form), or a form."""
        is_owner = await self._is_owner(turn_context, raw)
        if submitted.action == COMMAND_ACTION:
            command = to_command(raw, is_owner=is_owner, text=submitted.command)
            request = form_request(submitted.command)
            if request is not None:  # a "Check in" or "Grade" button: the card, for that KR when it names one
                message = await self.bot.form(command, request)
            else:
                message = await self.bot.handle(command)
            return Clicked(message, replaces=submitted.replaces, refused=message.is_error)
        command = to_command(raw, is_owner=is_owner, text="")
        reply = await self.bot.submit_form(command, submitted.action, submitted.values)
        return Clicked(reply.message, replaces=True, refused=bool(reply.errors) or reply.message.is_error)

    async def _is_owner(self, turn_context: TurnContext, raw: dict[str, Any]) -> bool:
        """Team owners are okrbot admins where the roster says so.

        The Bot Connector's member (``TeamsInfo.get_member``, ``GET …/members/{id}``) carries
        ``userRole``: Teams documents "user", "guest" and "owner" (botbuilder-dotnet#3405), but
        offers bots no dedicated owner look-up (msteams-docs#1990), so an owner may well come back
        as "user". Only an explicit "owner" counts; everyone else, and everyone when the roster
        does not answer or in a personal chat (no team to own), is left to the core's
        first-member rule.
        """
        if conversation_kind(raw) == "personal" or not (raw.get("from") or {}).get("id"):
            return False
        member = await self.roster.member(turn_context, raw["from"]["id"])
        return str(getattr(member, "user_role", "") or "").lower() == "owner"

    async def _aad_ids(self, turn_context: TurnContext, raw: dict[str, Any]) -> dict[str, str]:
        """Azure AD ids of the people the message mentions, from the roster when the entity lacks one."""
        out: dict[str, str] = {}
        for user in mentioned_users(raw)[:20]:
            if user.get("aadObjectId"):
                continue
            member = await self.roster.member(turn_context, user["id"])
            if member is not None and getattr(member, "aad_object_id", None):
                out[user["id"]] = member.aad_object_id
        return out

    async def welcome(self, turn_context: TurnContext, raw: dict[str, Any]) -> None:
        try:
            await self.send(turn_context, welcome_message(raw))
        except Exception as exc:  # noqa: BLE001 - a hello that fails must not fail the install
            log.info("could not send the welcome: %s", exc.__class__.__name__)
            await self.welcomes.forget(raw)  # the next install signal tries again

    async def send(self, turn_context: TurnContext, message: Message) -> None:
        for activity in outgoing(message):
            await turn_context.send_activity(activity)

    async def update(self, turn_context: TurnContext, card_id: str, message: Message) -> None:
        """Replace the submitted card with the first card of ``message``; send any further ones."""
        first, *rest = outgoing(message)
        first.id = card_id
        first.conversation = turn_context.activity.conversation
        await turn_context.update_activity(first)
        for activity in rest:
            await turn_context.send_activity(activity)

    async def _edit(self, turn_context: TurnContext, card_id: str, activity: Activity) -> None:
        """Edit the message whose card was clicked; the person has their answer whether or not it goes."""
        activity.id = card_id
        activity.conversation = turn_context.activity.conversation
        try:
            await turn_context.update_activity(activity)
        except Exception as exc:  # noqa: BLE001 - the invoke's answer already shows the new card
            log.info("could not edit the clicked card's message: %s", exc.__class__.__name__)


async def respond(turn_context: TurnContext, body: dict[str, Any]) -> None:
    """Answer the invoke: HTTP 200, with how it went in the body's own ``statusCode``."""
    answer = InvokeResponse(status=200, body=PlainJson(body))
    await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response, value=answer))


class PlainJson(Model):
    """JSON okrbot built (an Adaptive Card, an invoke's answer), handed to msrest as it stands.

    ``Attachment.content`` is typed "object", and msrest serializes an object node by node
    (``Serializer.serialize_object``, several calls per key): about 2 ms of CPU for the 10 KB
    card of ``list mine``, the dearest step of a turn; an invoke's body it cannot serialize at all
    unless it is a Model. A Model whose only attribute is ``additional_properties`` (key "") is
    copied over whole (msrest's own contract for extra keys), so the JSON goes to ``json.dumps``
    as built. It is plain JSON from render.py and actions.py, never changed after, so
    ``TurnContext.send_activities``' deep copy of each outgoing activity may share it.
    """

    _attribute_map = {"additional_properties": {"key": "", "type": "{object}"}}

    def __init__(self, content: dict[str, Any]) -> None:
        super().__init__()
        self.additional_properties = content

    def __deepcopy__(self, memo: dict[int, Any]) -> PlainJson:
        return self


def outgoing(message: Message) -> list[Activity]:
    """The Message as SDK activities (one per card), built through CardFactory/MessageFactory."""
    activities = []
    for item in to_activities(message):
        attachment = CardFactory.adaptive_card(item["attachments"][0]["content"])
        attachment.content = PlainJson(attachment.content)
        activity = MessageFactory.attachment(attachment)
        activity.summary = item["summary"]
        activities.append(activity)
    return activities
