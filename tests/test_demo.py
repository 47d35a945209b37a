"""`okrbot demo`: the sample organisation, loaded through the real grammar, idempotent, isolated."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pytest
from conftest import command
from sqlmodel import select

import bot.demo as demo
from bot.command import Actor, Command, WorkspaceRef
from bot.core import Bot
from bot.demo import DEMO_PLATFORM, DEMO_WORKSPACE, PEOPLE, build_script, demo_command, load_demo
from bot.messages import File
from store.db import Database
from store.models import Workspace

NOW = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)  # a Wednesday
WEEK_11 = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)  # its Monday: the cycle's eleventh week


def _at(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def _export(db: Database, cmd: Command) -> str:
    reply = await Bot(db, clock=lambda: NOW).handle(cmd)
    assert not reply.is_error, reply.text
    (block,) = reply.blocks
    assert isinstance(block, File)
    return block.content


async def _demo_export(db: Database) -> dict:  # type: ignore[type-arg]
    return json.loads(await _export(db, demo_command("amelie", "export json")))


async def _workspaces(db: Database) -> list[tuple[str, str]]:
    async with db.read() as session:
        return sorted((w.platform, w.external_id) for w in (await session.exec(select(Workspace))).all())


# ---------------------------------------------------------------------------------------------
# the data


async def test_demo_loads_a_plausible_organisation(db: Database) -> None:
    sentence = await load_demo(db, now=NOW)
    doc = await _demo_export(db)
    assert await _workspaces(db) == [(DEMO_PLATFORM, DEMO_WORKSPACE)]

    capabilities = {c["key"]: c for c in doc["capabilities"]}
    stages = sorted((c for c in capabilities.values() if c["parent"] is None), key=lambda c: c["position"])
    assert [c["position"] for c in stages] == [1, 2, 3, 4, 5]
    assert len(capabilities) > len(stages)  # some sub-capabilities
    assert all(capabilities[c["parent"]]["parent"] is None for c in capabilities.values() if c["parent"])

    teams = doc["teams"]
    assert len(teams) == 6
    for team in teams:
        assert team["lead"] in team["members"] and 2 <= len(team["members"]) <= 4, team
    people = {m["id"]: m for m in doc["members"]}
    assert 12 <= len(people) <= 18
    assert len({m["timezone"] for m in people.values()}) >= 4
    assert [m["id"] for m in people.values() if m["admin"]] == ["amelie"]

    objectives = {o["id"]: o for o in doc["objectives"]}
    krs = {k["id"]: k for k in doc["key_results"]}
    checkins = doc["check_ins"]
    assert 20 <= len(objectives) <= 30
    assert 70 <= len(krs) <= 90
    assert 500 <= len(checkins) <= 900
    assert sentence == (
        f"Loaded the demo organisation into workspace demo: 6 teams, {len(objectives)} objectives, "
        f"{len(krs)} key results, {len(checkins)} check-ins over 10 weeks of cycle 2026-W38."
    )

    # one 13-week cycle that started on the Monday ten weeks ago, used by every objective
    assert doc["cycles"] == [{"name": "2026-W38", "starts_on": "2026-09-14", "ends_on": "2026-12-13", "closed": False}]
    assert {o["cycle"] for o in objectives.values()} == {"2026-W38"}
    kinds = Counter(o["kind"] for o in objectives.values())
    assert 2 <= kinds["aspirational"] < kinds["committed"]

    # alignment: parents across teams, capabilities fed by one team, by three, and by nobody
    assert any(o["parent"] and objectives[o["parent"]]["team"] != o["team"] for o in objectives.values())
    unaligned = [o for o in objectives.values() if o["capability"] is None]
    assert 2 <= len(unaligned) <= 3
    stage_of = {key: c["parent"] or key for key, c in capabilities.items()}
    fed_by: dict[str, set[str]] = defaultdict(set)
    for o in objectives.values():
        if o["capability"]:
            fed_by[o["capability"]].add(o["team"])
            fed_by[stage_of[o["capability"]]].add(o["team"])
    assert set(capabilities) - set(fed_by), "some capability has no objective at all"
    assert any(len(fed_by[c["key"]]) == 1 for c in stages)
    assert any(len(fed_by[c["key"]]) >= 3 for c in stages)

    # key results: units, owners spread, some that go down and did go down
    assert all(k["unit"] for k in krs.values())
    assert len({k["owner"] for k in krs.values()}) >= 12
    going_down = [k for k in krs.values() if k["start"] > k["target"]]
    assert len(going_down) >= 5
    assert any(k["current"] < k["start"] for k in going_down)
    assert {"%", "ms", "NPS", "€k", "tickets"} <= {k["unit"] for k in krs.values()}

    # check-ins: the owner's own, every key result has history, none in the future
    by_kr: dict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for c in checkins:
        assert c["member"] == krs[c["key_result"]]["owner"]
        assert dt.datetime(2026, 9, 14, tzinfo=dt.UTC) < _at(c["at"]) <= NOW
        by_kr[c["key_result"]].append(c)
    assert set(by_kr) == set(krs)
    for kr_id, history in by_kr.items():
        latest = max(history, key=lambda c: _at(c["at"]))
        assert (krs[kr_id]["current"], krs[kr_id]["confidence"]) == (latest["value"], latest["confidence"])
        assert len(history) == len({_at(c["at"]).isocalendar().week for c in history}), "one check-in a week"

    # past weeks: on the owner's Friday morning, local time
    for c in checkins:
        local = _at(c["at"]).astimezone(ZoneInfo(people[c["member"]]["timezone"]))
        if _at(c["at"]) < WEEK_11:
            assert local.weekday() == 4 and 9 <= local.hour <= 11, c

    # tracking: stale owners, some skipped weeks, this week partly done, red confidence, notes
    latest_at = {kr_id: max(_at(c["at"]) for c in history) for kr_id, history in by_kr.items()}
    stale = [kr_id for kr_id, at in latest_at.items() if at < NOW - dt.timedelta(days=14)]
    assert stale and {krs[k]["owner"] for k in stale} == {"kenji"}
    this_week = {c["member"] for c in checkins if _at(c["at"]) >= WEEK_11}
    assert 3 <= len(this_week) < len(people) - 2
    assert sum(len(h) < 10 for h in by_kr.values()) >= 10, "some owners skipped weeks"
    assert any(h == 10 for h in map(len, by_kr.values()))
    confidences = Counter(k["confidence"] for k in krs.values())
    assert 3 <= sum(confidences[n] for n in range(4)) <= len(krs) // 3
    assert sum(confidences[n] for n in range(7, 11)) >= len(krs) // 3
    assert sum(bool(c["note"]) for c in checkins) > len(checkins) // 3
    assert {c["source"] for c in checkins} == {"demo"}

    # progress is plausible: most key results moved towards the target, a few barely moved
    def progress(k: dict) -> float:  # type: ignore[type-arg]
        return max(0.0, min(1.0, (k["current"] - k["start"]) / (k["target"] - k["start"])))

    shares = sorted(progress(k) for k in krs.values())
    stuck = [k for k in krs.values() if progress(k) < 0.2 and k["owner"] != "kenji"]
    assert stuck and all(k["confidence"] <= 4 for k in stuck), "a key result that does not move is not green"
    assert shares[len(shares) // 2] > 0.4 and shares[0] < 0.2 and shares[-1] == 1.0


async def test_alignment_reads_work_on_the_demo(db: Database) -> None:
    await load_demo(db, now=NOW)
    bot = Bot(db, clock=lambda: NOW)
    listing = await bot.handle(demo_command("priya", "list all"))
    assert not listing.is_error and "O-1 " in listing.text and "Win the remote mid-market" in listing.text
    shown = await bot.handle(demo_command("kenji", "show KR-38"))
    assert not shown.is_error and "Slow queries" in shown.text and "Kenji Watanabe" in shown.text
    chain = await bot.handle(demo_command("amelie", "capability list"))
    assert "1.2 Product analytics (analytics)" in chain.text


# ---------------------------------------------------------------------------------------------
# idempotent and isolated


async def test_second_run_changes_nothing_and_other_workspaces_are_untouched(db: Database) -> None:
    bot = Bot(db, clock=lambda: NOW)
    other = [
        'team add growth "Growth"',
        'objective add "Grow revenue" --team growth',
        'kr add O-1 "New customers" --target 50 --unit customers',
        "checkin KR-1 10 6 first deals",
    ]
    for text in other:
        assert not (await bot.handle(command("alice", text))).is_error
    # a Slack workspace that happens to be called "demo" is not the demo either
    slack_demo = Command(WorkspaceRef("slack", DEMO_WORKSPACE, "demo"), Actor("U1", "Uma"), "")
    for text in ['team add ops "Ops"', 'objective add "Keep the lights on" --team ops']:
        assert not (await bot.handle(Command(slack_demo.workspace, slack_demo.actor, text))).is_error
    acme_before = await _export(db, command("alice", "export json"))
    slack_before = await _export(db, Command(slack_demo.workspace, slack_demo.actor, "export json"))

    first = await load_demo(db, now=NOW)
    assert first.startswith("Loaded the demo organisation into workspace demo: 6 teams")
    demo_after_first = await _export(db, demo_command("amelie", "export json"))
    assert json.loads(demo_after_first)["objectives"][0]["id"] == "O-1"  # numbered in its own workspace

    second = await load_demo(db, now=NOW + dt.timedelta(days=3))
    assert second == "The demo organisation is already loaded in workspace demo; nothing changed."
    assert await _export(db, demo_command("amelie", "export json")) == demo_after_first
    assert await _export(db, command("alice", "export json")) == acme_before
    assert await _export(db, Command(slack_demo.workspace, slack_demo.actor, "export json")) == slack_before
    assert await _workspaces(db) == [("local", "acme"), ("local", "demo"), ("slack", "demo")]


async def test_an_interrupted_load_is_completed(db: Database) -> None:
    """A demo workspace with some of the setup but no objectives yet is finished, not refused."""
    bot = Bot(db, clock=lambda: NOW - dt.timedelta(weeks=10))
    for who, text in [("amelie", 'team add product "Product"'), ("tomas", "team join product")]:
        assert not (await bot.handle(demo_command(who, text))).is_error
    assert not (await bot.handle(demo_command("amelie", 'capability add understand "Understand customers"'))).is_error

    sentence = await load_demo(db, now=NOW)
    assert sentence.startswith("Loaded the demo organisation into workspace demo: 6 teams, 25 objectives, 80 key")
    doc = await _demo_export(db)
    assert len(doc["teams"]) == 6 and len(doc["capabilities"]) == len(demo.CAPABILITIES)
    product = next(t for t in doc["teams"] if t["key"] == "product")
    assert sorted(product["members"]) == ["amelie", "hannah", "tomas"]


async def test_a_refused_command_stops_the_load(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = demo.Obj("x", "product", "amelie", "Supports a capability that does not exist", "nowhere", None, ())
    monkeypatch.setattr(demo, "OBJECTIVES", (demo.OBJECTIVES[0], broken))
    with pytest.raises(RuntimeError, match='There is no capability "nowhere"'):
        await load_demo(db, now=NOW)


# ---------------------------------------------------------------------------------------------
# the script, without a database


@pytest.mark.parametrize(
    ("now", "timezone"),
    [
        (NOW, "UTC"),
        (dt.datetime(2026, 11, 23, 0, 30, tzinfo=dt.UTC), "UTC"),  # Monday, just after midnight
        (dt.datetime(2026, 11, 29, 23, 0, tzinfo=dt.UTC), "Europe/Paris"),  # Monday already in Paris
        (dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC), "America/Los_Angeles"),  # across a year end
        (dt.datetime(2026, 3, 27, 8, 0), "Asia/Tokyo"),  # naive: read as UTC; DST changes in the cycle
    ],
)
def test_script_is_deterministic_and_never_in_the_future(now: dt.datetime, timezone: str) -> None:
    script = build_script(now, timezone)
    assert build_script(now, timezone) == script and script.steps == build_script(now, timezone).steps
    aware = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    today = aware.astimezone(ZoneInfo(timezone)).date()
    assert script.starts_on.weekday() == 0 and (today - script.starts_on).days // 7 == 10  # week 11
    assert (script.ends_on - script.starts_on).days == 13 * 7 - 1
    iso = script.starts_on.isocalendar()
    assert script.cycle == f"{iso.year}-W{iso.week:02d}"
    assert all(step.at <= aware for step in script.steps)
    checkins = [s for s in script.steps if s.text.startswith("checkin ")]
    assert 700 <= len(checkins) <= 900
    assert all(a.at <= b.at for a, b in zip(checkins, checkins[1:], strict=False))
    assert {s.who for s in script.steps} == set(PEOPLE)


def test_scripts_differ_only_in_their_dates() -> None:
    """The same people say the same things in every load; only the calendar moves."""
    later = dt.timedelta(weeks=5)
    a, b = build_script(NOW), build_script(NOW + later)

    def history(script: demo.Script, before: dt.datetime) -> Counter[tuple[str, str]]:
        steps = [s for s in script.steps if s.at < before and not s.text.startswith("cycle add")]
        return Counter((s.who, s.text.replace(script.cycle, "C")) for s in steps)

    assert history(a, WEEK_11) == history(b, WEEK_11 + later)
    assert a.cycle == "2026-W38" and b.cycle == "2026-W43"
