"""Secrets at rest (store/secrets.py): Slack installations' tokens sealed with OKRBOT_SECRET_KEY in
the database, MultiFernet rotation with ``okrbot secrets rotate``, the migration that seals the
tokens stored before, and ``okrbot serve`` refusing to start, in one sentence, without the key or
with a wrong one. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import okrbot_cli
from sqlalchemy import text

from store.db import Database
from store.installations import find_installation, installation_key, save_installation, seal_installations
from store.migrate import upgrade
from store.secrets import SecretBox, SecretKeyError, new_key

ROOT = Path(__file__).resolve().parents[1]
OAUTH = {
    "SLACK_CLIENT_ID": "111.222",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SLACK_STATE_SECRET": "state-secret",
    "SLACK_SIGNING_SECRET": "signing-secret",
}
TOKENS = {"bot_token": "xoxb-plain-one", "bot_refresh_token": "xoxe-1-refresh", "user_token": "xoxp-user"}


async def stored_tokens(db: Database) -> list[tuple]:
    async with db.read() as session:
        query = text("SELECT bot_token, bot_refresh_token, user_token, user_refresh_token FROM slack_installation")
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[call-overload]


async def install(db: Database, box: SecretBox, team: str = "T1") -> None:
    await save_installation(db, box, installation_key(None, team), {**TOKENS, "bot_id": "B1", "user_id": "UI"})


def test_a_key_seals_opens_and_says_what_is_wrong_with_it() -> None:
    box = SecretBox(new_key())
    sealed = box.seal("xoxb-secret")
    assert sealed is not None and sealed.startswith("fernet:") and "xoxb" not in sealed
    assert box.open(sealed) == "xoxb-secret" and box.open(None) is None
    with pytest.raises(SecretKeyError, match="another key"):
        SecretBox(new_key()).open(sealed)
    for bad, words in (("", "is empty"), ("nonsense", "key 1 is not a Fernet key"), (f"{new_key()},x", "key 2")):
        with pytest.raises(SecretKeyError, match=words):
            SecretBox(bad)
    printed = subprocess.run([sys.executable, "-m", "adapters.cli", "secret-key"], capture_output=True, text=True,
                             cwd=ROOT, timeout=60, check=True).stdout.strip()  # fmt: skip
    assert SecretBox(printed).open(SecretBox(printed).seal("x")) == "x"


async def test_the_database_holds_no_token_in_plain_text(db: Database, db_url: str) -> None:
    box = SecretBox(new_key())
    await install(db, box)
    stored = await stored_tokens(db)
    assert all(value is None or value.startswith("fernet:") for value in stored[0])
    found = await find_installation(db, box, installation_key(None, "T1"))
    assert found is not None and (found.bot_token, found.bot_refresh_token, found.user_token) == tuple(TOKENS.values())
    assert await stored_tokens(db) == stored  # reading opened a copy: nothing was written back
    if db_url.startswith("sqlite"):
        folder = Path(db_url.removeprefix("sqlite:///")).parent
        files = list(folder.glob("okrbot.db*"))
        assert files
        for file in files:  # the database and its write-ahead log
            content = file.read_bytes()
            assert not any(token.encode() in content for token in TOKENS.values()), file.name


async def test_rotation_seals_everything_with_the_new_key_and_a_wrong_key_changes_nothing(
    db: Database, db_url: str
) -> None:
    old, new = new_key(), new_key()
    await install(db, SecretBox(old), "T1")
    await install(db, SecretBox(old), "T2")
    before = await stored_tokens(db)
    wrong = await asyncio.to_thread(okrbot_cli, db_url, "secrets", "rotate", OKRBOT_SECRET_KEY=new)
    assert wrong.returncode != 0 and "does not open" in wrong.stderr and "Traceback" not in wrong.stderr
    assert await stored_tokens(db) == before
    done = await asyncio.to_thread(okrbot_cli, db_url, "secrets", "rotate", OKRBOT_SECRET_KEY=f"{new},{old}")
    assert done.returncode == 0, done.stderr
    assert "2 Slack installation(s)" in done.stdout
    found = await find_installation(db, SecretBox(new), installation_key(None, "T2"))
    assert found is not None and found.bot_token == "xoxb-plain-one"  # the new key alone opens them
    with pytest.raises(SecretKeyError):
        await find_installation(db, SecretBox(old), installation_key(None, "T2"))
    unset = await asyncio.to_thread(okrbot_cli, db_url, "secrets", "rotate")
    assert unset.returncode != 0 and "OKRBOT_SECRET_KEY is not set" in unset.stderr


async def installed_before_encryption(url: str) -> Database:
    """A database at migration 0006 holding a Slack installation with its token in plain text."""
    await asyncio.to_thread(upgrade, url, "0006")
    db = Database(url)
    async with db.write() as session:
        await session.exec(  # type: ignore[call-overload]
            text(
                "INSERT INTO slack_installation (enterprise_id, team_id, is_enterprise_install, bot_token, "
                "bot_scopes, user_id, user_scopes, installed_at) VALUES ('', 'T1', false, 'xoxb-before', '', "
                "'UI', '', CURRENT_TIMESTAMP)"
            )  # fmt: skip
        )
    return db


async def test_the_migration_seals_the_tokens_stored_before(empty_url: str) -> None:
    db = await installed_before_encryption(empty_url)
    try:
        box = SecretBox(new_key())
        await asyncio.to_thread(upgrade, empty_url, secret_key=box)
        [(bot_token, *_)] = await stored_tokens(db)
        assert bot_token.startswith("fernet:") and box.open(bot_token) == "xoxb-before"
    finally:
        await db.dispose()


async def test_a_start_with_the_key_seals_what_a_keyless_upgrade_left(empty_url: str) -> None:
    db = await installed_before_encryption(empty_url)
    try:
        await asyncio.to_thread(upgrade, empty_url)  # no key: the token stays as it was
        assert (await stored_tokens(db))[0][0] == "xoxb-before"
        box = SecretBox(new_key())
        assert await seal_installations(db, box) == 1  # what okrbot serve does on start
        assert box.open((await stored_tokens(db))[0][0]) == "xoxb-before"
        assert await seal_installations(db, box) == 0
    finally:
        await db.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_refuses_to_start_without_the_key_or_with_a_wrong_one(db: Database, db_url: str) -> None:
    port = str(_free_port())
    keyless = await asyncio.to_thread(okrbot_cli, db_url, "serve", "--port", port, **OAUTH)
    assert keyless.returncode != 0 and "Traceback" not in keyless.stderr
    last = keyless.stderr.strip().splitlines()[-1]
    assert "needs OKRBOT_SECRET_KEY" in last and "okrbot secret-key" in last, keyless.stderr
    await install(db, SecretBox(new_key()))
    before = await stored_tokens(db)
    wrong = await asyncio.to_thread(okrbot_cli, db_url, "serve", "--port", port, OKRBOT_SECRET_KEY=new_key(), **OAUTH)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert "does not open the secrets stored" in wrong.stderr.strip().splitlines()[-1], wrong.stderr
    malformed = await asyncio.to_thread(okrbot_cli, db_url, "serve", "--port", port, OKRBOT_SECRET_KEY="abc", **OAUTH)
    assert "is not a Fernet key" in malformed.stderr.strip().splitlines()[-1], malformed.stderr
    assert await stored_tokens(db) == before


def test_the_key_is_never_logged() -> None:
    from adapters.logs import secrets_of
    from adapters.settings import Settings

    old, new = new_key(), new_key()
    hidden = secrets_of(Settings(OKRBOT_SECRET_KEY=f"{new},{old}"))
    assert {new, old, f"{new},{old}"} <= set(hidden)
