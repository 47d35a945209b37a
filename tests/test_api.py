"""The HTTP API over real HTTP, on SQLite and PostgreSQL: tokens (only a hash at rest, revoked at
once, one workspace each), every route, Idempotency-Key, problem+json errors that write nothing,
the rate limit, and the OpenAPI document checked by openapi-spec-validator."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import Clock, command, okrbot_cli, snapshot
from openapi_spec_validator import validate
from sqlalchemy import update
from test_deploy_serve import PLATFORM_VARIABLES

from adapters.api.mount import API_KEY
from adapters.server import BOT_KEY, DB_KEY, build_app
from adapters.settings import Settings
from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from store.models import Member

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
TOKEN = re.compile(r"okr_[A-Za-z0-9_-]{43}")
PROBLEM = "application/problem+json"


class Api:
    """An ``okrbot serve`` app on a test server, its core, and the chat beside it."""

    def __init__(self, http: TestClient, clock: Clock) -> None:
        self.http, self.clock = http, clock
        self.bot: Bot = http.server.app[BOT_KEY]  # type: ignore[union-attr]
        self.db = http.server.app[DB_KEY]  # type: ignore[union-attr]

    async def say(self, user: str, text: str, *, workspace: str = "acme", **options: object) -> str:
        reply = await self.bot.handle(command(user, text, workspace=workspace))
        if options.get("refused"):
            assert reply.is_error, reply.text
        else:
            assert not reply.is_error, f"{text!r}: {reply.text}"
        return reply.text

    async def token(self, name: str = "ci", *, workspace: str = "acme", user: str = "alice") -> str:
        found = TOKEN.search(await self.say(user, f"token add {name}", workspace=workspace))
        assert found is not None
        return found.group(0)

    async def get(self, path: str, token: str | None, **params: str):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.get("/api/v1" + path, headers=headers, params=params)

    async def post(self, path: str, token: str, body: object = None, *, raw: bytes | None = None, key: str = ""):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        if raw is None:
            return await self.http.post("/api/v1" + path, headers=headers, json=body)
        return await self.http.post("/api/v1" + path, headers=headers, data=raw)


@pytest.fixture
async def api(db_url, clock, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    app = build_app(Settings(OKRBOT_DATABASE_URL=db_url, OKRBOT_API_RATE=1000))
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        app[BOT_KEY].clock = clock
        yield Api(http, clock)


@pytest.fixture
async def okrs(api: Api) -> Api:
    """acme: alice (admin) leads growth; O-1 with KR-1 (0 → 100 teams, alice) and KR-2 (0 → 10, bob)."""
    for text in (
        'team add growth "Growth"',
        'capability add acquire "Acquire customers"',
        'objective add "Grow revenue" --team growth --capability acquire',
        'kr add O-1 "Active teams" --target 100 --unit teams',
        'kr add O-1 "Partners signed" --target 10 --owner <@bob>',
    ):
        await api.say("alice", text)
    return api


async def problem_of(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body = await response.json()
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    assert "\n" not in body["detail"], "a detail is one sentence"
    return body["detail"]


# --- tokens ----------------------------------------------------------------------------------


async def test_a_token_is_shown_once_and_only_its_hash_is_kept(okrs: Api, db_url: str) -> None:
    token = await okrs.token("ci-deploys")
    rows = await snapshot(okrs.db)
    stored = repr(rows)
    assert token not in stored and token[4:] not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    if db_url.startswith("sqlite"):
        folder = Path(db_url.removeprefix("sqlite:///")).parent
        for file in folder.glob("okrbot.db*"):  # the database and its write-ahead log
            assert token.encode() not in file.read_bytes(), file.name
    listed = await okrs.say("alice", "token list")
    assert "ci-deploys" in listed and "@Alice" in listed and "never used" in listed and token not in listed
    assert (await okrs.get("/key-results", token)).status == 200
    assert "last used" in await okrs.say("alice", "token list")


async def test_a_revoked_token_is_refused_at_once(okrs: Api) -> None:
    token = await okrs.token()
    assert (await okrs.get("/key-results", token)).status == 200
    await okrs.say("alice", "token revoke ci")
    response = await okrs.get("/key-results", token)
    assert "revoked" in await problem_of(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="okrbot", error="invalid_token"'
    assert "No API tokens" in await okrs.say("alice", "token list")


async def test_only_admins_make_tokens_and_never_where_others_would_see_one(okrs: Api) -> None:
    before = await snapshot(okrs.db)
    assert "Only a workspace admin" in await okrs.say("bob", "token add mine", refused=True)
    assert "exists already" not in await okrs.say("alice", "token add Bad/Name", refused=True)
    in_a_channel = Command(WorkspaceRef("local", "acme", "acme"), Actor("alice", "Alice"), "token add ci",
                           channel="team-channel", source="test", seen_by_others=True)  # fmt: skip
    reply = await okrs.bot.handle(in_a_channel)
    assert reply.is_error and "only to you" in reply.text and not TOKEN.search(reply.text)
    assert (await snapshot(okrs.db))["api_token"] == before["api_token"] == []
    await okrs.token("ci")
    assert "exists already" in await okrs.say("alice", "token add ci", refused=True)


async def test_a_token_reads_only_its_own_workspace(okrs: Api) -> None:
    await okrs.say("carol", 'team add ops "Ops"', workspace="globex")
    await okrs.say("carol", 'objective add "Keep it up" --team ops', workspace="globex")
    await okrs.say("carol", 'kr add O-1 "Uptime" --target 99.9', workspace="globex")
    theirs = await okrs.token("theirs", workspace="globex", user="carol")
    listed = await (await okrs.get("/key-results", theirs)).json()
    assert [k["title"] for k in listed["key_results"]] == ["Uptime"]
    assert (await (await okrs.get("/key-results/KR-1", theirs)).json())["title"] == "Uptime"
    before = await snapshot(okrs.db)
    detail = await problem_of(await okrs.get("/key-results/KR-2", theirs), 404)  # acme's KR-2 is not theirs
    assert detail == "There is no key result KR-2 in this workspace; `list all` shows them."
    await problem_of(await okrs.post("/key-results/KR-2/check-ins", theirs, {"value": 5}), 404)
    assert await snapshot(okrs.db) == before


def okrbot_token(db_url: str, *words: str, user: str = "alice") -> subprocess.CompletedProcess[str]:
    return okrbot_cli(db_url, "token", *words, "--user", user, "--workspace", "acme", timeout=120)


async def test_the_cli_makes_lists_and_revokes_tokens(okrs: Api, db_url: str) -> None:
    made = await asyncio.to_thread(okrbot_token, db_url, "add", "nightly")
    assert made.returncode == 0, made.stderr
    found = TOKEN.search(made.stdout)
    assert found is not None, made.stdout
    assert (await okrs.get("/key-results", found.group(0))).status == 200
    listed = await asyncio.to_thread(okrbot_token, db_url, "list")
    assert "nightly" in listed.stdout and found.group(0) not in listed.stdout
    nameless = await asyncio.to_thread(okrbot_token, db_url, "revoke")
    assert nameless.returncode == 2 and "needs a name" in nameless.stderr
    revoked = await asyncio.to_thread(okrbot_token, db_url, "revoke", "nightly")
    assert revoked.returncode == 0, revoked.stderr
    await problem_of(await okrs.get("/key-results", found.group(0)), 401)
    as_bob = await asyncio.to_thread(okrbot_token, db_url, "add", "x", user="bob")
    assert as_bob.returncode == 1 and "Only a workspace admin" in as_bob.stderr


# --- the routes ------------------------------------------------------------------------------


async def test_key_results_are_listed_filtered_and_shown_with_their_history(okrs: Api) -> None:
    token = await okrs.token()
    await okrs.say("alice", "checkin KR-1 40 7 a good week")
    everything = (await (await okrs.get("/key-results", token)).json())["key_results"]
    assert [k["ref"] for k in everything] == ["KR-1", "KR-2"]
    first = everything[0]
    assert first | {"updated_at": None} == {
        "ref": "KR-1", "title": "Active teams", "objective": "O-1", "team": "growth", "cycle": "2026-Q4",
        "owner": {"id": "alice", "name": "Alice"}, "start": 0.0, "target": 100.0, "current": 40.0, "unit": "teams",
        "confidence": 7, "progress": 0.4, "pace": "on", "score": None, "archived": False, "updated_at": None,
    }  # fmt: skip
    for params, refs in (
        ({"owner": "bob"}, ["KR-2"]),
        ({"owner": "Alice"}, ["KR-1"]),
        ({"team": "growth", "capability": "acquire"}, ["KR-1", "KR-2"]),
        ({"cycle": "2026-Q4"}, ["KR-1", "KR-2"]),
    ):
        found = await (await okrs.get("/key-results", token, **params)).json()
        assert [k["ref"] for k in found["key_results"]] == refs, params
    detail = await problem_of(await okrs.get("/key-results", token, team="nope"), 404)
    assert detail == 'There is no team "nope" in this workspace; `team list` shows the teams.'
    assert "not a filter" in await problem_of(await okrs.get("/key-results", token, colour="red"), 400)
    one = await (await okrs.get("/key-results/kr-1", token)).json()
    assert [(c["value"], c["confidence"], c["note"], c["source"]) for c in one["check_ins"]] == [
        (40.0, 7, "a good week", "test")
    ]


async def test_objectives_and_a_digest_as_facts(okrs: Api) -> None:
    token = await okrs.token()
    await okrs.say("alice", "checkin KR-1 50 2 slow")
    objectives = (await (await okrs.get("/objectives", token)).json())["objectives"]
    assert [(o["ref"], o["team"], o["capability"], o["kind"], o["progress"], o["key_results"]) for o in objectives] == [
        ("O-1", "growth", "acquire", "committed", 0.25, ["KR-1", "KR-2"])
    ]
    one = await (await okrs.get("/objectives/O-1", token)).json()
    assert [k["ref"] for k in one["key_result_details"]] == ["KR-1", "KR-2"]
    assert await problem_of(await okrs.get("/objectives/O-9", token), 404)
    assert "refs look like O-7" in await problem_of(await okrs.get("/objectives/KR-1", token), 404)
    digest = await (await okrs.get("/digest", token, team="growth")).json()
    assert (digest["team"], digest["cycle"], digest["week"], digest["weeks"]) == ("growth", "2026-Q4", 8, 13)
    assert [p["name"] for p in digest["checked_in"]] == ["Alice"]
    assert [p["name"] for p in digest["missing"]] == ["bob"]
    assert digest["at_risk"] == ["KR-1", "KR-2"]  # confidence 2 first, then bob's, behind pace
    krs = digest["objectives"][0]["key_results"]
    assert [(k["ref"], k["progress"], k["confidence"], k["checked_in"], k["note"]) for k in krs] == [
        ("KR-1", 0.5, 2, True, "slow"), ("KR-2", 0.0, 5, False, None)
    ]  # fmt: skip
    assert digest["unsupported"] == []
    assert "required" in await problem_of(await okrs.get("/digest", token), 400)


async def test_a_posted_check_in_is_recorded_under_the_token_and_shown_in_the_chat(okrs: Api) -> None:
    token = await okrs.token("deploys")
    await okrs.say("alice", "checkin KR-1 10 8")
    response = await okrs.post("/key-results/KR-1/check-ins", token, {"value": 45, "note": "from CI"})
    assert response.status == 201, await response.text()
    assert response.headers["Location"] == "/api/v1/key-results/KR-1"
    body = await response.json()
    assert (body["key_result"], body["value"], body["confidence"], body["source"]) == ("KR-1", 45.0, 8, "api:deploys")
    shown = await okrs.say("alice", "show KR-1")
    assert "45 · confidence 8 · @Alice via API token deploys — from CI" in shown
    again = await okrs.post("/key-results/KR-1/check-ins", token, {"value": 50, "confidence": 9})
    assert (await again.json())["confidence"] == 9
    audited = [(row[3], row[4], row[5]) for row in sorted((await snapshot(okrs.db))["audit_entry"])]
    posted = ("checkin", "KR-1", "api:deploys")
    assert audited == [("token add", "deploys", "test"), posted, posted]  # every write through the API


# --- Idempotency-Key -------------------------------------------------------------------------


async def check_ins(api: Api) -> list[tuple]:
    return (await snapshot(api.db))["check_in"]


async def test_a_retry_with_the_same_key_records_once(okrs: Api) -> None:
    token = await okrs.token()
    first = await okrs.post("/key-results/KR-1/check-ins", token, {"value": 30}, key="run-41")
    retry = await okrs.post("/key-results/KR-1/check-ins", token, {"value": 30}, key="run-41")
    assert (first.status, retry.status) == (201, 201)
    assert await first.json() == await retry.json()
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(await check_ins(okrs)) == 1
    assert [row[3] for row in (await snapshot(okrs.db))["audit_entry"]].count("checkin") == 1  # a replay is no write
    before = await snapshot(okrs.db)
    other = await okrs.post("/key-results/KR-1/check-ins", token, {"value": 31}, key="run-41")
    assert "different request" in await problem_of(other, 422)
    assert await snapshot(okrs.db) == before
    okrs.clock.advance(hours=25)  # the answer is kept 24 hours: then the key is new again
    late = await okrs.post("/key-results/KR-1/check-ins", token, {"value": 31}, key="run-41")
    assert late.status == 201 and "Idempotent-Replayed" not in late.headers
    assert len(await check_ins(okrs)) == 2


async def test_retries_at_the_same_moment_record_once(okrs: Api) -> None:
    token = await okrs.token()
    responses = await asyncio.gather(
        *(okrs.post("/key-results/KR-1/check-ins", token, {"value": 60}, key="same") for _ in range(6))
    )
    assert [r.status for r in responses] == [201] * 6
    assert len({await r.text() for r in responses}) == 1
    assert len(await check_ins(okrs)) == 1


# --- errors ----------------------------------------------------------------------------------


async def test_no_token_or_a_wrong_one_is_401_with_the_bearer_challenge(okrs: Api) -> None:
    response = await okrs.get("/key-results", None)
    assert "token add" in await problem_of(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="okrbot"'
    for header in ("Bearer okr_" + "x" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz"):
        response = await okrs.http.get("/api/v1/key-results", headers={"Authorization": header})
        await problem_of(response, 401)
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("body", "status", "typed"),
    [
        ({"value": 5, "confidence": 11}, 422, "checkin KR-1 5 11"),
        ({"value": 5, "confidence": -1}, 422, "checkin KR-1 5 -1"),
        ({"value": "lots"}, 422, "checkin KR-1 lots"),
        ({"value": 5, "note": "x" * 2001}, 422, "checkin KR-1 5 7 " + "x" * 2001),
    ],
)
async def test_wrong_values_get_the_chats_sentence_and_write_nothing(okrs: Api, body, status, typed) -> None:  # type: ignore[no-untyped-def]
    token = await okrs.token()
    before = await snapshot(okrs.db)
    detail = await problem_of(await okrs.post("/key-results/KR-1/check-ins", token, body), status)
    chat = await okrs.say("alice", typed, refused=True)
    assert chat.startswith(detail), (detail, chat)
    assert await snapshot(okrs.db) == before


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"not json", 400, "must be a JSON object"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b"", 400, "must be a JSON object"),
        (b'{"confidence": 7}', 422, "The value is missing"),
        (b'{"value": 5, "colour": "red"}', 422, '"colour" is not a field'),
        (b'{"value": NaN}', 422, "value"),
    ],
)
async def test_bodies_that_are_not_a_check_in_write_nothing(okrs: Api, raw: bytes, status: int, words: str) -> None:
    token = await okrs.token()
    before = await snapshot(okrs.db)
    assert words in await problem_of(await okrs.post("/key-results/KR-1/check-ins", token, raw=raw), status)
    assert await snapshot(okrs.db) == before


async def test_refusals_of_the_core_are_its_sentences_with_a_status(okrs: Api) -> None:
    token = await okrs.token()
    await okrs.say("alice", "cycle close 2026-Q4")
    before = await snapshot(okrs.db)
    detail = await problem_of(await okrs.post("/key-results/KR-1/check-ins", token, {"value": 5}), 422)
    assert detail == "Cycle 2026-Q4 is closed, so KR-1 takes no more check-ins."
    assert "refs look like KR-7" in await problem_of(await okrs.post("/key-results/7/check-ins", token, {}), 404)
    bad_key = await okrs.post("/key-results/KR-1/check-ins", token, {"value": 5}, key="has space")
    assert "Idempotency-Key" in await problem_of(bad_key, 400)
    assert "the routes are" in await problem_of(await okrs.get("/nothing/here", token), 404)
    assert "the routes are" in await problem_of(await okrs.http.delete("/api/v1/key-results"), 404)
    assert await snapshot(okrs.db) == before


async def test_a_token_acts_with_its_makers_rights_as_they_are_now(okrs: Api) -> None:
    await okrs.say("bob", 'team add partners "Partners"')  # bob leads it
    await okrs.say("bob", 'objective add "Open the partner channel" --team partners')
    await okrs.say("bob", 'kr add O-2 "Partner deals" --target 5')
    token = await okrs.token("alices")
    assert (await okrs.post("/key-results/KR-3/check-ins", token, {"value": 1})).status == 201  # an admin: bob's KR
    async with okrs.db.write() as session:  # alice stops being an admin (an operator's change, for the test)
        await session.exec(update(Member).where(Member.external_id == "alice").values(is_admin=False))  # type: ignore[call-overload]
    before = await snapshot(okrs.db)
    detail = await problem_of(await okrs.post("/key-results/KR-3/check-ins", token, {"value": 2}), 403)
    assert detail.startswith("Only the owner of KR-3")
    assert await snapshot(okrs.db) == before
    assert (await okrs.post("/key-results/KR-1/check-ins", token, {"value": 3})).status == 201  # her own KR


async def test_more_than_the_rate_is_429_with_retry_after(okrs: Api) -> None:
    token = await okrs.token()
    now = [1000.0]
    limit = okrs.http.server.app[API_KEY].limit  # type: ignore[union-attr]
    limit.rate, limit.burst, limit.clock = 2.0, 4.0, lambda: now[0]
    statuses = [(await okrs.get("/key-results", token)).status for _ in range(4)]
    assert statuses == [200] * 4
    before = await snapshot(okrs.db)
    response = await okrs.post("/key-results/KR-1/check-ins", token, {"value": 5})
    assert "at most 2 a second" in await problem_of(response, 429)
    assert response.headers["Retry-After"] == "1"
    assert await snapshot(okrs.db) == before
    now[0] += 0.5  # one request's worth refilled
    assert (await okrs.get("/key-results", token)).status == 200
    assert (await okrs.get("/key-results", token)).status == 429


async def test_the_openapi_document_is_valid_and_names_every_route(okrs: Api) -> None:
    response = await okrs.http.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/api/v1/key-results", "/api/v1/key-results/{ref}", "/api/v1/key-results/{ref}/check-ins",
        "/api/v1/objectives", "/api/v1/objectives/{ref}", "/api/v1/digest",
    }  # fmt: skip
    body = document["components"]["schemas"]["CheckInBody"]
    assert body["properties"]["confidence"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 10}
    assert body["required"] == ["value"] and body["additionalProperties"] is False
    post = document["paths"]["/api/v1/key-results/{ref}/check-ins"]["post"]
    assert "201" in post["responses"] and "429" in post["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    filters = {p["name"] for p in document["paths"]["/api/v1/key-results"]["get"]["parameters"]}
    assert filters == {"team", "owner", "cycle", "capability"}


async def test_the_readmes_ci_script_records_once_however_often_the_job_runs(okrs: Api) -> None:
    section = README.split("## The HTTP API", 1)[1]
    script = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(script.strip().splitlines()) <= 12, "the README promises a short script"
    token = await okrs.token("ci-deploys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRBOT_")}
    env |= {"OKRBOT_URL": str(okrs.http.make_url("")).rstrip("/"), "OKRBOT_TOKEN": token}
    env |= {"DEPLOYS_THIS_WEEK": "12", "GITHUB_RUN_ID": "9001"}
    script = script.replace("KR-7", "KR-1")
    for _ in range(2):  # a retried job
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and done.stdout.startswith("201 "), done.stderr
    assert len(await check_ins(okrs)) == 1
    assert "12 · confidence 5 · @Alice via API token ci-deploys — from the deploy pipeline" in await okrs.say(
        "alice", "show KR-1"
    )
