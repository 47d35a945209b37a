"""Export (CSV, JSON) and the CSV import: a round trip keeps every row, a bad file changes nothing.

On a real SQLite file and (when configured) a real PostgreSQL database; the CLI import runs as a
user runs it, in a subprocess on a SQLite file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.csvfile import COLUMNS

HEADER = ",".join(COLUMNS)
# a line break, quotes, a comma, markup characters and an emoji in one title
HARD_TITLE = 'Ship "v2", fast\nthen <b>celebrate</b> & rest 🎉'


def cmd(user: str, line: str, workspace: str = "acme", **mentions: str) -> Command:
    return Command(
        workspace=WorkspaceRef("local", workspace, workspace),
        actor=Actor(user, user.title()),
        text=line,
        channel="test",
        source="test",
        mentions=mentions,
    )


async def ok(bot: Bot, user: str, line: str, workspace: str = "acme", **mentions: str) -> str:
    reply = await bot.handle(cmd(user, line, workspace, **mentions))
    assert not reply.is_error, f"{line!r}: {reply.text}"
    return reply.text


async def export(bot: Bot, what: str, workspace: str, user: str = "alice") -> str:
    return await ok(bot, user, f"export {what}", workspace)


async def import_(bot: Bot, text: str, workspace: str, user: str = "alice") -> tuple[bool, str]:
    return await bot.import_csv(cmd(user, "import csv", workspace), text)


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def row(**cells: str) -> str:
    """One CSV line with the given cells and the others empty."""
    unknown = set(cells) - set(COLUMNS)
    assert not unknown, unknown
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([cells.get(name, "") for name in COLUMNS])
    return out.getvalue()


async def rich_workspace(bot: Bot, workspace: str = "acme") -> None:
    """Everything an export must carry, built as people build it."""
    await ok(bot, "alice", 'team add growth "Growth, \\"Inc\\" & <Co>"', workspace)
    await ok(bot, "alice", 'team add ops "Ops"', workspace)
    await ok(bot, "alice", 'capability add deliver "Deliver 🚚"', workspace)
    await ok(bot, "alice", "cycle add 2026-Q4 2026-10-01 2026-12-31", workspace)
    await ok(bot, "alice", "cycle add 2027-Q1 2027-01-01 2027-03-31", workspace)
    await ok(bot, "alice", 'objective add "Grow, \\"fast\\" & <safe> 🚀" --team growth --capability deliver', workspace)
    await ok(bot, "alice", 'objective add "Stretch" --team growth --parent O-1 --aspirational', workspace)
    await ok(bot, "alice", 'objective add "Nothing measured yet" --team ops --cycle 2027-Q1', workspace)
    await ok(bot, "alice", 'objective add "Old plan" --team ops', workspace)
    await ok(bot, "alice", 'kr add O-1 "Active teams" --target 1234567.5 --start 0.00012345 --unit users', workspace)
    await ok(
        bot, "alice", 'kr add O-1 "Churn, monthly" --start 10 --target 2 --unit % --owner <@bob>', workspace, bob="Bob"
    )
    await ok(bot, "alice", 'kr add O-2 "Moonshot" --target 3', workspace)
    await ok(bot, "alice", 'kr add O-2 "Dropped" --target 5', workspace)
    await ok(bot, "alice", 'kr add O-4 "Old KR" --target 9', workspace)
    await ok(bot, "alice", "checkin KR-1 40.25 7 a good week, really", workspace)
    await ok(bot, "bob", 'checkin KR-2 6 4 churn <down> & "ok"', workspace)
    await ok(bot, "alice", "grade KR-2 0.3333333", workspace)
    await ok(bot, "alice", "grade KR-3 0.7", workspace)
    await ok(bot, "alice", "archive KR-4", workspace)
    await ok(bot, "alice", "archive O-4", workspace)


# -- round trip ----------------------------------------------------------------------------------


async def test_export_import_export_gives_the_same_csv(bot: Bot) -> None:
    await rich_workspace(bot)
    first = await export(bot, "csv", "acme")

    done, sentence = await import_(bot, first, "w2")
    assert done, sentence
    assert sentence == "Imported 4 objectives and 5 key results."
    second = await export(bot, "csv", "w2")

    assert second == first
    by_kr = {r["kr"]: r for r in rows(second)}
    assert by_kr["KR-1"]["target"] == "1234567.5" and by_kr["KR-1"]["start"] == "0.00012345"
    assert by_kr["KR-1"]["current"] == "40.25" and by_kr["KR-1"]["confidence"] == "7"
    assert by_kr["KR-2"]["start"] == "10" and by_kr["KR-2"]["target"] == "2" and by_kr["KR-2"]["current"] == "6"
    assert by_kr["KR-2"]["score"] == "0.3333333" and by_kr["KR-2"]["kr_owner"] == "bob"
    assert by_kr["KR-3"]["kind"] == "aspirational" and by_kr["KR-3"]["parent"] == "O-1"
    assert by_kr["KR-4"]["kr_archived"] == "yes"
    assert by_kr["KR-5"]["objective_archived"] == "yes" and by_kr["KR-5"]["kr_archived"] == "yes"
    assert by_kr[""]["objective_title"] == "Nothing measured yet" and by_kr[""]["cycle"] == "2027-Q1"
    assert by_kr["KR-1"]["objective_title"] == 'Grow, "fast" & <safe> 🚀'
    assert by_kr["KR-1"]["team_name"] == 'Growth, "Inc" & <Co>'
    assert by_kr["KR-1"]["capability_name"] == "Deliver 🚚"


async def test_round_trip_keeps_a_title_with_a_line_break(bot: Bot) -> None:
    source = HEADER + "\n" + row(
        cycle="2026-Q4", cycle_start="2026-10-01", cycle_end="2026-12-31", team="growth", objective="O-3",
        objective_title=HARD_TITLE, kr="KR-8", kr_title="Ünïcödé, \"quoted\"\nand <i>more</i>", target="10",
        unit="€",
    )  # fmt: skip
    done, sentence = await import_(bot, source, "acme")
    assert done, sentence
    first = await export(bot, "csv", "acme")
    (only,) = rows(first)
    assert only["objective_title"] == HARD_TITLE
    assert only["kr_title"] == 'Ünïcödé, "quoted"\nand <i>more</i>'

    done, sentence = await import_(bot, first, "w2")
    assert done, sentence
    assert await export(bot, "csv", "w2") == first
    assert "O-3" in await ok(bot, "alice", "show O-3", "w2")


async def test_numbers_kept_by_an_import_are_never_reused(bot: Bot) -> None:
    await rich_workspace(bot)
    done, sentence = await import_(bot, await export(bot, "csv", "acme"), "w2")
    assert done, sentence
    await ok(bot, "alice", 'team add new "New"', "w2")
    assert "Created O-5 " in await ok(bot, "alice", 'objective add "After import" --team new', "w2")
    assert "Added KR-6 " in await ok(bot, "alice", 'kr add O-5 "Next" --target 2', "w2")


async def test_a_json_round_trip_of_the_okrs_matches(bot: Bot) -> None:
    await rich_workspace(bot)
    done, sentence = await import_(bot, await export(bot, "csv", "acme"), "w2")
    assert done, sentence
    before, after = json.loads(await export(bot, "json", "acme")), json.loads(await export(bot, "json", "w2"))
    for part in ("objectives", "key_results", "cycles"):
        assert after[part] == before[part], part
    assert [(c["key"], c["name"]) for c in after["capabilities"]] == [("deliver", "Deliver 🚚")]
    assert after["check_ins"] == []  # the CSV carries values, not the history


# -- a spreadsheet written by hand ---------------------------------------------------------------


async def test_a_hand_written_spreadsheet_imports_with_new_numbers(bot: Bot) -> None:
    await ok(bot, "alice", 'team add growth "Growth"')
    await ok(bot, "alice", 'objective add "Already here" --team growth')  # O-1, KR numbers untouched
    sheet = (
        "team,objective_title,kr_title,target,start,unit,kr_owner,capability\r\n"
        "growth,Win the market,Customers,100,,customers,carol,deliver\r\n"
        "growth,Win the market,Revenue,50000,1000,EUR,,deliver\r\n"
        ",,,,,,,\r\n"
        "ops,Keep the lights on,Uptime,99.9,99,%,,\r\n"
        "ops,Write things down,,,,,,\r\n"
    )
    done, sentence = await import_(bot, "\ufeff" + sheet, "acme")
    assert done, sentence
    assert sentence == "Imported 3 objectives and 3 key results."

    exported = {(r["objective"], r["kr"]): r for r in rows(await export(bot, "csv", "acme"))}
    assert set(exported) == {("O-1", ""), ("O-2", "KR-1"), ("O-2", "KR-2"), ("O-3", "KR-3"), ("O-4", "")}
    assert exported[("O-2", "KR-1")]["objective_title"] == "Win the market"
    assert exported[("O-2", "KR-1")]["kr_owner"] == "carol"
    assert exported[("O-2", "KR-2")]["kr_owner"] == "alice"  # no owner: whoever imports
    assert exported[("O-2", "KR-2")]["current"] == "1000"  # no current: the start
    assert exported[("O-2", "KR-2")]["confidence"] == "5"
    assert exported[("O-2", "KR-1")]["cycle"] == "2026-Q4"  # no cycle: the current quarter
    assert exported[("O-2", "KR-1")]["capability"] == "deliver"
    assert exported[("O-3", "KR-3")]["team"] == "ops"
    assert "ops" in await ok(bot, "alice", "team list")


# -- bad files: one sentence with the line, nothing imported -------------------------------------

GOOD = row(
    cycle="2026-Q4", cycle_start="2026-10-01", cycle_end="2026-12-31", team="growth", objective="O-7",
    objective_title="Fine", kr="KR-7", kr_title="Fine KR", target="10",
)  # fmt: skip
FINE = {"cycle": "2026-Q4", "team": "growth", "objective_title": "Second", "kr_title": "A KR", "target": "10"}


def bad(**cells: str) -> str:
    return HEADER + "\n" + GOOD + row(**{**FINE, **cells})


BAD_FILES = {
    "bad number": (bad(target="ten"), 3, 'target must be a number like 42 or 3.5, not "ten"'),
    "bad start": (bad(start="1,5"), 3, "start must be a number"),
    "confidence 11": (bad(confidence="11"), 3, 'confidence must be a whole number from 0 to 10, not "11"'),
    "score 1.5": (bad(score="1.5"), 3, 'score is a number from 0.0 to 1.0, like 0.7, not "1.5"'),
    "target equals start": (bad(start="10", target="10"), 3, "target equals the start"),
    "bad date": (
        bad(cycle="2027-Q1", cycle_start="2027-02-30", cycle_end="2027-03-31"),
        3,
        "cycle_start must be a date",
    ),
    "end before start": (
        bad(cycle="2027-Q1", cycle_start="2027-03-31", cycle_end="2027-01-01"),
        3,
        "before cycle_start",
    ),
    "new cycle without dates": (
        bad(cycle="2027-Q9"),
        3,
        "cycle 2027-Q9 is new, so cycle_start and cycle_end are needed",
    ),
    "long title": (bad(objective_title="x" * 201), 3, "objective_title is 201 characters long; the most is 200"),
    "long kr title": (bad(kr_title="y" * 201), 3, "kr_title is 201 characters long; the most is 200"),
    "bad kind": (bad(kind="stretch"), 3, 'kind must be "committed" or "aspirational"'),
    "bad team key": (bad(team="Growth Team"), 3, "key is a short slug"),
    "unit with markup": (bad(unit="<!channel>"), 3, "without < > & or `"),
    "empty title": (bad(objective_title=""), 3, "objective_title column is empty"),
    "kr without title": (bad(kr="KR-9", kr_title=""), 3, "kr_title column is empty"),
    "bad objective id": (bad(objective="Objective 1"), 3, "Expected an id like O-12"),
    "bad archived flag": (bad(kr_archived="maybe"), 3, 'kr_archived must be "yes" or empty'),
    "parent unknown": (bad(parent="O-99"), 3, "the parent O-99 is neither in the file nor in this workspace"),
    "O-n exists": (bad(objective="O-1"), 3, "O-1 already exists in this workspace"),
    "KR-n exists": (bad(kr="KR-1"), 3, "KR-1 already exists in this workspace"),
    "KR twice": (HEADER + "\n" + GOOD + row(**{**FINE, "kr": "KR-7"}), 3, "KR-7 appears twice"),
    "more cells than the header": (
        HEADER + "\n" + GOOD + GOOD.rstrip("\n") + ",extra\n",
        3,
        "more cells than the header",
    ),
    "unknown column": (HEADER + ",colour\n" + GOOD, 1, "unknown column colour"),
    "missing column": (HEADER.replace("objective_title", "title") + "\n" + GOOD, 1, "missing objective_title"),
    "after a multi-line cell": (
        HEADER + "\n" + row(**{**FINE, "kr_title": "two\nlines"}) + GOOD + row(**{**FINE, "confidence": "-1"}),
        5,
        "confidence must be a whole number",
    ),
    "bad row holding a line break": (
        HEADER + "\n" + GOOD + row(**{**FINE, "kr_title": "two\nlines", "target": "x"}),
        3,
        "target must be a number",
    ),
    "same objective, different title": (
        HEADER + "\n" + GOOD + row(**{**FINE, "objective": "O-7", "objective_title": "Other", "kr": "KR-8"}),
        3,
        "O-7 is also on line 2",
    ),
    "parent is itself": (bad(objective="O-8", parent="O-8"), 3, "O-8 cannot be its own parent"),
    "parents in a loop": (
        HEADER
        + "\n"
        + GOOD
        + row(**{**FINE, "objective": "O-8", "parent": "O-9"})
        + row(**{**FINE, "objective": "O-9", "objective_title": "Third", "parent": "O-8"}),
        3,
        "the parents of O-8 lead back to it (O-8 → O-9 → O-8)",
    ),
}


@pytest.mark.parametrize("name", BAD_FILES)
async def test_a_bad_row_is_named_by_its_line_and_nothing_is_imported(bot: Bot, name: str) -> None:
    text, line, problem = BAD_FILES[name]
    await rich_workspace(bot, "w2")  # O-1..O-4 and KR-1..KR-5 exist there
    before = await export(bot, "json", "w2")

    done, sentence = await import_(bot, text, "w2")

    assert not done
    assert sentence.startswith(f"Line {line}: "), sentence
    assert problem in sentence
    assert "nothing was imported" in sentence.lower()
    assert "\n" not in sentence
    assert await export(bot, "json", "w2") == before


async def test_a_bad_file_in_a_new_workspace_leaves_no_workspace_behind(bot: Bot) -> None:
    done, sentence = await import_(bot, bad(confidence="11"), "brand-new", user="zoe")
    assert not done, sentence
    reply = await bot.handle(cmd("carl", "export json", "brand-new"))
    members = [m["id"] for m in json.loads(reply.text)["members"]]
    assert members == ["carl"]  # zoe's first sight was rolled back with the rest


async def test_later_rows_of_an_objective_may_leave_its_cells_blank(bot: Bot) -> None:
    text = (
        HEADER + "\n" + GOOD + row(team="growth", objective="O-7", objective_title="Fine", kr_title="More", target="3")
    )
    done, sentence = await import_(bot, text, "w2")
    assert done, sentence
    exported = rows(await export(bot, "csv", "w2"))
    assert [(r["objective"], r["kr"], r["cycle"]) for r in exported] == [
        ("O-7", "KR-7", "2026-Q4"),
        ("O-7", "KR-8", "2026-Q4"),
    ]


NO_ROWS = "The file has no rows to import; nothing was imported."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "Line 1: the header has missing objective_title, team, so nothing was imported; the columns are "),
        (HEADER + "\n", NO_ROWS),
        (HEADER + "\n,,,\n", NO_ROWS),
    ],
)
async def test_an_empty_file_is_refused(bot: Bot, text: str, problem: str) -> None:
    done, sentence = await import_(bot, text, "w2")
    assert not done
    assert sentence.startswith(problem), sentence


# -- JSON export ---------------------------------------------------------------------------------


async def test_export_json_has_the_check_ins_and_only_this_workspace(bot: Bot, clock) -> None:  # type: ignore[no-untyped-def]
    await rich_workspace(bot, "acme")
    clock.advance(days=7)
    await ok(bot, "alice", "checkin KR-1 50 8 next week", "acme")
    await ok(bot, "mallory", 'team add secret "Secret team"', "other")
    await ok(bot, "mallory", 'objective add "Secret objective" --team secret', "other")
    await ok(bot, "mallory", 'kr add O-1 "Secret KR" --target 5', "other")
    await ok(bot, "mallory", "checkin KR-1 4 9 secret note", "other")

    text = await export(bot, "json", "acme")
    document = json.loads(text)

    assert document["format"] == "okrbot-export/1"
    assert [(c["key_result"], c["value"], c["confidence"], c["note"]) for c in document["check_ins"]] == [
        ("KR-1", 40.25, 7, "a good week, really"),
        ("KR-2", 6.0, 4, 'churn <down> & "ok"'),
        ("KR-1", 50.0, 8, "next week"),
    ]
    assert document["check_ins"][0]["at"] == "2026-11-20T09:00:00+00:00"
    assert document["check_ins"][2]["at"] == "2026-11-27T09:00:00+00:00"
    assert document["check_ins"][1]["member"] == "bob"
    assert {m["id"] for m in document["members"]} == {"alice", "bob"}
    assert [o["id"] for o in document["objectives"]] == ["O-1", "O-2", "O-3", "O-4"]
    assert len(document["key_results"]) == 5
    for secret in ("mallory", "Secret", "secret note", "other"):
        assert secret not in text


async def test_export_csv_never_includes_another_workspace(bot: Bot) -> None:
    await rich_workspace(bot, "acme")
    await ok(bot, "mallory", 'team add secret "Secret team"', "other")
    await ok(bot, "mallory", 'objective add "Secret objective" --team secret', "other")
    text = await export(bot, "csv", "other", user="mallory")
    assert [r["objective_title"] for r in rows(text)] == ["Secret objective"]


# -- the CLI -------------------------------------------------------------------------------------


def okrbot_import(path: Path, database_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    root = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKRBOT_", "DATABASE_URL"))}
    env.update(OKRBOT_DATABASE_URL=database_url, PYTHONPATH=root)
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "import", str(path), "--user", "alice", "--workspace", "w2", *extra],
        env=env,
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_import_succeeds_then_refuses_a_bad_file(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'cli.db'}"
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "\n" + GOOD + row(**FINE), encoding="utf-8")

    result = okrbot_import(good, database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Imported 2 objectives and 2 key results."

    again = okrbot_import(good, database_url)
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr.strip() == (
        "Line 2: O-7 already exists in this workspace; leave the objective column empty to number it anew. "
        "Nothing was imported."
    )

    broken = tmp_path / "broken.csv"
    broken.write_text(bad(confidence="11"), encoding="utf-8")
    failed = okrbot_import(broken, database_url)
    assert failed.returncode == 1
    assert failed.stderr.startswith("Line 3: ")
    assert "Traceback" not in failed.stderr

    import sqlite3

    with sqlite3.connect(tmp_path / "cli.db") as connection:
        titles = sorted(t for (t,) in connection.execute("SELECT title FROM objective"))
    assert titles == ["Fine", "Second"]


def test_cli_import_of_a_missing_file_says_so(tmp_path: Path) -> None:
    result = okrbot_import(tmp_path / "nowhere.csv", f"sqlite:///{tmp_path / 'cli.db'}")
    assert result.returncode == 1
    assert "cannot read" in result.stderr and "nowhere.csv" in result.stderr
    assert "Traceback" not in result.stderr
