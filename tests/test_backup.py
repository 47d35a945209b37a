"""``okrbot backup`` and ``okrbot restore``: the whole database as one JSON document, SQLite →
PostgreSQL and back giving the same tables and the same ``export json``, an older schema restored
then migrated, and broken documents or a database that holds data restoring nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from conftest import POSTGRES_URL, _postgres_database, command, okrbot_cli, snapshot
from sqlalchemy import text

from bot.core import Bot
from bot.demo import load_demo
from store.db import Database
from store.installations import installation_key, save_installation
from store.migrate import head_revision, upgrade
from store.models import utcnow
from store.secrets import SecretBox, new_key


async def run(db_url: str, *words: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(okrbot_cli, db_url, *words)


async def exported(db_url: str) -> str:
    db = Database(db_url)
    try:
        reply = await Bot(db).handle(command("amelie", "export json", workspace="demo"))
        assert not reply.is_error, reply.text
        found = "\n".join(block.plain() for block in reply.blocks)
        assert "check_ins" in found and "Weekly active teams" in found, found[:300]
        return found
    finally:
        await db.dispose()


async def rows_of(db_url: str) -> dict[str, list[tuple]]:
    db = Database(db_url)
    try:
        return await snapshot(db)
    finally:
        await db.dispose()


@pytest.fixture
async def demo(tmp_path: Path) -> str:
    """A SQLite file holding the demo organisation and a Slack installation whose token is sealed."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        await load_demo(db, timezone="UTC")
        values = {"bot_token": "xoxb-demo", "bot_id": "B1", "user_id": "UI", "installed_at": utcnow()}
        await save_installation(db, SecretBox(new_key()), installation_key(None, "T1"), values)
    finally:
        await db.dispose()
    return url


@pytest.fixture
async def second_url(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Where to restore to: an empty PostgreSQL database when one is configured, else a SQLite file."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    url, drop = await _postgres_database()
    try:
        yield url
    finally:
        await drop()


async def test_a_backup_restores_elsewhere_and_back_to_the_same_database(
    demo: str, second_url: str, tmp_path: Path
) -> None:
    first, second, third = tmp_path / "first.json", tmp_path / "second.json", tmp_path / "third.json"
    wrote = await run(demo, "backup", str(first))
    assert wrote.returncode == 0 and "schema " + head_revision() in wrote.stdout, wrote.stderr
    document = json.loads(first.read_text())
    assert document["format"] == "okrbot-backup" and document["version"] == 1
    assert "xoxb-demo" not in first.read_text()  # installations stay sealed
    restored = await run(second_url, "restore", str(first))
    assert restored.returncode == 0 and "Restored" in restored.stdout, restored.stderr
    assert await rows_of(second_url) == await rows_of(demo)
    assert (await run(second_url, "backup", str(second))).returncode == 0
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    assert (await run(back_url, "restore", str(second))).returncode == 0
    assert await rows_of(back_url) == await rows_of(demo)
    assert (await run(back_url, "backup", str(third))).returncode == 0
    assert json.loads(third.read_text())["tables"] == document["tables"]
    assert await exported(second_url) == await exported(demo) == await exported(back_url)  # these write: last


async def test_new_rows_after_a_restore_take_new_numbers(demo: str, second_url: str, tmp_path: Path) -> None:
    assert (await run(demo, "backup", str(tmp_path / "b.json"))).returncode == 0
    assert (await run(second_url, "restore", str(tmp_path / "b.json"))).returncode == 0
    db = Database(second_url)
    try:
        bot = Bot(db)
        reply = await bot.handle(command("amelie", 'objective add "After the move" --team growth', workspace="demo"))
        assert not reply.is_error, reply.text
    finally:
        await db.dispose()


async def test_a_database_that_holds_data_is_not_restored_into(demo: str, tmp_path: Path) -> None:
    assert (await run(demo, "backup", str(tmp_path / "b.json"))).returncode == 0
    before = await rows_of(demo)
    refused = await run(demo, "restore", str(tmp_path / "b.json"))
    assert refused.returncode == 1 and "already holds data" in refused.stderr and "Traceback" not in refused.stderr
    assert await rows_of(demo) == before


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda t: t[: len(t) // 2], "not a whole JSON document"),
        (lambda t: "[1, 2]", "is not an okrbot backup"),
        (lambda t: t.replace('"version":1', '"version":2', 1), "format version 2"),
        (lambda t: t.replace(f'"schema":"{head_revision()}"', '"schema":"9999"', 1), "newer than this okrbot"),
        ("collide", "do not fit"),
        ("short row", "values for"),
    ],
)
async def test_a_broken_backup_restores_nothing(demo: str, tmp_path: Path, damage, words: str) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.json"
    assert (await run(demo, "backup", str(good))).returncode == 0
    content = good.read_text()
    if damage == "collide":  # an edit that gives two check-ins one number
        document = json.loads(content)
        rows = document["tables"]["check_in"]["rows"]
        rows[1][0] = rows[0][0]
        content = json.dumps(document)
    elif damage == "short row":
        document = json.loads(content)
        document["tables"]["team"]["rows"][0].pop()
        content = json.dumps(document)
    else:
        content = damage(content)
    broken = tmp_path / "broken.json"
    broken.write_text(content)
    target = f"sqlite:///{tmp_path / 'target.db'}"
    result = await run(target, "restore", str(broken))
    assert result.returncode == 1 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert all(not rows for rows in (await rows_of(target)).values())


async def test_a_backup_of_an_older_schema_restores_then_migrates(tmp_path: Path) -> None:
    old = f"sqlite:///{tmp_path / 'old.db'}"
    await asyncio.to_thread(upgrade, old, "0005")
    db = Database(old)
    try:
        async with db.write() as session:
            await session.exec(  # type: ignore[call-overload]
                text(
                    "INSERT INTO workspace (id, platform, external_id, name, timezone, next_objective_number, "
                    "next_kr_number, created_at, revision) VALUES (1, 'local', 'acme', 'acme', 'UTC', 1, 1, "
                    "CURRENT_TIMESTAMP, 0)"
                )  # fmt: skip
            )
        from store.backup import backup, write_backup

        document = await backup(db)
    finally:
        await db.dispose()
    assert document["schema"] == "0005" and "api_token" not in document["tables"]
    write_backup(document, tmp_path / "old.json")
    target = f"sqlite:///{tmp_path / 'new.db'}"
    restored = await run(target, "restore", str(tmp_path / "old.json"))
    assert restored.returncode == 0, restored.stderr
    rows = await rows_of(target)
    assert [r[2] for r in rows["workspace"]] == ["acme"] and rows["api_token"] == []  # migrated to the newest
