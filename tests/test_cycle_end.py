"""The end of a cycle: `cycle close --carry-to`, what a closed cycle refuses, and what `show`,
`cycle list` and `export json` say of carried work."""

from __future__ import annotations

import json

from bot.messages import File

# Two teams; growth's aspirational O-2 supports platform's O-1; O-3 is finished; O-4 was archived.
CYCLE = [
    ("alice", 'team add growth "Growth"'),
    ("bob", 'team add platform "Platform"'),
    ("alice", 'capability add develop "Develop"'),
    ("alice", "cycle add 2026-T3 2026-07-01 2026-09-30"),
    ("bob", 'objective add "Ship the API" --team platform --capability develop --cycle 2026-T3'),
    ("alice", 'objective add "Onboard on the API" --team growth --parent O-1 --aspirational --cycle 2026-T3'),
    ("alice", 'objective add "Done and dusted" --team growth --cycle 2026-T3'),
    ("alice", 'objective add "Dropped" --team growth --cycle 2026-T3'),
    ("bob", 'kr add O-1 "Public endpoints" --target 40 --unit endpoints'),  # KR-1: 25 of 40
    ("bob", 'kr add O-1 "Docs pages" --target 10'),  # KR-2: done
    ("alice", 'kr add O-2 "Guides" --target 5 --owner <@carol|Carol>'),  # KR-3: graded 0.9 at 5 of 5
    ("alice", 'kr add O-3 "Launch" --target 1'),  # KR-4: done
    ("alice", 'kr add O-4 "Never" --target 9'),  # KR-5: archived with its objective
    ("bob", "checkin KR-1 25 6 halfway and more"),
    ("bob", "checkin KR-2 10"),
    ("carol", "checkin KR-3 5"),
    ("carol", "grade KR-3 0.9"),
    ("alice", "checkin KR-4 1"),
    ("alice", "archive O-4"),
]


async def build(ok) -> None:
    for user, text in CYCLE:
        await ok(user, text)


async def test_unfinished_work_is_carried_with_its_parent_link(ok, chat) -> None:
    await build(ok)
    reply = await ok("alice", "cycle close 2026-T3 --carry-to 2027-Q1")
    assert reply.text.splitlines() == [
        "Closed cycle 2026-T3 and carried 2 unfinished key results of 2 objectives to 2027-Q1:",
        "  O-1 → O-5 Ship the API (KR-1 → KR-6)",
        "  O-2 → O-6 Onboard on the API (KR-3 → KR-7)",
    ]
    # The quarter was created with its dates; the old cycle is closed, with its average score.
    cycles = (await ok("bob", "cycle list")).text
    assert "2027-Q1: 2027-01-01 to 2027-03-31" in cycles
    # KR-1 25/40 = 0.625, KR-2 1.0, KR-3 graded 0.9, KR-4 1.0 (KR-5 archived): 3.525 / 4
    assert "2026-T3: 2026-07-01 to 2026-09-30 · closed · average score 0.88" in cycles

    copy = (await ok("bob", "show KR-6")).text
    assert "Start → target: 25 → 40 endpoints" in copy
    assert "Carried from KR-1 of 2026-T3." in copy
    assert "Owner: @Bob" in copy
    assert "Carried to KR-6 of 2027-Q1." in (await ok("bob", "show KR-1")).text
    carol = (await ok("carol", "show KR-7")).text
    assert "Owner: @Carol" in carol
    child = (await ok("alice", "show O-6")).text
    assert "team growth" in child and "aspirational" in child and "under O-5 Ship the API" in child
    assert "Carried from O-2 of 2026-T3." in child
    parent = (await ok("alice", "show O-5")).text
    assert "committed" in parent and "Carried from O-1 of 2026-T3." in parent
    assert "Carried to O-5 of 2027-Q1." in (await ok("alice", "show O-1")).text
    # Finished and archived work stays behind; the old cycle's history is untouched.
    assert "Carried" not in (await ok("alice", "show O-3")).text
    old = (await ok("bob", "show KR-1")).text
    assert "2026" in old and "· 25 · confidence 6" in old and "Score" not in old
    assert "[Check in" not in old  # a closed cycle's key result offers no check-in

    export = json.loads(next(b for b in (await ok("alice", "export json")).blocks if isinstance(b, File)).content)
    objectives = {o["id"]: o for o in export["objectives"]}
    krs = {kr["id"]: kr for kr in export["key_results"]}
    assert objectives["O-5"]["carried_from"] == "O-1" and objectives["O-6"]["carried_from"] == "O-2"
    assert objectives["O-6"]["parent"] == "O-5" and objectives["O-5"]["capability"] == "develop"
    assert objectives["O-1"]["carried_from"] is None
    assert krs["KR-6"]["carried_from"] == "KR-1" and krs["KR-7"]["carried_from"] == "KR-3"
    assert krs["KR-3"]["score"] == 0.9 and krs["KR-6"]["start"] == 25 and krs["KR-6"]["current"] == 25
    assert {o["cycle"] for o in objectives.values() if o["carried_from"]} == {"2027-Q1"}


async def test_a_parent_left_behind_leaves_no_link(ok) -> None:
    await build(ok)
    await ok("bob", "checkin KR-1 40")  # platform's O-1 is finished now: only growth's O-2 goes
    reply = await ok("alice", "cycle close 2026-T3 --carry-to 2027-Q1")
    assert "carried 1 unfinished key result of 1 objective" in reply.text
    child = (await ok("alice", "show O-5")).text
    assert "under" not in child and "Carried from O-2 of 2026-T3." in child


async def test_carry_over_to_an_existing_cycle(ok) -> None:
    await build(ok)
    await ok("alice", "cycle add 2026-T4 2026-10-01 2026-12-31")
    await ok("alice", "cycle close 2026-T3 --carry-to 2026-T4", "to 2026-T4")
    assert "2027-Q1" not in (await ok("alice", "cycle list")).text


async def test_nothing_unfinished_carries_nothing(ok) -> None:
    await ok("alice", 'team add growth "Growth"')
    await ok("alice", "cycle add 2026-T3 2026-07-01 2026-09-30")
    await ok("alice", 'objective add "Done" --team growth --cycle 2026-T3')
    await ok("alice", 'kr add O-1 "Launch" --target 1')
    await ok("alice", "checkin KR-1 1")
    await ok("alice", "cycle close 2026-T3 --carry-to 2027-Q1", "nothing was carried")


async def test_bad_carry_overs_are_one_sentence_and_write_nothing(ok, refused) -> None:
    await build(ok)
    await ok("alice", "cycle add 2026-T2 2026-04-01 2026-06-30")
    await ok("alice", "cycle add 2026-T5 2027-01-01 2027-03-31")
    await ok("alice", "cycle close 2026-T5")
    await refused("alice", "cycle close 2026-T3 --carry-to 2026-T3", "cannot carry its work over to itself")
    await refused("alice", "cycle close 2026-T3 --carry-to 2026-T2", "ends (2026-06-30) before 2026-T3 starts")
    await refused("alice", "cycle close 2026-T3 --carry-to 2026-T5", "Cycle 2026-T5 is closed")
    await refused("alice", "cycle close 2026-T3 --carry-to next", 'There is no cycle "next"')
    await refused("alice", "cycle close nope --carry-to 2027-Q1", 'There is no cycle "nope"')
    await refused("bob", "cycle close 2026-T3 --carry-to 2027-Q1", "Only a workspace admin")
    await refused("alice", "cycle close 2026-T3 --carry-to", "--carry-to")
    await ok("alice", "cycle close 2026-T3 --carry-to 2027-Q1")
    await refused("alice", "cycle close 2026-T3 --carry-to 2027-Q1", "Cycle 2026-T3 is closed already")


async def test_a_closed_cycle_refuses_writes(ok, refused) -> None:
    await build(ok)
    await ok("alice", "cycle close 2026-T3 --carry-to 2027-Q1")
    await refused("bob", "checkin KR-1 30", "Cycle 2026-T3 is closed")
    await refused("bob", "checkin KR-1 +1", "Cycle 2026-T3 is closed")
    await refused("bob", "grade KR-1 0.5", "Cycle 2026-T3 is closed")
    await refused("bob", 'kr add O-1 "More" --target 3', "Cycle 2026-T3 of O-1 is closed")
    await refused("bob", 'objective add "More" --team platform --cycle 2026-T3', "Cycle 2026-T3 is closed")
    # The carried copies take check-ins as any key result does.
    await ok("bob", "checkin KR-6 30 7", "Checked in KR-6")
