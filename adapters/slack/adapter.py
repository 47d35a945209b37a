"""The Slack surface: slack-bolt's async app, its listeners, and how replies reach people.

Bolt verifies every request's signature (401 otherwise) and authorizes it; the listeners here
only translate (adapters/slack/translate.py), ask the core, and render (adapters/slack/render.py).
Every command is acknowledged within Slack's 3 seconds: a reply ready in time rides on the ack,
anything slower (digests, exports, a busy database) follows through response_url or the API.
The same grammar comes typed in okrbot's DM and after a mention of it (adapters/slack/conversation.py
says where those replies go), and a button answered in place (No change) replaces its message.

Bolt runs with ``process_before_response=True`` (adapters/slack/mount.py): it awaits a listener and
answers Slack as soon as the listener returns, rather than polling for the ack every 10 ms. So no
listener does after-ack work itself: what follows the ack (a delivery, views.open, views.publish,
a confirmation) runs as a background task the adapter keeps and, on shutdown, waits for (``close``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render, translate
from adapters.slack.conversation import answer_dm, answer_mention, ephemeral, error_of, has_attachments, send_dm
from adapters.slack.installations import InstallationStore, SeenEvents
from adapters.slack.outbound import open_dm, post, update, upload_attachments
from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.forms import FormRequest, form_request
from bot.messages import Actions, Button, Form, Header, Image, Message, Text

log = logging.getLogger(__name__)

#: Commands whose work may take longer than Slack waits for the ack.
SLOW = {"digest", "export", "tree"}
ACK_BUDGET = 2.0  # seconds a fast command may take before its reply goes through response_url
MAX_RESPONSES = 5  # response_url accepts five uses
IDENTITY_TTL = 600.0
SEEN_EVENTS = 10_000
HOME_TEAMS = 5  # teams shown in App Home, within its 100 blocks
HOME_FILES = 1024  # App Home maps uploaded, by workspace and picture: the oldest forgotten first
SHUTDOWN_GRACE = 10.0  # seconds replies already acknowledged get to finish on shutdown


class Identities:
    """users.info answers (name, timezone, admin), kept for ten minutes."""

    def __init__(self) -> None:
        self._cache: OrderedDict[tuple[str, str], tuple[float, Actor]] = OrderedDict()

    async def actor(self, client: AsyncWebClient, team_id: str, user_id: str) -> Actor:
        key = (team_id, user_id)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", user_id, error_of(exc))
            return Actor(user_id)
        actor = translate.actor_from_user(response["user"])
        self._cache[key] = (time.monotonic() + IDENTITY_TTL, actor)
        while len(self._cache) > 10_000:
            self._cache.popitem(last=False)
        return actor


class SlackAdapter:
    """Bolt's listeners for okrbot.

    ``seen`` keeps the event ids already run in the database (several instances, restarts);
    without it they are kept in memory. ``installations`` is the OAuth installation store, from
    which an uninstall or a token revocation removes the workspace; without it (one workspace,
    SLACK_BOT_TOKEN) those events are only logged.
    """

    def __init__(
        self, bot: Bot, app: AsyncApp, *, seen: SeenEvents | None = None, installations: InstallationStore | None = None
    ) -> None:
        self.bot = bot
        self.app = app
        self.identities = Identities()
        self.seen_events = seen
        self.installations = installations
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._home_files: dict[tuple[str, str], str] = {}  # (workspace, picture's hash) → Slack file id
        app.use(self._skip_repeated_events)
        app.command("/okr")(self.on_command)
        app.action({"action_id": _prefix(render.CHECKIN_ACTION)})(self.on_checkin_button)
        app.action({"action_id": _prefix(render.RUN_ACTION)})(self.on_run_button)
        app.action({"action_id": _prefix(render.REPLACE_ACTION)})(self.on_replace_button)
        for callback in render.FORM_CALLBACKS.values():
            app.view_submission(callback)(self.on_form_submit)
        app.event("message")(self.on_typed)  # every message event: one Bolt left unheard would get 404
        app.event("app_mention")(self.on_typed)
        app.event("app_home_opened")(self.on_home_opened)
        app.event("app_uninstalled")(self.on_app_uninstalled)
        app.event("tokens_revoked")(self.on_tokens_revoked)
        app.event("user_change")(self.on_user_change)

    # --- identity ------------------------------------------------------------------------------

    async def command(self, client: AsyncWebClient, payload: dict[str, Any], text: str | None = None) -> Command:
        return await self.identified(client, translate.to_command(payload, text=text))

    async def identified(self, client: AsyncWebClient, base: Command) -> Command:
        """The command with the person's name, timezone and admin flag, and the names it mentions."""
        actor = await self.identities.actor(client, base.workspace.external_id, base.actor.external_id)
        mentions = dict(base.mentions)
        for user_id, name in list(mentions.items())[:5]:
            if not name:
                mentions[user_id] = (
                    await self.identities.actor(client, base.workspace.external_id, user_id)
                ).display_name
        return Command(base.workspace, actor, base.text, base.channel, base.source, mentions)

    # --- after the ack -------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """Run work that follows an ack without holding Slack's answer back; kept until done."""
        task = asyncio.create_task(work, name=f"slack {what}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed after the ack", task.get_name(), exc_info=task.exception())

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """On shutdown: let the replies already acknowledged finish within ``grace``, cancel the rest."""
        deadline = time.monotonic() + grace
        while running := {task for task in self._tasks if not task.done()}:  # a task may start another
            _, pending = await asyncio.wait(running, timeout=max(0.0, deadline - time.monotonic()))
            if pending:
                log.warning("slack: %d replies still running after %g s: cancelled", len(pending), grace)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    # --- listeners -----------------------------------------------------------------------------

    async def _skip_repeated_events(self, body: dict[str, Any], next: Any) -> BoltResponse | None:
        """Slack retries an event it thinks we missed (X-Slack-Retry-Num): run each event once."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id:
            if event_id in self._seen or not await self._first_time(str(event_id)):
                log.info("event %s seen already: not run again", event_id)
                return BoltResponse(status=200, body="", headers={"X-Slack-No-Retry": "1"})
            self._seen[event_id] = None
            while len(self._seen) > SEEN_EVENTS:
                self._seen.popitem(last=False)
        return await next()

    async def _first_time(self, event_id: str) -> bool:
        if self.seen_events is None:
            return True
        try:
            return await self.seen_events.first_time(event_id)
        except Exception as exc:  # noqa: BLE001 - a busy database must not lose the event: run it
            log.warning("event %s could not be recorded (%s): run anyway", event_id, exc.__class__.__name__)
            return True

    async def on_command(self, ack: Any, command: dict[str, Any], client: AsyncWebClient, respond: Any) -> None:
        cmd = await self.command(client, command)
        request = form_request(cmd.text)
        if request is not None and command.get("trigger_id"):
            await ack()
            self._spawn(self._open_form(client, cmd, command["trigger_id"], request), f"{request.action} modal")
            return
        work = asyncio.ensure_future(self.bot.handle(cmd))
        first = cmd.text.split()[0].lower() if cmd.text.split() else ""
        if first not in SLOW:
            done, _ = await asyncio.wait({work}, timeout=ACK_BUDGET)
            if done and work.result().visibility == "private" and not has_attachments(work.result()):
                parts = render.to_messages(work.result())[:MAX_RESPONSES]
                await ack(response_type="ephemeral", **parts[0]) if parts else await ack()
                if parts[1:]:
                    self._spawn(self._respond(respond, parts[1:]), f"/okr {first[:20]} (more parts)")
                return
        await ack()
        self._spawn(self._deliver_when_ready(client, respond, cmd, work), f"/okr {first[:20]}")

    async def _respond(self, respond: Any, parts: list[dict[str, Any]]) -> None:
        for part in parts:
            await respond(response_type="ephemeral", replace_original=False, **part)

    async def _deliver_when_ready(
        self, client: AsyncWebClient, respond: Any, cmd: Command, work: asyncio.Future[Message]
    ) -> None:
        await self._deliver(client, respond, cmd, await work)

    async def _deliver(self, client: AsyncWebClient, respond: Any, cmd: Command, message: Message) -> None:
        """A reply after the ack: digests to the channel, files to a DM, the rest ephemeral."""
        try:
            if message.visibility == "channel" and cmd.channel:
                try:
                    await post(client, cmd.channel, message)
                    return
                except SlackApiError as exc:  # not in the channel, a DM with someone else…
                    log.info("posting to %s failed (%s): answering in place", cmd.channel, error_of(exc))
                    for part in render.to_messages(message)[:MAX_RESPONSES]:
                        await respond(response_type="in_channel", replace_original=False, **part)
                    return
            parts = render.to_messages(message)
            if has_attachments(message):
                dm = await open_dm(client, cmd.actor.external_id)
                await upload_attachments(client, dm, message, thread_ts=None)
                parts = parts or [{"text": "Sent to you in a direct message from okrbot."}]
            for part in parts[:MAX_RESPONSES]:
                await respond(response_type="ephemeral", replace_original=False, **part)
        except SlackApiError as exc:
            log.warning("a reply could not be delivered: %s", error_of(exc))

    async def _open_form(
        self,
        client: AsyncWebClient,
        cmd: Command,
        trigger_id: str,
        request: FormRequest,
        prompt: tuple[str, str] | None = None,
    ) -> None:
        """After the ack: the check-in or grading modal (one KR's when the request names one),
        through views.open.

        ``prompt``: the channel and ts of the prompt the modal was opened from, answered in its
        place once the form is saved (kept in the modal's private_metadata until then)."""
        message = await self.bot.form(cmd, request)
        form = next((b for b in message.blocks if isinstance(b, Form)), None)
        if form is not None:
            notes = tuple(b for b in message.blocks if b is not form)
            metadata = {"channel": cmd.channel}
            if prompt is not None:
                metadata |= {"prompt_channel": prompt[0], "prompt_ts": prompt[1]}
            view = render.form_modal(form, metadata, notes=notes)
        else:
            view = render.info_modal(render.FORM_TITLES[request.action], message)
        try:
            await client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.warning("views.open failed: %s", error_of(exc))

    async def on_checkin_button(self, ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        self._spawn(self._checkin_button(client, body, str(action.get("value") or "")[:40]), "form button")

    async def _checkin_button(self, client: AsyncWebClient, body: dict[str, Any], value: str) -> None:
        """A button that opens a form: its value names a key result to check in on ("KR-7", or ""
        for all), or the form and key result ("grade", "grade KR-7")."""
        request = form_request(value) or FormRequest("checkin", value)
        cmd = await self.command(client, body, text=request.action)
        await self._open_form(client, cmd, body.get("trigger_id", ""), request, translate.prompt_of(body))

    async def on_run_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any, respond: Any
    ) -> None:
        await ack()
        self._spawn(self._run_button(client, body, str(action.get("value") or ""), respond), "button")

    async def _run_button(self, client: AsyncWebClient, body: dict[str, Any], words: str, respond: Any) -> None:
        cmd = await self.command(client, body, text=words)
        request = form_request(cmd.text)
        if request is not None and body.get("trigger_id"):
            await self._open_form(client, cmd, body["trigger_id"], request, translate.prompt_of(body))
            return
        await self._answer_button(client, body, respond, cmd, await self.bot.handle(cmd))

    async def _answer_button(
        self, client: AsyncWebClient, body: dict[str, Any], respond: Any, cmd: Command, message: Message
    ) -> None:
        if body.get("response_url"):
            await self._deliver(client, respond, cmd, message)
        else:  # the Home tab has no response_url: answer in a DM
            await send_dm(client, cmd.actor.external_id, message)

    async def on_replace_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any, respond: Any
    ) -> None:
        """A button answered in place (the prompt's No change): acked, then run, and its reply
        takes the place of the message that carried the button."""
        await ack()
        self._spawn(self._replace_button(client, body, str(action.get("value") or ""), respond), "button in place")

    async def _replace_button(self, client: AsyncWebClient, body: dict[str, Any], words: str, respond: Any) -> None:
        cmd = await self.command(client, body, text=words)
        message = await self.bot.handle(cmd)
        where = translate.button_message(body)
        if where is not None and not message.is_error:  # a refusal leaves the prompt for another try
            try:
                await update(client, *where, message)
                return
            except SlackApiError as exc:
                log.info("chat.update failed (%s): answered beside the message", error_of(exc))
        await self._answer_button(client, body, respond, cmd, message)

    async def on_form_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        action = next(a for a, callback in render.FORM_CALLBACKS.items() if callback == view.get("callback_id"))
        cmd = await self.command(client, body, text=action)
        reply = await self.bot.submit_form(cmd, action, translate.form_values(view))
        if reply.errors:
            errors = {name[:255]: sentence[:2000] for name, sentence in reply.errors.items()}
            await ack(response_action="errors", errors=errors)
            return
        if reply.message.is_error:
            await ack(response_action="update", view=render.info_modal(render.FORM_TITLES[action], reply.message))
            return
        await ack()
        metadata = translate.metadata(view)
        self._spawn(self._confirm(client, metadata, cmd.actor.external_id, reply.message), f"{action} confirmation")

    async def _confirm(self, client: AsyncWebClient, metadata: dict[str, str], user: str, message: Message) -> None:
        """After a modal's check-in: the prompt it was opened from answered in place, and an
        ephemeral note where the modal was opened (a DM when it was opened elsewhere)."""
        if metadata.get("prompt_channel") and metadata.get("prompt_ts"):
            try:
                await update(client, metadata["prompt_channel"], metadata["prompt_ts"], message)
            except SlackApiError as exc:
                log.info("the prompt could not be answered in place: %s", error_of(exc))
        if metadata.get("channel"):
            await ephemeral(client, metadata["channel"], user, message)
        else:
            await send_dm(client, user, message)

    # --- typed to okrbot: its DM, a mention ----------------------------------------------------

    async def on_typed(self, event: dict[str, Any], body: dict[str, Any], context: Any, client: AsyncWebClient) -> None:
        """A DM to okrbot or a mention of it, answered after the ack; every other message event
        (okrbot's own, other bots', edits, deletions, other channels) is acked and left alone."""
        base = translate.typed_command(str(body.get("team_id") or ""), event, context.bot_user_id)
        if base is None:
            log.debug("slack: %s event (%s) left alone", event.get("type"), event.get("subtype") or "no subtype")
            return
        thread_ts = str(event["thread_ts"]) if event.get("thread_ts") else None
        word = base.text.split()[0].lower()[:20] if base.text.split() else "help"
        self._spawn(self._answer_typed(client, base, event["type"], thread_ts), f"{event['type']} {word}")

    async def _answer_typed(self, client: AsyncWebClient, base: Command, kind: str, thread_ts: str | None) -> None:
        """Typed text has no trigger_id to open a modal with: ``checkin [KR-n]`` answers with the
        form's button instead, as the slash command would open it."""
        cmd = await self.identified(client, base)
        request = form_request(cmd.text)
        message = await (self.bot.handle(cmd) if request is None else self.bot.form(cmd, request))
        if kind == "app_mention":
            await answer_mention(client, cmd, message, thread_ts=thread_ts)
        else:
            await answer_dm(client, cmd, message, thread_ts=thread_ts)

    async def on_home_opened(self, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        """Bolt acks an event when its listener returns: the Home tab is built after that."""
        if event.get("tab", "home") != "home":
            return
        payload = {"team_id": body.get("team_id", ""), "user_id": event.get("user", "")}
        self._spawn(self._publish_home(client, payload), "App Home")

    async def _publish_home(self, client: AsyncWebClient, payload: dict[str, str]) -> None:
        cmd = await self.command(client, payload, text="list mine")
        intro = Message.of(
            Header(("Your OKRs",)),
            Text(("Your key results, with their progress and confidence; check in on all of them at once:",)),
            Actions((Button("Check in", "checkin", "primary"),)),
        )
        mine = await self.bot.handle(cmd)
        teams = [await self.bot.handle(Command(cmd.workspace, cmd.actor, f"list team {key}", "", cmd.source))
                 for key in await self.team_keys(cmd.workspace, cmd.actor.external_id)]  # fmt: skip
        picture = None
        if teams:
            picture = await self._home_map(client, cmd)
        else:
            teams = [Message.of(Header(("Your teams",)), Text(("You are in no team yet: /okr team join <key>.",)))]
        try:
            view = render.home_view([intro, mine, *teams], picture=picture)
            await client.views_publish(user_id=cmd.actor.external_id, view=view)
        except SlackApiError as exc:
            log.warning("views.publish failed: %s", error_of(exc))

    async def _home_map(self, client: AsyncWebClient, cmd: Command) -> tuple[str, str] | None:
        """The value-chain map of the person's teams for App Home: (file id, alt text). A Home
        tab can show only an image hosted somewhere or a file in Slack, so the picture is
        uploaded once (shared nowhere) and the file kept for as long as the picture is the same."""
        message = await self.bot.handle(dataclasses.replace(cmd, text="tree mine"))
        image = next((b for b in message.blocks if isinstance(b, Image)), None)
        if image is None:
            return None
        key = (cmd.workspace.external_id, hashlib.sha256(image.png).hexdigest())
        if (file_id := self._home_files.get(key)) is None:
            try:
                uploaded = await client.files_upload_v2(file=image.png, filename=image.name, alt_txt=image.alt[:1000])
            except SlackApiError as exc:
                log.warning("the App Home map could not be uploaded: %s", error_of(exc))
                return None
            file_id = str(uploaded["file"]["id"])
            self._home_files[key] = file_id
            while len(self._home_files) > HOME_FILES:
                self._home_files.pop(next(iter(self._home_files)))
        return file_id, image.alt

    async def team_keys(self, workspace: WorkspaceRef, user_id: str) -> list[str]:
        """The keys of the teams the member belongs to (App Home shows those, not every team)."""
        return await self.bot.team_keys(workspace, user_id, limit=HOME_TEAMS)

    async def on_app_uninstalled(self, context: Any) -> None:
        """Slack removed okrbot from a workspace: forget its token (OAuth); either way answer 200."""
        log.info("slack: uninstalled from %s", context.team_id or context.enterprise_id)
        if self.installations is not None:
            forget = self.installations.async_delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
            self._spawn(forget, "uninstall")

    async def on_user_change(self, event: dict[str, Any], context: Any) -> None:
        """A person's account changed: deactivated (``deleted``) means no more prompts to them,
        reactivated means they are back. Anything else about them okrbot reads when they next type."""
        user = event.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not context.team_id:
            return
        workspace = WorkspaceRef("slack", context.team_id, context.team_id)
        self._spawn(self.bot.member_left(workspace, user["id"], left=bool(user.get("deleted"))), "user change")

    async def on_tokens_revoked(self, event: dict[str, Any], context: Any) -> None:
        """Tokens revoked (the event carries user ids, never tokens): drop what they belonged to."""
        tokens = event.get("tokens") or {}
        users, bots = list(tokens.get("oauth") or []), list(tokens.get("bot") or [])
        log.info("slack: %d user and %d bot tokens revoked in %s", len(users), len(bots), context.team_id)
        if self.installations is not None:
            forget = self._forget_tokens(context.enterprise_id, context.team_id, users, bool(bots))
            self._spawn(forget, "tokens revoked")

    async def _forget_tokens(self, enterprise_id: str | None, team_id: str | None, users: list[str], bot: bool) -> None:
        assert self.installations is not None
        for user_id in users:
            await self.installations.async_delete_installation(
                enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
            )
        if bot:
            await self.installations.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)


def _prefix(action_id: str) -> Any:
    import re

    return re.compile(rf"^{re.escape(action_id)}(:.*)?$")


def workspace_of(team_id: str) -> WorkspaceRef:
    return WorkspaceRef("slack", team_id)
