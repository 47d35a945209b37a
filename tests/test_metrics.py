"""/healthz and /metrics of the composed server (in process, on a migrated SQLite file)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_deploy_serve import PLATFORM_VARIABLES

from adapters.server import BOT_KEY, DB_KEY, build_app
from adapters.settings import Settings
from bot.core import Answered
from store.migrate import upgrade_async
from store.models import Delivery, Workspace, utcnow


@pytest.fixture
async def client(tmp_path, monkeypatch):
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    url = f"sqlite:///{tmp_path / 'okrbot.db'}"
    await upgrade_async(url)
    app = build_app(Settings(OKRBOT_DATABASE_URL=url))
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample's value from the Prometheus text format (labels in any order)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
        if line.split("{")[0].split(" ")[0] == name and all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def say(client: TestClient, text: str, user: str = "alice") -> dict:
    response = await client.post(
        "/api/webchat/command", json={"workspace": "acme", "user": user, "pane": "channel", "text": text}
    )
    assert response.status == 200
    return (await response.json())["message"]


async def test_healthz_checks_the_database(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok"}


async def test_healthz_says_503_when_the_database_is_gone(tmp_path, monkeypatch):
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    app = build_app(Settings(OKRBOT_DATABASE_URL="postgresql://okrbot@127.0.0.1:9/nothing"))  # nobody listens
    app.on_startup.clear()  # the scheduler would need the database too; only /healthz is asked here
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        response = await test_client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"] == "unreachable"


async def test_metrics_count_requests_commands_outcomes_and_the_outbox(client):
    await say(client, "team add web Web")
    await say(client, "list all")
    await say(client, "list all")
    refused = await say(client, "kr add O-99 nothing")
    assert refused["error"]
    await say(client, "frobnicate such things")
    await client.get("/healthz")
    await client.get("/no/such/page")
    async with client.app[DB_KEY].write() as session:  # a Slack message nobody can send here
        workspace = Workspace(platform="slack", external_id="T1", name="Elsewhere")
        session.add(workspace)
        await session.flush()
        session.add(Delivery(workspace_id=workspace.id, kind="digest", recipient="C1", period_key="2026-W48",
                             next_attempt_at=utcnow() - dt.timedelta(minutes=5)))  # fmt: skip

    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = await response.text()

    assert sample(text, "okrbot_commands_total", surface="webchat", command="list", outcome="ok") == 2
    assert sample(text, "okrbot_commands_total", surface="webchat", command="team", outcome="ok") == 1
    assert sample(text, "okrbot_commands_total", surface="webchat", command="kr", outcome="refused") == 1
    assert sample(text, "okrbot_commands_total", surface="webchat", command="other", outcome="refused") == 1
    assert sample(text, "okrbot_command_duration_seconds_count", surface="webchat", command="list") == 2
    assert sample(text, "okrbot_command_duration_seconds_bucket", surface="webchat", command="list", le="+Inf") == 2
    route = "/api/webchat/command"
    assert sample(text, "okrbot_http_requests_total", surface="webchat", route=route, method="POST", status="200") == 5
    assert sample(text, "okrbot_http_requests_total", surface="health", route="/healthz", status="200") == 1
    assert sample(text, "okrbot_http_requests_total", surface="other", route="unmatched", status="404") == 1
    assert sample(text, "okrbot_http_request_duration_seconds_count", surface="webchat", route=route) == 5
    assert sample(text, "okrbot_deliveries", status="pending") == 1
    assert sample(text, "okrbot_deliveries", status="failed") == 0
    lag = sample(text, "okrbot_scheduler_lag_seconds")
    assert lag is not None and 290 < lag < 600
    assert sample(text, "okrbot_event_loop_lag_seconds") is not None
    assert "frobnicate" not in text  # labels are command words okrbot knows, never what was typed


async def test_forms_are_counted_by_their_word_and_a_form_with_errors_is_refused(client):
    await say(client, "team add web Web")
    await say(client, 'objective add "Ship" --team web')
    await say(client, 'kr add O-1 "Users" --target 10')
    form = {"workspace": "acme", "user": "alice", "pane": "channel", "action": "checkin"}
    wrong = await client.post("/api/webchat/form", json={**form, "values": {"KR-1.value": "lots"}})
    assert (await wrong.json())["errors"]
    right = await client.post("/api/webchat/form", json={**form, "values": {"KR-1.value": "4"}})
    assert not (await right.json())["errors"]
    await client.post("/api/webchat/form", json={**form, "action": "nothing", "values": {}})

    text = await (await client.get("/metrics")).text()
    assert sample(text, "okrbot_commands_total", surface="webchat", command="form:checkin", outcome="refused") == 1
    assert sample(text, "okrbot_commands_total", surface="webchat", command="form:checkin", outcome="ok") == 1
    assert sample(text, "okrbot_commands_total", surface="webchat", command="form:other", outcome="refused") == 1


async def test_an_observer_that_fails_costs_nobody_their_answer(client, caplog):
    seen: list[Answered] = []

    def broken(_answered: Answered) -> None:
        raise RuntimeError("the observer broke")

    client.app[BOT_KEY].observe(broken)
    client.app[BOT_KEY].observe(seen.append)
    reply = await say(client, "")
    assert not reply["error"]
    assert "an observer of the core's answers failed" in caplog.text and "the observer broke" in caplog.text
    assert [(a.source, a.command, a.outcome) for a in seen] == [("webchat", "help", "ok")]
    text = await (await client.get("/metrics")).text()
    assert sample(text, "okrbot_commands_total", surface="webchat", command="help", outcome="ok") == 1
