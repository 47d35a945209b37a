"""`okrbot chat` driven exactly as a person drives it: a process, commands on standard input.

Each run starts the real console script on a database it creates and migrates itself: a
SQLite file in tmp_path, and (when configured) a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from store.migrate import head_revision

POSTGRES_URL = os.environ.get("OKRBOT_TEST_POSTGRES_URL")
NO_POSTGRES = "OKRBOT_TEST_POSTGRES_URL is not set (point it at a PostgreSQL to run these tests there too)"
ROOT = Path(__file__).resolve().parents[1]

# One cycle wide enough that the real date (the process has no test clock) always falls in it.
ALICE = """\
cycle add 2020s 2020-01-01 2099-12-31
team add growth "Growth & <Sales>"
/okr capability add deliver "Deliver"
okr objective add "Grow revenue, \\"fast\\" 🚀" --team growth --capability deliver
kr add O-1 "Active teams" --target 100 --unit teams
# a comment, and a blank line, are skipped

kr add O-1 "Churn" --start 10 --target 2 --unit % --owner @bob
frobnicate the widgets
checkin KR-1 40 7 good week, mail carol@example.com
checkin KR-9 1
list
show KR-1
grade KR-2 0.5
OKR list all
export csv
"""


def okrbot() -> list[str]:
    """The installed console script next to this Python, else the module it runs."""
    script = Path(sys.executable).with_name("okrbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "adapters.cli"]


def chat(user: str, lines: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKRBOT_", "DATABASE_URL"))}
    env.update(OKRBOT_DATABASE_URL=database_url, PYTHONPATH=str(ROOT), HOME=str(cwd), PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [*okrbot(), "chat", "--user", user],
        input=lines,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def replies(stdout: str) -> list[str]:
    """One reply per command: the console separates them with a blank line."""
    return [block for block in stdout.split("\n\n") if block.strip()]


def csv_rows(text: str) -> dict[str, dict[str, str]]:
    start = text.index("cycle,cycle_start")
    return {row["kr"]: row for row in csv.DictReader(io.StringIO(text[start:]))}


def check_alice(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = replies(result.stdout)
    assert len(out) == 14, out
    (
        cycle, team, capability, objective, kr1, kr2, unknown, checkin, bad_kr, mine, show, grade, everything, export
    ) = out  # fmt: skip
    assert "2020s" in cycle and "2020-01-01" in cycle
    assert team == "Created team growth (Growth & <Sales>); you are its lead."
    assert capability == "Added capability deliver (Deliver) as stage 1 of the value chain."
    assert objective.startswith('Created O-1 Grow revenue, "fast" 🚀 for team growth in 2020s (committed).')
    assert kr1.startswith("Added KR-1 Active teams to O-1: 0 / 100 teams, owner @alice.")
    assert kr2.startswith("Added KR-2 Churn to O-1: 10 / 2 %, owner @bob.")
    assert unknown == 'I don\'t know the command "frobnicate"; type `help` to see them all.'
    assert checkin.startswith("Checked in KR-1: confidence 7/10 on track (was 5).")
    assert "40 / 100 teams" in checkin
    assert bad_kr == "There is no key result KR-9 in this workspace; `list all` shows them."
    assert "O-1 Grow revenue" in mine and "KR-1 Active teams" in mine
    assert show.startswith("== KR-1 Active teams ==")
    assert "good week, mail carol@example.com" in show
    assert "Confidence: 7/10 on track" in show
    assert grade == "Graded KR-2 Churn: 0.50."
    assert everything.startswith("== All OKRs ==") and "KR-2 Churn · @bob" in everything
    assert export.startswith("cycle,cycle_start,cycle_end,team")


def check_export(text: str) -> None:
    rows = csv_rows(text)
    assert set(rows) == {"KR-1", "KR-2"}
    assert rows["KR-1"]["current"] == "40" and rows["KR-1"]["confidence"] == "7"
    assert rows["KR-1"]["objective_title"] == 'Grow revenue, "fast" 🚀'
    assert rows["KR-1"]["capability"] == "deliver" and rows["KR-1"]["team_name"] == "Growth & <Sales>"
    assert rows["KR-2"]["kr_owner"] == "bob" and rows["KR-2"]["score"] == "0.5"
    assert rows["KR-2"]["start"] == "10" and rows["KR-2"]["target"] == "2"


def check_bob(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    out = replies(result.stdout)
    show, everything = out[0], out[1]
    assert show.startswith("== KR-1 Active teams ==")
    assert "40 / 100 teams" in show
    assert "· 40 · confidence 7 · @alice — good week, mail carol@example.com" in show
    assert "KR-2 Churn · @bob" in everything
    check_export("\n\n".join(out[2:]))


BOB = "show KR-1\nlist all\nexport csv\n"


def test_a_terminal_session_then_another_person_reads_it_back(tmp_path: Path) -> None:
    db_file = tmp_path / "data" / "okrbot.db"
    database_url = f"sqlite:///{db_file}"

    alice = chat("alice", ALICE, database_url, tmp_path)

    check_alice(alice)
    check_export(alice.stdout)
    with sqlite3.connect(db_file) as connection:  # created and migrated by `okrbot chat` itself
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (head_revision(),)
        members = {name for (name,) in connection.execute("SELECT external_id FROM member")}
    assert members == {"alice", "bob"}  # @bob became a member; carol@example.com did not

    check_bob(chat("bob", BOB, database_url, tmp_path))


def test_the_terminal_prints_where_it_saved_the_value_chain_map(tmp_path: Path) -> None:
    lines = ALICE.split("kr add O-1")[0] + "digest all\n"
    done = chat("alice", lines, f"sqlite:///{tmp_path / 'map.db'}", tmp_path)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if "value-chain.png" in line]
    path = Path(line.split("chart: ", 1)[1].split(" (", 1)[0])
    assert path.read_bytes().startswith(b"\x89PNG")
    assert line.endswith("(Value chain · 2020s: 1 stage, 1 team; no gaps; fed by one team only: Deliver.)")


def test_windows_line_ends_and_prefixes(tmp_path: Path) -> None:
    lines = "\r\n".join(
        [
            'team add ops "Ops"',
            "/okr team list",
            "okr team list",
            "/OKR   team list",
            "objective add Keep the lights on --team ops",
            "kr add O-1 Uptime --target 99.9 --start 99 --unit %",
            "show O-1",
        ]
    )
    result = chat("dana", lines + "\r\n", f"sqlite:///{tmp_path / 'crlf.db'}", tmp_path)
    assert result.returncode == 0, result.stderr
    out = replies(result.stdout)
    assert out[0] == "Created team ops (Ops); you are its lead."
    assert out[1] == out[2] == out[3]
    assert "ops" in out[1]
    assert out[4].startswith("Created O-1 Keep the lights on for team ops")
    assert out[5].startswith("Added KR-1 Uptime to O-1: 99 / 99.9 %")
    assert "\r" not in result.stdout


def test_mentions_become_members_but_not_inside_quoted_titles(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'm.db'}"
    lines = (
        'team add ops "Ops"\n'
        'objective add "Ask @bob about “@carl”" --team ops\n'
        'kr add O-1 "Pages for @dan" --target 5 --owner @Erin.Smith\n'
    )
    result = chat("alice", lines, database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    out = replies(result.stdout)
    assert out[1].startswith("Created O-1 Ask @bob about “@carl” for team ops")
    assert out[2].startswith("Added KR-1 Pages for @dan to O-1: 0 / 5, owner @Erin.Smith.")
    with sqlite3.connect(tmp_path / "m.db") as connection:
        members = dict(connection.execute("SELECT external_id, display_name FROM member").fetchall())
        (title,) = connection.execute("SELECT title FROM objective").fetchone()
    assert members == {"alice": "alice", "erin.smith": "Erin.Smith"}
    assert title == "Ask @bob about “@carl”"
    bad = chat("not a name", "team list\n", database_url, tmp_path)
    assert bad.returncode == 1
    assert "--user" in bad.stderr and "Traceback" not in bad.stderr


# -- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped after it."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    import asyncpg

    admin = make_url(POSTGRES_URL.replace("postgres://", "postgresql://", 1)).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)
    name = f"okrbot_e2e_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_same_session_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    alice = chat("alice", ALICE, postgres_url, tmp_path)
    check_alice(alice)
    check_export(alice.stdout)
    check_bob(chat("bob", BOB, postgres_url, tmp_path))
    assert not list(tmp_path.glob("*.db"))  # nothing fell back to a SQLite file


# -- the interactive REPL, on a pseudo-terminal ----------------------------------------------------


def read_until(fd: int, marker: bytes, limit_s: float = 30) -> bytes:
    """What the terminal shows until ``marker`` (bounded: select waits, it never sleeps)."""
    import select

    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], limit_s)
        if not ready:
            pytest.fail(f"the REPL did not show {marker!r}; it showed {seen!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        seen += chunk
    return seen


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_the_interactive_repl_answers_and_leaves_on_exit(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKRBOT_", "DATABASE_URL"))}
    env.update(OKRBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'repl.db'}", PYTHONPATH=str(ROOT), HOME=str(tmp_path))
    process = subprocess.Popen(
        [*okrbot(), "chat", "--user", "alice"], stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path
    )
    os.close(follower)
    try:
        assert b"you are alice in workspace local" in read_until(leader, b"okr> ")
        os.write(leader, b'team add ops "Ops"\n')
        assert b"Created team ops (Ops); you are its lead." in read_until(leader, b"okr> ")
        os.write(leader, b"nonsense\n")
        assert b'I don\'t know the command "nonsense"' in read_until(leader, b"okr> ")
        os.write(leader, b"exit\n")
        read_until(leader, b"\x00never")  # to the end of output
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(leader)
    assert (tmp_path / ".okrbot_history").exists()


def test_a_lower_case_login_does_not_rename_the_member():
    from adapters.local import to_command

    assert to_command("help", user="amelie", workspace="demo").actor.display_name == ""
    assert to_command("help", user="Amelie", workspace="demo").actor.display_name == "Amelie"
