"""`tree` and `tree team <key>`: the alignment picture, in value-chain order.

Built on the golden organisation of test_digest.py; the whole plain text is compared, then the
order rules one by one: stages by position (not by when they were added), sub-capabilities
under their stage, "Not aligned to a capability" last, parent links shown from both ends even
when they cross teams.
"""

from __future__ import annotations

from test_digest import ORG, START, build_org, counting, ok

from bot.messages import Mention, Progress, UserText

TREE = """\
== Alignment · 2026-T4 ==
  Value chain: 1. Understand customers → 2. Develop solutions → 3. Deliver
  ---
1. Understand customers
O-1 Double qualified sign-ups · team growth · @Alice · committed
  ↓ supported by O-4 Answer within an hour (team support)
  KR-1 Weekly sign-ups · @Alice
    █████░░░░░ 50% · 150 / 200 sign-ups · 🟢 8/10
  KR-2 Monthly churn · @Dave
    █░░░░░░░░░ 12% · 7.5 / 4 % · 🟡 5/10
1.1 User research
O-5 Learn from churned users · team platform · @Bob · committed
  ---
2. Develop solutions
O-2 Ship the self-serve API · team platform · @Bob · committed
  ↓ supported by O-3 Launch API onboarding (team growth)
  KR-4 Public endpoints · @Bob
    ██░░░░░░░░ 20% · 8 / 40 · 🔴 3/10
O-3 Launch API onboarding · team growth · @Alice · aspirational
  ↑ under O-2 Ship the self-serve API (team platform)
  KR-3 Onboarding guides · @Alice
    ░░░░░░░░░░ 0% · 0 / 10 · 🟡 5/10
  ---
3. Deliver
  No objective supports this stage.
  ---
Not aligned to a capability
O-4 Answer within an hour · team support · @Carol · committed
  ↑ under O-1 Double qualified sign-ups (team growth)
  KR-5 Median first reply minutes · @Carol
    ░░░░░░░░░░ 0% · 240 / 60 min · 🟡 5/10
[chart: Value chain · 2026-T4: 3 stages, 3 teams; gaps: Deliver.]"""

TREE_GROWTH = """\
== Alignment · 2026-T4 · team growth ==
  Value chain: 1. Understand customers → 2. Develop solutions → 3. Deliver
  ---
1. Understand customers
O-1 Double qualified sign-ups · team growth · @Alice · committed
  ↓ supported by O-4 Answer within an hour (team support)
  KR-1 Weekly sign-ups · @Alice
    █████░░░░░ 50% · 150 / 200 sign-ups · 🟢 8/10
  KR-2 Monthly churn · @Dave
    █░░░░░░░░░ 12% · 7.5 / 4 % · 🟡 5/10
1.1 User research
  ---
2. Develop solutions
O-3 Launch API onboarding · team growth · @Alice · aspirational
  ↑ under O-2 Ship the self-serve API (team platform)
  KR-3 Onboarding guides · @Alice
    ░░░░░░░░░░ 0% · 0 / 10 · 🟡 5/10
  ---
3. Deliver
  No objective supports this stage in this team.
[chart: Value chain · 2026-T4 · team growth: 3 stages, 2 teams; gaps: Deliver.]"""


async def test_tree_golden(chat, clock) -> None:
    await build_org(chat, clock)
    reply = await ok(chat, "dave", "tree")
    assert reply.text == TREE
    bars = {b.ref: b for b in reply.blocks if isinstance(b, Progress)}
    assert list(bars) == ["KR-1", "KR-2", "KR-4", "KR-3", "KR-5"]  # in the order of the chain
    assert (bars["KR-4"].colour, bars["KR-4"].fraction, bars["KR-4"].confidence) == ("red", 0.2, 3)
    assert (bars["KR-1"].colour, bars["KR-5"].colour) == ("green", "yellow")
    assert Mention("dave", "Dave") in bars["KR-2"].label and UserText("Monthly churn") in bars["KR-2"].label
    spans = [s for b in reply.blocks for s in getattr(b, "text", ())]
    assert UserText("Ship the self-serve API") in spans and UserText("Understand customers") in spans


async def test_tree_team_golden(chat, clock) -> None:
    await build_org(chat, clock)
    assert (await ok(chat, "alice", "tree team growth")).text == TREE_GROWTH


async def test_tree_team_shows_links_into_other_teams(chat, clock) -> None:
    """support's objective sits under growth's: support's tree says so, and growth's says who
    supports it (test_tree_team_golden)."""
    await build_org(chat, clock)
    text, picture = (await ok(chat, "carol", "tree team support")).text.rsplit("\n", 1)
    assert picture == "[chart: Value chain · 2026-T4 · team support: 3 stages, 1 team; gaps: Deliver.]"
    assert text.endswith(
        "Not aligned to a capability\n"
        "O-4 Answer within an hour · team support · @Carol · committed\n"
        "  ↑ under O-1 Double qualified sign-ups (team growth)\n"
        "  KR-5 Median first reply minutes · @Carol\n"
        "    ░░░░░░░░░░ 0% · 240 / 60 min · 🟡 5/10"
    )
    for stage in ("1. Understand customers", "2. Develop solutions", "3. Deliver"):
        assert f"{stage}\n  No objective supports this stage in this team." in text


async def test_stages_by_position_subs_under_their_stage(chat, clock) -> None:
    clock.now = START
    await ok(chat, "alice", "cycle add 2026-T4 2026-10-05 2027-01-03")
    await ok(chat, "alice", 'capability add support "Support"')
    await ok(chat, "alice", 'capability add build "Build"')
    await ok(chat, "alice", 'capability add learn "Learn" --position 1')  # added last, first in the chain
    await ok(chat, "alice", 'capability add ops "Operations" --parent support')
    await ok(chat, "alice", 'capability add docs "Docs" --parent support --position 1')
    await ok(chat, "alice", 'capability add study "Study" --parent learn')
    await ok(chat, "alice", 'team add a "A"')
    await ok(chat, "alice", 'objective add "On ops" --team a --capability ops')
    await ok(chat, "alice", 'objective add "Nowhere" --team a')
    await ok(chat, "alice", 'objective add "On support" --team a --capability support')
    await ok(chat, "alice", 'objective add "On study" --team a --capability study')
    lines = (await ok(chat, "alice", "tree")).text.splitlines()
    headings = [x for x in lines if x[:1].isdigit() or x == "Not aligned to a capability"]
    assert headings == [
        "1. Learn",
        "1.1 Study",
        "2. Support",
        "2.1 Docs",
        "2.2 Operations",
        "3. Build",
        "Not aligned to a capability",
    ]
    assert lines[1] == "  Value chain: 1. Learn → 2. Support → 3. Build"
    objectives = [x.split(" · ")[0] for x in lines if x.startswith("O-")]
    assert objectives == ["O-4 On study", "O-3 On support", "O-1 On ops", "O-2 Nowhere"]
    assert lines[lines.index("3. Build") + 1] == "  No objective supports this stage."
    assert lines[lines.index("1. Learn") + 1] == "1.1 Study"  # fed through its sub: no "nobody" line


async def test_a_parent_in_another_cycle_or_archived_is_still_named(chat, clock) -> None:
    clock.now = START
    await ok(chat, "alice", "cycle add 2026-T3 2026-07-06 2026-10-04")
    await ok(chat, "alice", "cycle add 2026-T4 2026-10-05 2027-01-03")
    await ok(chat, "alice", 'team add a "A"')
    await ok(chat, "alice", 'team add b "B"')
    await ok(chat, "alice", 'objective add "Last quarter" --team a --cycle 2026-T3')
    await ok(chat, "alice", 'objective add "Big goal" --team a')
    await ok(chat, "alice", 'objective add "Carry on" --team b --parent O-1')
    await ok(chat, "alice", 'objective add "Help" --team b --parent O-2')
    await ok(chat, "alice", "archive O-2")
    text = (await ok(chat, "alice", "tree")).text
    assert "O-3 Carry on · team b · @Alice · committed\n  ↑ under O-1 Last quarter (team a)" in text
    assert "O-4 Help · team b · @Alice · committed\n  ↑ under O-2 Big goal (team a)" in text
    assert "O-2 Big goal · team a" not in text  # archived: not in the tree itself


async def test_no_capabilities_no_objectives(chat, clock) -> None:
    clock.now = START
    await ok(chat, "alice", "cycle add 2026-T4 2026-10-05 2027-01-03")
    await ok(chat, "alice", 'team add a "A"')
    none = "\n[chart: Value chain · 2026-T4: no value chain yet; add its stages with capability add.]"
    assert (await ok(chat, "alice", "tree")).text == "== Alignment · 2026-T4 ==\nNo objectives in 2026-T4 yet." + none
    reply = await ok(chat, "alice", "tree team a")
    assert reply.text == "== Alignment · 2026-T4 · team a ==\nTeam a has no objectives in 2026-T4 yet." + none.replace(
        "2026-T4:", "2026-T4 · team a:"
    )
    await ok(chat, "alice", 'objective add "Free" --team a')
    assert (await ok(chat, "alice", "tree")).text == (
        "== Alignment · 2026-T4 ==\n  ---\nNot aligned to a capability\nO-1 Free · team a · @Alice · committed" + none
    )


async def test_tree_of_an_unknown_team(chat, clock) -> None:
    await build_org(chat, clock)
    reply = await chat("alice", "tree team nope")
    assert reply.is_error and reply.text == 'There is no team "nope" in this workspace; `team list` shows the teams.'


async def test_tree_statements_do_not_grow_with_the_organisation(chat, clock, db) -> None:
    clock.now = START
    for workspace, teams in (("small", 1), ("large", 5)):
        for user, text in ORG[:5]:
            await ok(chat, user, text, workspace=workspace)
        await ok(chat, "alice", 'team add hub "Hub"', workspace=workspace)
        await ok(chat, "alice", 'objective add "Hub" --team hub --capability develop', workspace=workspace)
        for t in range(teams):
            await ok(chat, "alice", f'team add t{t} "T{t}"', workspace=workspace)
            for o in range(1 + 2 * t):
                where = "--capability research" if o % 2 else "--parent O-1"
                reply = await ok(chat, "alice", f'objective add "T{t} {o}" --team t{t} {where}', workspace=workspace)
                number = reply.text.split()[1]
                for k in range(1 + t):
                    await ok(chat, "alice", f'kr add {number} "T{t} {o}.{k}" --target 9', workspace=workspace)
    counts: dict[str, list[int]] = {"tree": [], "tree team t0": [], "tree team hub": []}
    for text, found in counts.items():
        for workspace in ("small", "large"):
            with counting(db) as statements:
                await ok(chat, "alice", text, workspace=workspace)
            found.append(len(statements))
        assert found[0] == found[1], (text, counts)
