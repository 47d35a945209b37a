"""Authentication edges not covered elsewhere, each answered 401 with nothing written and nothing
sent; and a database password never in the CLI's one-sentence error.

Slack: no timestamp header, a timestamp more than 5 minutes ahead, an interactivity (``payload=``)
request with a bad signature, and a real signature over another body (slash command and
interactivity). Teams with ``MICROSOFT_APP_ID`` set: a token signed with an unknown key, an
expired token, a token for another audience. The Bot Framework's key set is stood in for by a
throwaway RSA key (no network), so each token is refused by the check it targets, not by a failed
key download; a good token with that key is accepted, which proves the stand-in is honoured.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes.connector import FakeConnector
from fakes.slack_api import FakeSlack, SlackClient, sign
from harness import ROOT, no_secret_in_logs  # noqa: F401  (an autouse fixture)
from test_slack_app import count, fake, slack  # noqa: F401  (fixtures)
from test_teams_e2e import Teams, connector, refs, secured  # noqa: F401  (fixtures)

FORM = "application/x-www-form-urlencoded"
TABLES = ("workspace", "member", "team", "objective", "key_result", "check_in", "slack_event")


async def snapshot(db_url: str) -> dict[str, int]:
    return {table: await count(db_url, table) for table in TABLES}


# --- Slack ---------------------------------------------------------------------------------------


def slash_body(client: SlackClient, text: str) -> str:
    return client.form(team_id="T1", user_id="UALICE", channel_id="C1", command="/okr", text=text,
                      response_url=client.fake.response_url(), trigger_id="t")  # fmt: skip


def payload_body(client: SlackClient, value: str) -> str:
    payload = {
        "type": "block_actions", "team": {"id": "T1", "domain": "acme"}, "user": {"id": "UALICE", "team_id": "T1"},
        "api_app_id": "A1", "trigger_id": "trig-btn", "channel": {"id": "C1"},
        "container": {"type": "message", "channel_id": "C1"}, "response_url": client.fake.response_url("btn"),
        "actions": [{"type": "button", "action_id": "okr_checkin", "block_id": "b1", "value": value,
                     "action_ts": "1700000000.1"}],
    }  # fmt: skip
    return client.form(payload=json.dumps(payload))


def forged(case: str, client: SlackClient) -> tuple[str, dict[str, str]]:
    now = int(time.time())
    if case == "no timestamp header":
        body = slash_body(client, 'team add x "X"')
        headers = sign(body)
        del headers["X-Slack-Request-Timestamp"]
    elif case == "timestamp 6 minutes ahead":
        body = slash_body(client, 'team add x "X"')
        headers = sign(body, timestamp=now + 6 * 60)  # a correct signature, from the future
    elif case == "timestamp far ahead":
        body = slash_body(client, 'team add x "X"')
        headers = sign(body, timestamp=now + 10**9)
    elif case == "payload with a bad signature":
        body = payload_body(client, "KR-1")
        headers = sign(body, secret="not-the-secret")
    elif case == "payload signed over another body":
        body = payload_body(client, "KR-1")
        headers = sign(payload_body(client, "KR-2"))
    elif case == "slash signed over another body":
        body = slash_body(client, 'team add x "X"')
        headers = sign(slash_body(client, "help"))
    elif case == "signature without v0= prefix":
        body = slash_body(client, 'team add x "X"')
        headers = sign(body)
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"].removeprefix("v0=")
    else:
        raise AssertionError(case)
    return body, {**headers, "Content-Type": FORM}


@pytest.mark.parametrize(
    "case",
    ["no timestamp header", "timestamp 6 minutes ahead", "timestamp far ahead", "payload with a bad signature",
     "payload signed over another body", "slash signed over another body", "signature without v0= prefix"],
)  # fmt: skip
async def test_slack_forgeries_get_401_and_write_nothing(
    slack: SlackClient,  # noqa: F811
    fake: FakeSlack,  # noqa: F811
    db_url: str,
    case: str,
) -> None:
    reply = await slack.slash("UALICE", 'team add growth "Growth"')  # a real request first: rows to protect
    assert "growth" in json.dumps(reply)
    before, calls = await snapshot(db_url), len(fake.calls)
    body, headers = forged(case, slack)
    response = await slack.http.post("/slack/events", data=body.encode(), headers=headers)
    assert response.status == 401, (case, response.status, await response.text())
    assert await snapshot(db_url) == before
    assert len(fake.calls) == calls, fake.calls[calls:]


# --- Teams with an app id ------------------------------------------------------------------------

APP_ID = "00000000-0000-0000-0000-0000000000aa"
TRUSTED = rsa.generate_private_key(public_exponent=65537, key_size=2048)
UNKNOWN = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def trusted_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Bot Framework's published keys, as the SDK would find them: one key, ``kid`` "k1"."""
    from botframework.connector.auth import jwt_token_extractor as extractor

    async def get(_self: Any, key_id: str) -> Any:
        return extractor._OpenIdConfig(TRUSTED.public_key(), ["msteams"]) if key_id == "k1" else None

    monkeypatch.setattr(extractor._OpenIdMetadata, "get", get)


def token(service_url: str, *, key: Any = TRUSTED, aud: str = APP_ID, expires: float = 3600.0) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"iss": "https://api.botframework.com", "aud": aud, "serviceurl": service_url,
              "nbf": now - dt.timedelta(minutes=10), "exp": now + dt.timedelta(seconds=expires)}  # fmt: skip
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


@pytest.mark.parametrize(
    ("case", "options"),
    [("signed with an unknown key", {"key": UNKNOWN}), ("expired an hour ago", {"expires": -3600.0}),
     ("for another audience", {"aud": "11111111-1111-1111-1111-111111111111"}), ("for no audience", {"aud": ""})],
)  # fmt: skip
async def test_teams_bad_tokens_get_401_and_write_nothing(
    trusted_key: None,
    secured: TestClient,  # noqa: F811
    connector: FakeConnector,  # noqa: F811
    db_url: str,
    case: str,
    options: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    teams = Teams(secured, connector)
    activity = teams.activity("alice", 'team add web "Web"')
    before = await snapshot(db_url)
    status = await teams.post(activity, {"Authorization": f"Bearer {token(connector.service_url, **options)}"})
    assert status == 401, case
    assert connector.calls == [] and await refs(db_url) == [] and await snapshot(db_url) == before
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "ConnectionError" not in logged and "HTTPError" not in logged, logged  # refused by the check, not a download


async def test_a_good_token_with_the_stand_in_key_is_accepted(
    trusted_key: None,
    secured: TestClient,  # noqa: F811
    connector: FakeConnector,  # noqa: F811
    db_url: str,
) -> None:
    teams = Teams(secured, connector)
    status = await teams.post(
        teams.activity("alice", "help"), {"Authorization": f"Bearer {token(connector.service_url)}"}
    )
    # accepted: the token passed every check (the reply, which needs an app token, is not tested here)
    assert status == 201


# --- the database password in the CLI's error ---------------------------------------------------


def test_an_unreachable_postgresql_error_is_one_sentence_without_the_password() -> None:
    password = "s3cr3t-pw"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKRBOT_", "MICROSOFT_"))}
    for url in (f"postgresql://okrbot:{password}@127.0.0.1:5432/nope", f"postgresql://okrbot:{password}@127.0.0.1:1/x"):
        done = subprocess.run(
            [sys.executable, "-m", "adapters.cli", "db", "upgrade"], env={**env, "OKRBOT_DATABASE_URL": url},
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 1, done
        err = done.stderr.strip()
        assert err.startswith("okrbot: cannot open the database") and "\n" not in err, err
        assert password not in err and password not in done.stdout, err
        assert "Traceback" not in err
