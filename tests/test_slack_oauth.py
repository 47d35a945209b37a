"""Multi-workspace Slack: two workspaces install okrbot through OAuth, each sees only its own
OKRs, and an uninstall removes one of them while the other keeps working. The real server app,
the real Bolt OAuth flow, the fake Web API answering oauth.v2.access and auth.test."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fakes.slack_api import SECRET, FakeSlack, SlackClient
from sqlalchemy import text

from adapters.server import SCHEDULER_KEY, SURFACES_KEY, build_app
from adapters.settings import Settings, SlackSettings
from adapters.slack.installations import InstallationStore, OAuthStateStore
from adapters.slack.mount import ADAPTER_KEY, OUTBOUND_KEY, SCOPES
from bot.command import WorkspaceRef
from store.db import Database
from store.secrets import SecretBox, new_key

OAUTH = {
    "SLACK_CLIENT_ID": "111.222",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SLACK_STATE_SECRET": "state-secret",
    "SLACK_SIGNING_SECRET": SECRET,
}
KEY = new_key()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    fake.add_user("UALICE", "Alice", team="T1", admin=True)
    fake.add_user("UZOE", "Zoe", team="T2", admin=True)
    fake.workspace("T1", code="code-one", token="xoxb-one")
    fake.workspace("T2", code="code-two", token="xoxb-two")
    yield fake
    await fake.close()


@pytest.fixture
async def slack(db_url: str, fake: FakeSlack) -> AsyncIterator[SlackClient]:
    settings = Settings(
        database_url=db_url, OKRBOT_SECRET_KEY=KEY, slack=SlackSettings(**OAUTH, OKRBOT_SLACK_API_URL=fake.api_url)
    )
    http = TestClient(TestServer(build_app(settings), host="127.0.0.1"))
    await http.start_server()
    yield SlackClient(http, fake)
    await http.close()


async def rows(db_url: str, query: str) -> list[tuple]:
    db = Database(db_url)
    try:
        async with db.read() as session:
            return [tuple(r) for r in (await session.exec(text(query))).all()]  # type: ignore[call-overload]
    finally:
        await db.dispose()


async def begin_install(slack: SlackClient) -> tuple[str, str]:
    """GET /slack/install: the link to Slack's authorize page, and the state it carries."""
    page = await slack.http.get("/slack/install", allow_redirects=False)
    assert page.status == 200
    html = await page.text()
    url = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', html)
    assert url, html
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url.group(1).replace("&amp;", "&")).query)
    assert query["client_id"] == ["111.222"] and query["scope"] == [",".join(SCOPES)]
    cookie = page.headers.get("Set-Cookie", "")
    assert f"slack-app-oauth-state={query['state'][0]}" in cookie and "HttpOnly" in cookie
    return query["state"][0], cookie.split(";")[0]


async def finish_install(slack: SlackClient, code: str, state: str, cookie: str) -> int:
    redirect = await slack.http.get(
        "/slack/oauth_redirect", params={"code": code, "state": state}, headers={"Cookie": cookie}
    )
    return redirect.status


async def install(slack: SlackClient, code: str) -> None:
    state, cookie = await begin_install(slack)
    assert await finish_install(slack, code, state, cookie) == 200


async def test_two_workspaces_install_see_only_their_own_okrs_and_one_uninstalls(
    slack: SlackClient, fake: FakeSlack, db_url: str
):
    await install(slack, "code-one")
    await install(slack, "code-two")
    assert [c.args["code"] for c in fake.of("oauth.v2.access")] == ["code-one", "code-two"]
    installed = await rows(
        db_url, "SELECT team_id, bot_token, bot_id, user_id FROM slack_installation ORDER BY team_id"
    )
    assert [(team, SecretBox(KEY).open(token), bot, user) for team, token, bot, user in installed] == [
        ("T1", "xoxb-one", "BT1", "UINSTALLER"), ("T2", "xoxb-two", "BT2", "UINSTALLER")
    ]  # fmt: skip
    assert all(token.startswith("fernet:") for _, token, _, _ in installed)
    if db_url.startswith("sqlite"):  # the file and its write-ahead log hold no token in plain text
        for file in Path(db_url.removeprefix("sqlite:///")).parent.glob("okrbot.db*"):
            assert b"xoxb-one" not in file.read_bytes() and b"xoxb-two" not in file.read_bytes(), file.name

    one, two = replace(slack, team="T1"), replace(slack, team="T2")
    for line in ('team add growth "Growth"', 'objective add "Secret plan of T1" --team growth'):
        assert (await one.slash("UALICE", line))["response_type"] == "ephemeral"
    assert (await two.slash("UZOE", 'team add ops "Ops"'))["response_type"] == "ephemeral"
    seen_by_two = json.dumps(await two.slash("UZOE", "list all")) + json.dumps(await two.slash("UZOE", "team list"))
    assert "Secret plan" not in seen_by_two and "growth" not in seen_by_two and "ops" in seen_by_two
    assert "Secret plan of T1" in json.dumps(await one.slash("UALICE", "list all"))
    # each workspace's calls carried its own bot token
    tokens = {c.args["user"]: c.token for c in fake.of("users.info")}
    assert tokens == {"UALICE": "xoxb-one", "UZOE": "xoxb-two"}
    # the Outbound (scheduled prompts, digests) finds each workspace's token in the store
    outbound = slack.http.app[OUTBOUND_KEY]
    assert await outbound.token_for(WorkspaceRef("slack", "T2")) == "xoxb-two"
    assert slack.http.app[SCHEDULER_KEY].dispatcher.outbounds["slack"] is outbound  # and the scheduler sends with it

    # Slack tells okrbot it was uninstalled from T1
    response = await one.event({"type": "app_uninstalled"}, event_id="EvUninstall")
    assert response.status == 200
    for _ in range(100):  # bounded: Bolt runs the listener after the ack
        if await rows(db_url, "SELECT team_id FROM slack_installation") == [("T2",)]:
            break
        await asyncio.sleep(0.05)
    assert await rows(db_url, "SELECT team_id FROM slack_installation") == [("T2",)]
    assert await outbound.token_for(WorkspaceRef("slack", "T1")) is None

    teams_before = await rows(db_url, "SELECT count(*) FROM team")
    assert await one.slash("UALICE", 'team add late "Too late"') == ""  # not run: no installation
    refused = (await fake.wait_for("response_url"))[-1].args
    assert "reinstall" in refused["text"]
    assert await rows(db_url, "SELECT count(*) FROM team") == teams_before
    # the other workspace is untouched
    assert "ops" in json.dumps(await two.slash("UZOE", "team list"))


async def test_the_oauth_app_answers_as_soon_as_the_listener_returns(slack: SlackClient):
    """As the single-workspace app: no 10 ms polling for the ack (tests/test_slack_app.py)."""
    assert slack.http.app[ADAPTER_KEY].app.process_before_response is True


async def test_tokens_revoked_for_the_bot_removes_the_installation(slack: SlackClient, fake: FakeSlack, db_url: str):
    await install(slack, "code-one")
    await install(slack, "code-two")
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["UINSTALLER"], "bot": ["UBOTT2"]}}
    assert (await replace(slack, team="T2").event(event, event_id="EvRevoked")).status == 200
    for _ in range(100):
        if await rows(db_url, "SELECT team_id FROM slack_installation") == [("T1",)]:
            break
        await asyncio.sleep(0.05)
    assert await rows(db_url, "SELECT team_id FROM slack_installation") == [("T1",)]


async def test_a_state_works_once_and_only_from_the_browser_it_was_given_to(slack: SlackClient, fake: FakeSlack):
    state, cookie = await begin_install(slack)
    assert await finish_install(slack, "code-one", state, "slack-app-oauth-state=other") == 400
    assert await finish_install(slack, "code-one", state + "x", cookie + "x") == 401  # not signed by okrbot
    assert await finish_install(slack, "code-one", state, cookie) == 200
    assert await finish_install(slack, "code-one", state, cookie) == 401  # used already
    assert len(fake.of("oauth.v2.access")) == 1


async def test_an_unknown_code_installs_nothing(slack: SlackClient, db_url: str):
    state, cookie = await begin_install(slack)
    assert await finish_install(slack, "not-a-code", state, cookie) == 401
    assert await rows(db_url, "SELECT count(*) FROM slack_installation") == [(0,)]


async def test_states_expire_and_are_shared_by_instances(db: Database):
    first, second = OAuthStateStore(db, "s"), OAuthStateStore(db, "s")
    state = await first.async_issue()
    assert await second.async_consume(state) and not await first.async_consume(state)
    stale = OAuthStateStore(db, "s", ttl=dt.timedelta(seconds=-1))
    assert not await stale.async_consume(await stale.async_issue())
    assert not await OAuthStateStore(db, "other secret").async_consume(await first.async_issue())


async def test_installation_store_round_trip_and_deletes(db: Database):
    from slack_sdk.oauth.installation_store import Installation

    store = InstallationStore(db, SecretBox(KEY))
    expires = int(time.time()) + 3600
    for team, token in (("T1", "xoxb-1"), ("T1", "xoxb-1b"), ("T2", "xoxb-2")):  # a reinstall replaces
        await store.async_save(
            Installation(team_id=team, user_id="UI", bot_token=token, bot_id="B", bot_user_id="UB",
                         bot_scopes=["commands", "chat:write"], user_token="xoxp-u", bot_token_expires_at=expires)
        )  # fmt: skip
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-1b" and bot.bot_scopes == ["commands", "chat:write"]
    assert bot.bot_token_expires_at == expires
    found = await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="UI")
    assert found is not None and found.user_token == "xoxp-u"
    assert await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="USOMEONE") is None
    await store.async_delete_installation(enterprise_id=None, team_id="T1", user_id="UI")  # the user token only
    found = await store.async_find_installation(enterprise_id=None, team_id="T1")
    assert found is not None and found.user_token is None and found.bot_token == "xoxb-1b"
    await store.async_delete_bot(enterprise_id=None, team_id="T1")
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert (await store.async_find_bot(enterprise_id=None, team_id="T2")).bot_token == "xoxb-2"  # type: ignore[union-attr]
    await store.async_delete_all(enterprise_id=None, team_id="T2")
    assert await store.token_for(WorkspaceRef("slack", "T2")) is None


async def test_oauth_needs_all_its_variables(db_url: str, fake: FakeSlack):
    settings = Settings(
        database_url=db_url,
        slack=SlackSettings(SLACK_CLIENT_ID="1.2", SLACK_SIGNING_SECRET=SECRET, OKRBOT_SLACK_API_URL=fake.api_url),
    )
    app = build_app(settings)
    assert "slack: off (SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET and SLACK_STATE_SECRET not)" in app[SURFACES_KEY]
    assert not any(r.resource.canonical == "/slack/install" for r in app.router.routes() if r.resource)
