"""A loopback fake of the Slack Web API: an aiohttp app that records every call it receives.

Point okrbot at it with ``OKRBOT_SLACK_API_URL`` (``fake.api_url``). It answers the methods
okrbot uses, serves ``response_url``s and file upload URLs, and can be told to fail a method
with a Slack error or with HTTP 429 + ``Retry-After``, or to hold a method's answers back until
the test lets them go (``hold``): the call is recorded when it arrives, answered when released.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from platform_checks import record_slack


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str = ""
    #: What the fake answered (``ts`` of a posted message, for one): filled once answered.
    answer: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.perf_counter)  # when it arrived (benchmarks time clicks by it)
    peer: str = ""  # the client's address and port: one keep-alive connection shows as one peer


@dataclass
class Failure:
    error: str = ""
    status: int = 200
    retry_after: int | None = None
    times: int = 1


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    #: oauth.v2.access answers, by the code the install redirect carries.
    oauth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: auth.test answers, by bot token (any other token is workspace T1's).
    bots: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: methods whose answers wait until their event is set (see ``hold``).
    holds: dict[str, asyncio.Event] = field(default_factory=dict)
    server: TestServer | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # --- set-up --------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, team: str = "T1", tz: str = "UTC", admin: bool = False) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": team,
            "name": name.lower(),
            "real_name": name,
            "tz": tz,
            "is_admin": admin,
            "is_owner": False,
            "profile": {"display_name": name, "real_name": name},
        }

    def workspace(self, team: str, *, code: str, token: str, installer: str = "UINSTALLER") -> None:
        """A workspace that can install okrbot: the code its OAuth redirect carries, the bot token it gets."""
        bot = {"team_id": team, "team": f"Team {team}", "user_id": f"UBOT{team}", "bot_id": f"B{team}"}
        self.bots[token] = {**bot, "url": f"https://{team.lower()}.slack.com/", "user": "okrbot"}
        self.oauth_codes[code] = {
            "app_id": "A1", "access_token": token, "token_type": "bot", "bot_user_id": bot["user_id"],
            "scope": "commands,chat:write,users:read", "team": {"id": team, "name": bot["team"]},
            "enterprise": None, "is_enterprise_install": False, "authed_user": {"id": installer},
        }  # fmt: skip

    def fail(self, method: str, error: str = "", *, status: int = 200, retry_after: int | None = None, times: int = 1):
        self.failures.setdefault(method, []).append(Failure(error, status, retry_after, times))

    def hold(self, method: str) -> asyncio.Event:
        """Answer ``method`` (or ``"response_url"``), recorded on arrival, only once the returned event
        is set: a slow Slack. ``close`` sets every such event."""
        return self.holds.setdefault(method, asyncio.Event())

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{id}", self._respond)
        app.router.add_post("/upload/{id}", self._upload)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        for gate in self.holds.values():  # a held answer must not keep the server from closing
            gate.set()
        if self.server is not None:
            await self.server.close()

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base}/respond/{name}"

    # --- what happened -------------------------------------------------------------------------

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, seconds: float = 10.0) -> list[Call]:
        deadline = time.monotonic() + seconds
        while len(self.of(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} called {len(self.of(method))} times, expected {count}: {self.calls}")
            await asyncio.sleep(0.02)
        return self.of(method)

    # --- the API -------------------------------------------------------------------------------

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)  # slack_sdk sends some methods' arguments as params
        if request.method == "GET":
            return args
        if request.content_type == "application/json":
            return {**args, **await request.json()}
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str) and key in ("blocks", "view", "files", "attachments"):
                try:
                    args[key] = json.loads(value)
                    continue
                except ValueError:
                    pass
            args[key] = value if isinstance(value, str) else getattr(value, "filename", "")
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        call = Call(
            method, args, token, peer=str(request.transport.get_extra_info("peername") if request.transport else "")
        )
        self.calls.append(call)
        record_slack(method, args)  # checked against Slack's Block Kit types at the end of the run
        if method in self.holds:
            await self.holds[method].wait()
        queued = self.failures.get(method)
        if queued:
            failure = queued[0]
            failure.times -= 1
            if failure.times <= 0:
                queued.pop(0)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            body = {"ok": False, "error": failure.error or ("ratelimited" if failure.status == 429 else "fatal_error")}
            return web.json_response(body, status=failure.status, headers=headers)
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        if method == "auth.test":
            return web.json_response({"ok": True, **self._auth_test(args, str(args.get("token") or token))})
        call.answer = answer(args)
        return web.json_response({"ok": True, **call.answer})

    def _auth_test(self, args: dict[str, Any], token: str = "") -> dict[str, Any]:
        if token in self.bots:
            return self.bots[token]
        return {"url": "https://acme.slack.com/", "team": "Acme", "user": "okrbot", "team_id": "T1",
                "user_id": "UBOT", "bot_id": "BBOT"}  # fmt: skip

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"user": {"id": args.get("user"), "name": str(args.get("user")).lower(), "profile": {}}}
        return {"user": user}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": {"id": "D" + str(args.get("users", "")).split(",")[0]}}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": args.get("channel"), "ts": f"1700000000.{next(self._ids):06d}", "message": {}}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": args.get("channel"), "ts": args.get("ts"), "text": args.get("text", "")}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"message_ts": f"1700000000.{next(self._ids):06d}"}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": f"V{next(self._ids)}", **(args.get("view") or {})}}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"view": {"id": f"V{next(self._ids)}"}}

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids)}"
        return {"upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    def _oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        answer = self.oauth_codes.get(str(args.get("code")))
        if answer is None:
            raise web.HTTPOk(text=json.dumps({"ok": False, "error": "invalid_code"}), content_type="application/json")
        return answer

    async def _respond(self, request: web.Request) -> web.Response:
        answer = await request.json()
        self.calls.append(Call("response_url", {"id": request.match_info["id"], **answer}))
        record_slack("response_url", answer)
        if "response_url" in self.holds:
            await self.holds["response_url"].wait()
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append(Call("upload", {"id": request.match_info["id"], "size": len(body), "body": body}))
        return web.Response(text="OK - 200")


# --- Slack's side: requests to okrbot, signed as Slack signs them -------------------------------

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"


def sign(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """Headers exactly as Slack signs: v0=HMAC-SHA256(secret, "v0:{ts}:{raw body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


@dataclass
class SlackClient:
    """Plays Slack: slash commands, button clicks, modal submissions and events, all signed."""

    http: TestClient
    fake: FakeSlack
    team: str = "T1"
    channel: str = "C1"
    #: Every request sent to okrbot: what a person did (a command, a click, a submit), one each.
    requests: int = 0
    _events: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> ClientResponse:
        signed = {**sign(body), "Content-Type": content_type, **(headers or {})}
        self.requests += 1
        return await self.http.post("/slack/events", data=body.encode(), headers=signed)

    def form(self, **fields: str) -> str:
        return urllib.parse.urlencode(fields)

    async def slash(self, user: str, text: str, *, channel: str | None = None, team: str | None = None) -> Any:
        body = self.form(
            token="deprecated", team_id=team or self.team, team_domain="acme", channel_id=channel or self.channel,
            channel_name="okrs", user_id=user, user_name=user.lower(), command="/okr", text=text,
            response_url=self.fake.response_url(f"{user}-{len(self.fake.calls)}"), trigger_id=f"trig-{user}",
            api_app_id="A1",
        )  # fmt: skip
        response = await self.post(body, "application/x-www-form-urlencoded")
        assert response.status == 200, await response.text()
        text_body = await response.text()
        return json.loads(text_body) if text_body.startswith("{") else text_body

    async def interact(self, payload: dict[str, Any]) -> ClientResponse:
        return await self.post(self.form(payload=json.dumps(payload)), "application/x-www-form-urlencoded")

    async def click(self, user: str, action_id: str, value: str, *, from_home: bool = False) -> ClientResponse:
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": self.team, "domain": "acme"},
            "user": {"id": user, "team_id": self.team}, "api_app_id": "A1", "trigger_id": f"trig-btn-{user}",
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                         "action_ts": "1700000000.1"}],
        }  # fmt: skip
        if from_home:
            payload["view"] = {"type": "home", "id": "VHOME"}
        else:
            payload["channel"] = {"id": self.channel}
            payload["container"] = {"type": "message", "channel_id": self.channel}
            payload["response_url"] = self.fake.response_url(f"btn-{user}")
        return await self.interact(payload)

    async def press(self, user: str, posted: Call, label: str, *, value: str | None = None) -> ClientResponse:
        """Click the button labelled ``label`` (with ``value``, when given) on a message okrbot
        posted (``posted``: its chat.postMessage or chat.update), with the payload Slack sends for
        a message's button: its container, the message itself, a response_url."""
        blocks = posted.args.get("blocks") or []
        for block in blocks:
            for element in [*block.get("elements", ()), block.get("accessory") or {}]:
                if element.get("type") != "button" or element["text"]["text"] != label:
                    continue
                if value is None or element.get("value", "") == value:
                    break
            else:
                continue
            break
        else:
            raise AssertionError(f"no button {label!r} in {blocks}")
        channel, ts = posted.args["channel"], posted.answer.get("ts") or posted.args["ts"]
        payload: dict[str, Any] = {
            "type": "block_actions", "team": {"id": self.team, "domain": "acme"},
            "user": {"id": user, "team_id": self.team}, "api_app_id": "A1", "trigger_id": f"trig-press-{user}",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel}, "message": {"type": "message", "ts": ts, "text": posted.args.get("text", ""),
                                                    "blocks": blocks},
            "response_url": self.fake.response_url(f"press-{user}"),
            "actions": [{"type": "button", "action_id": element["action_id"], "block_id": "b1",
                         "value": element.get("value", ""), "action_ts": "1700000000.2"}],
        }  # fmt: skip
        return await self.interact(payload)

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, str]) -> ClientResponse:
        state: dict[str, Any] = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            kind = block["element"]["type"]
            typed = values.get(block["block_id"])
            if kind == "static_select":
                action = {"type": kind, "selected_option": {"value": typed} if typed is not None else None}
            else:
                action = {"type": kind, "value": typed}
            state[block["block_id"]] = {block["element"]["action_id"]: action}
        payload = {
            "type": "view_submission", "team": {"id": self.team, "domain": "acme"},
            "user": {"id": user, "team_id": self.team}, "api_app_id": "A1",
            "view": {**view, "id": "V1", "team_id": self.team, "state": {"values": state}},
        }  # fmt: skip
        return await self.interact(payload)

    async def event(self, event: dict[str, Any], *, event_id: str = "Ev1", headers: dict[str, str] | None = None):
        body = json.dumps({
            "token": "deprecated", "team_id": self.team, "api_app_id": "A1", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
        })  # fmt: skip
        return await self.post(body, "application/json", headers)

    async def dm(self, user: str, text: str, *, event_id: str | None = None, **fields: Any) -> ClientResponse:
        """``user`` types ``text`` in okrbot's DM (``message.im``); ``fields`` add to or override the event."""
        event = {"type": "message", "channel": f"D{user}", "channel_type": "im", "user": user, "text": text,
                 "ts": f"1700000001.{next(self._events):06d}", **fields}  # fmt: skip
        return await self.event(event, event_id=event_id or f"EvDM{next(self._events)}")

    async def mention(
        self, user: str, text: str, *, channel: str | None = None, thread_ts: str | None = None
    ) -> ClientResponse:
        """``user`` writes ``<@UBOT> text`` in a channel (``app_mention``), in a thread when ``thread_ts``."""
        event = {"type": "app_mention", "channel": channel or self.channel, "user": user, "text": f"<@UBOT> {text}",
                 "ts": f"1700000002.{next(self._events):06d}"}  # fmt: skip
        if thread_ts:
            event["thread_ts"] = thread_ts
        return await self.event(event, event_id=f"EvAt{next(self._events)}")
