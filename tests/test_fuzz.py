"""Property tests: whatever a person types, the parser answers with a value or a UserError, and
the bot answers with a sentence — never okrbot's internal error, never a half-written change.

Hypothesis and function-scoped fixtures don't mix, so the bot test builds its own SQLite file
and event loop once per test and reuses them for every example.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import bot.core  # noqa: F401  (registers every command)
from bot.command import Actor, Command, WorkspaceRef
from bot.core import INTERNAL_ERROR, Bot
from bot.errors import UserError
from bot.grammar import MAX_NOTE, MAX_TITLE, REGISTRY, parse
from store.db import Database
from store.migrate import upgrade_async
from store.models import metadata

COMMAND_WORDS = sorted({" ".join(words) for words in REGISTRY} | {word for words in REGISTRY for word in words})
FLAGS = [
    "--team",
    "—team",
    "–team",
    "--target",
    "--start",
    "--unit",
    "--owner",
    "--parent",
    "--capability",
    "--cycle",
    "--aspirational",
    "--position",
    "--remind-after",
    "--bogus",
    "--",
    "---team",
    "—",
]
IDS = ["O-1", "O-2", "o-1", "KR-1", "KR-2", "kr-3", "KR-0", "O-999999999", "KR-1234567890", "O1", "KR-", "X-1"]
QUOTES = ['"', "“", "”", "„", "«", "»", "\\", '\\"', "'", "`"]
MENTIONS = ["<@U1>", "<@U2|Bob Smith>", "<@carol|Carol>", "<@", "<@>", "<@U1|", "<at>Bob</at>", "@bob"]
NUMBERS = ["0", "7", "10", "11", "-1", "1,200", "40%", "3.5", ".5", "1e400", "1e15", "nan", "inf", "-0", "1,2000"]
DATES = ["2026-12-31", "2026-02-30", "26-1-1", "2027-01-01", "0000-01-01", "9999-12-31"]
KEYS = ["growth", "ops", "nope", "understand", "2026-Q4", "GROWTH", "a" * 41]


def numbers() -> st.SearchStrategy[str]:
    floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    return st.one_of(st.sampled_from(NUMBERS), st.integers().map(str), floats)


def tokens() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(COMMAND_WORDS),
        st.sampled_from(FLAGS),
        st.sampled_from(IDS),
        st.sampled_from(QUOTES),
        st.sampled_from(MENTIONS),
        st.sampled_from(DATES),
        st.sampled_from(KEYS),
        numbers(),
        st.text(max_size=12),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
    )


@st.composite
def command_texts(draw: st.DrawFn) -> str:
    """Mostly a real command's words followed by a mix of arguments; sometimes pure noise."""
    head = draw(st.one_of(st.sampled_from([" ".join(w) for w in REGISTRY]), st.just("")))
    rest = draw(st.lists(tokens(), max_size=10))
    glue = draw(st.sampled_from([" ", "  ", "", "\t", "\n"]))
    return (head + " " + glue.join(rest)).strip() if head else glue.join(rest)


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("”", "\\”") + '"'


@st.composite
def well_formed(draw: st.DrawFn) -> str:
    """Commands of the right shape with arbitrary values, so handlers (not only the parser) run."""
    title = draw(st.text(max_size=205).map(quoted))
    num = draw(numbers())
    key = draw(st.sampled_from(KEYS))
    o, kr = draw(st.sampled_from(["O-1", "O-2", "O-3"])), draw(st.sampled_from(["KR-1", "KR-2", "KR-3", "KR-4"]))
    confidence = draw(st.sampled_from(["", "0", "5", "10", "11"]))
    note = draw(st.text(max_size=40))
    templates = [
        f"objective add {title} --team {key}",
        f"objective add {title} --team growth --parent {o} --capability {key}",
        f"kr add {o} {title} --target {num}",
        f"kr add {o} {title} --target {num} --start {draw(numbers())} --owner {draw(st.sampled_from(MENTIONS))}",
        f"checkin {kr} {num} {confidence} {note}",
        f"grade {kr} {num}",
        f"archive {draw(st.sampled_from([o, kr]))}",
        f"show {draw(st.sampled_from([o, kr]))}",
        f"team add {key} {title}",
        f"capability add {key} {title} --position {num} --parent {draw(st.sampled_from(KEYS))}",
        f"cycle add {key} {draw(st.sampled_from(DATES))} {draw(st.sampled_from(DATES))}",
        f"list {draw(st.sampled_from(['', 'mine', 'all', 'team growth', 'capability understand']))}",
        f"team {draw(st.sampled_from(['join', 'leave']))} {key}",
    ]
    return draw(st.sampled_from(templates))


def any_text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(), command_texts(), well_formed(), st.text(max_size=3000))


# the parser ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(text=any_text())
def test_parse_only_ever_raises_user_error(text: str) -> None:
    try:
        parsed = parse(text)
    except UserError as exc:
        assert exc.sentence.strip(), "a refusal says what is wrong"
        return
    for value in parsed.values.values():
        if isinstance(value, float):
            assert math.isfinite(value) and abs(value) < 1e15
        if isinstance(value, str):
            assert len(value) <= max(MAX_TITLE, MAX_NOTE)


@settings(max_examples=200, deadline=None)
@given(text=command_texts())
def test_parse_of_command_like_text_only_ever_raises_user_error(text: str) -> None:
    try:
        parsed = parse(text)
    except UserError as exc:
        assert exc.sentence.strip()
        return
    assert text.lower().split()[: len(parsed.spec.words)] == list(parsed.spec.words)


# the whole bot ---------------------------------------------------------------------------------

SEED = [
    ("alice", 'team add growth "Growth"'),
    ("bob", 'team add ops "Ops"'),
    ("alice", 'capability add understand "Understand"'),
    ("alice", 'capability add research "Research" --parent understand'),
    ("alice", 'objective add "Grow revenue" --team growth --capability understand'),
    ("alice", 'kr add O-1 "Active teams" --target 100'),
    ("alice", 'kr add O-1 "Churn" --start 10 --target 2 --owner <@carol|Carol>'),
    ("bob", 'objective add "Stretch" --team ops --aspirational --parent O-1'),
    ("bob", 'kr add O-2 "Uptime" --target 99.9 --unit %'),
    ("alice", "checkin KR-1 40 7 good week"),
    ("alice", "cycle add 2027-H1 2027-01-01 2027-06-30"),
]


class Harness:
    """One SQLite file, one loop and one bot for all examples of a test."""

    def __init__(self, folder: Path) -> None:
        self.loop = asyncio.new_event_loop()
        url = f"sqlite:///{folder / 'fuzz.db'}"
        self.loop.run_until_complete(upgrade_async(url))
        self.db = Database(url)
        now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
        self.bot = Bot(self.db, clock=lambda: now)

    def run(self, user: str, text: str, workspace: str = "acme"):  # type: ignore[no-untyped-def]
        command = Command(
            workspace=WorkspaceRef("local", workspace, workspace),
            actor=Actor(user, user.title()),
            text=text,
            channel="fuzz",
            source="test",
        )
        return self.loop.run_until_complete(self.bot.handle(command))

    def snapshot(self) -> dict[str, list[tuple]]:
        async def read() -> dict[str, list[tuple]]:
            out = {}
            async with self.db.read() as session:
                connection = await session.connection()
                for table in metadata.sorted_tables:
                    rows = (await connection.execute(select(table))).all()
                    out[table.name] = sorted((tuple(row) for row in rows), key=repr)
            return out

        return self.loop.run_until_complete(read())

    def close(self) -> None:
        self.loop.run_until_complete(self.db.dispose())
        self.loop.close()


@pytest.fixture
def harness() -> Iterator[Harness]:
    with tempfile.TemporaryDirectory() as folder:
        harness = Harness(Path(folder))
        for user, text in SEED:
            reply = harness.run(user, text)
            assert not reply.is_error, f"{text}: {reply.text}"
        try:
            yield harness
        finally:
            harness.close()


USERS = st.sampled_from(["alice", "bob", "carol", "dave"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=USERS, text=any_text())
def test_handle_never_answers_internal_error_and_refusals_write_nothing(harness: Harness, user: str, text: str) -> None:
    before = harness.snapshot()
    reply = harness.run(user, text)
    assert INTERNAL_ERROR not in reply.text, f"{text!r} gave the internal error"
    if reply.is_error:
        assert harness.snapshot() == before, f"refused {text!r} ({reply.text}) wrote to the database"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=USERS, text=st.one_of(command_texts(), well_formed()), workspace=st.sampled_from(["acme", "other"]))
def test_handle_command_like_text(harness: Harness, user: str, text: str, workspace: str) -> None:
    before = harness.snapshot()
    reply = harness.run(user, text, workspace)
    assert INTERNAL_ERROR not in reply.text, f"{text!r} gave the internal error"
    assert reply.text.strip()
    if reply.is_error:
        assert harness.snapshot() == before, f"refused {text!r} ({reply.text}) wrote to the database"
