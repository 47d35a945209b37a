"""A loopback fake of the Bot Connector REST API (what Teams' ``serviceUrl`` points at).

Activities posted to okrbot carry ``serviceUrl = fake.service_url``; the real botbuilder
ConnectorClient then sends its replies, card updates, 1:1 conversation creations and roster
look-ups here. Every call is recorded (and every card it carries handed to the platform
validators, tests/platform_checks.py); an operation can be told to answer 429 with
``Retry-After`` or 500 a number of times. :func:`press` plays the other end: what a Teams client
sends when a person presses a button on a card okrbot sent.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from platform_checks import cards_of, record_card


@dataclass
class Call:
    op: str  # send | reply | update | create | member | members | pagedmembers
    conversation_id: str = ""
    activity_id: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    authorization: str = ""
    created: str = ""  # the id the fake gave a new message (what Teams would call its activity id)


@dataclass
class Failure:
    status: int
    retry_after: float | None = None
    times: int = 1


@dataclass
class FakeConnector:
    #: The roster: Teams id (29:…) → member JSON (id, name, aadObjectId, userRole, tenantId).
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    server: TestServer | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # --- set-up --------------------------------------------------------------------------------

    def add_member(self, teams_id: str, name: str, aad: str, *, tenant: str = "tenant-1", role: str = "user") -> None:
        self.members[teams_id] = {
            "id": teams_id,
            "name": name,
            "aadObjectId": aad,
            "userRole": role,
            "tenantId": tenant,
            "userPrincipalName": f"{name.split()[0].lower()}@example.com",
        }

    def fail(self, op: str, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        self.failures.setdefault(op, []).append(Failure(status, retry_after, times))

    @property
    def service_url(self) -> str:
        assert self.server is not None, "start() the fake first"
        return str(self.server.make_url("/"))

    async def start(self) -> FakeConnector:
        app = web.Application()
        conv = "/v3/conversations/{conversation_id}"
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post(conv + "/activities", self._send)
        app.router.add_post(conv + "/activities/{activity_id}", self._reply)
        app.router.add_put(conv + "/activities/{activity_id}", self._update)
        app.router.add_get(conv + "/members", self._members)
        app.router.add_get(conv + "/members/{member_id}", self._member)
        app.router.add_get(conv + "/pagedmembers", self._paged)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    # --- what okrbot sent ----------------------------------------------------------------------

    def of(self, *ops: str) -> list[Call]:
        return [call for call in self.calls if call.op in ops]

    def posted(self) -> list[Call]:
        """Sends and replies (new messages), in order."""
        return self.of("send", "reply")

    def clear(self) -> None:
        self.calls.clear()

    # --- handlers ------------------------------------------------------------------------------

    async def _record(self, request: web.Request, op: str) -> tuple[Call, web.Response | None]:
        body: dict[str, Any] = {}
        if request.can_read_body:
            body = json.loads(await request.text() or "{}")
        call = Call(
            op,
            request.match_info.get("conversation_id", ""),
            request.match_info.get("activity_id", request.match_info.get("member_id", "")),
            body,
            request.headers.get("Authorization", ""),
        )
        self.calls.append(call)
        for card in cards_of(body):
            record_card(card)
        pending = self.failures.get(op) or []
        if pending:
            failure = pending[0]
            failure.times -= 1
            if failure.times <= 0:
                pending.pop(0)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            error = {"error": {"code": "Throttled" if failure.status == 429 else "ServiceError", "message": "fake"}}
            return call, web.json_response(error, status=failure.status, headers=headers)
        return call, None

    async def _send(self, request: web.Request) -> web.Response:
        return await self._new_message(request, "send")

    async def _reply(self, request: web.Request) -> web.Response:
        return await self._new_message(request, "reply")

    async def _new_message(self, request: web.Request, op: str) -> web.Response:
        call, failed = await self._record(request, op)
        if failed:
            return failed
        call.created = f"act-{next(self._ids)}"
        return web.json_response({"id": call.created}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request, "update")
        return failed or web.json_response({"id": call.activity_id}, status=200)

    async def _create(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request, "create")
        if failed:
            return failed
        members = call.body.get("members") or []
        # The tenant as Teams reads it: ``tenantId``, or ``channelData.tenant.id`` (what the Python
        # SDK can send: its ConversationParameters serializes tenant_id as ``tenantID``).
        tenant = call.body.get("tenantId") or ((call.body.get("channelData") or {}).get("tenant") or {}).get("id")
        if call.body.get("isGroup") or len(members) != 1 or not tenant:
            return web.json_response({"error": {"code": "BadArgument", "message": "1:1 only"}}, status=400)
        return web.json_response(
            {"id": f"a:dm-{members[0]['id']}", "activityId": f"act-{next(self._ids)}", "serviceUrl": self.service_url},
            status=201,
        )

    def _find(self, member_id: str) -> dict[str, Any] | None:
        if member_id in self.members:
            return self.members[member_id]
        return next((m for m in self.members.values() if m["aadObjectId"] == member_id), None)

    async def _member(self, request: web.Request) -> web.Response:
        call, failed = await self._record(request, "member")
        if failed:
            return failed
        member = self._find(call.activity_id)
        if member is None:
            return web.json_response({"error": {"code": "MemberNotFoundInConversation"}}, status=404)
        return web.json_response(member)

    async def _members(self, request: web.Request) -> web.Response:
        _, failed = await self._record(request, "members")
        return failed or web.json_response(list(self.members.values()))

    async def _paged(self, request: web.Request) -> web.Response:
        _, failed = await self._record(request, "pagedmembers")
        return failed or web.json_response({"members": list(self.members.values())})


def card_text(body: dict[str, Any]) -> str:
    """Every text a sent activity shows (TextBlocks, facts, inputs' values, button titles), one per line."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                out.append(str(node.get("text", "")))
            if str(node.get("type", "")).startswith("Input.") and isinstance(node.get("value"), str):
                out.append(str(node["value"]))
            if node.get("type") == "Fact" or ("title" in node and "value" in node and "type" not in node):
                out.append(f"{node['title']}: {node['value']}")
            if str(node.get("type", "")).startswith("Action."):
                out.append(f"[{node.get('title', '')}]")
            for key, value in node.items():
                if key not in ("msteams",):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    if body.get("text"):
        out.append(str(body["text"]))
    walk(body.get("attachments") or [])
    return "\n".join(out)


# --- the Teams client's side ---------------------------------------------------------------------


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key != "fallback":  # a fallback is the same button again, for older clients
                yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def card_of(body: dict[str, Any]) -> dict[str, Any]:
    """The (first) Adaptive Card an activity or an invoke's answer carries."""
    (card, *_) = cards_of(body)
    return card


def press(
    card: dict[str, Any], title: str, typed: Mapping[str, str] | None = None, *, universal: bool = True
) -> dict[str, Any]:
    """The ``value`` a Teams client sends when a person presses the button ``title`` on ``card``.

    With Universal Actions (``universal``), the Action.Execute's as an ``adaptiveCard/action``
    invoke carries it (``action``: type, verb, data); without, its Action.Submit fallback's as a
    message. Either way the card's inputs are merged into the data, ``typed`` over their initial
    values, unless the action's ``associatedInputs`` is "none"; a required input left empty
    stops the press, as the client's own validation does."""
    found = [n for n in _nodes(card) if str(n.get("type", "")).startswith("Action.") and n.get("title") == title]
    assert len(found) == 1, f"{len(found)} buttons called {title!r} on the card"
    action = found[0] if universal else found[0].get("fallback", found[0])
    assert action["type"] == ("Action.Execute" if universal else "Action.Submit"), action
    data = dict(action.get("data") or {})
    if action.get("associatedInputs") != "none":
        data |= _inputs(card, typed or {})
    if not universal:
        return data
    return {"action": {"type": "Action.Execute", "verb": action.get("verb"), "data": data}, "trigger": "manual"}


def _inputs(card: dict[str, Any], typed: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for node in _nodes(card.get("body") or []):
        if not str(node.get("type", "")).startswith("Input.") or "id" not in node:
            continue
        value = typed.get(node["id"], "" if node.get("value") is None else str(node["value"]))
        if not value and node.get("isRequired"):
            raise ValueError(f"{node.get('label') or node['id']} is required: the client would not send this")
        if value:
            values[node["id"]] = value
    return values
