"""The end-of-cycle review (`cycle review [<name>] [team <key> | all]`).

A hand-made cycle of 13 weeks whose scores are known is built through the chat, with check-ins
on chosen weeks and two grades; the clock is then moved past its end and the review's figures
are read one by one: scores, delivered or missed, the aspirational average against 0.7,
participation, misses and best results, the value chain. Then the default cycle, the refusals,
the chart, and the digest subscription that posts the review in the week after the end.
"""

from __future__ import annotations

import datetime as dt
import io
import struct

import matplotlib.image
import pytest

from bot import charts
from bot.alignment import scheduled_digest
from bot.messages import Image, Message, UserText
from store.repo import Repo, identity

START = dt.datetime(2026, 7, 6, 9, 0, tzinfo=dt.UTC)  # Monday, day 1 of 2026-T3
AFTER = dt.datetime(2026, 10, 7, 9, 0, tzinfo=dt.UTC)  # Wednesday, three days after its end
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Scores (kr.score when graded, else progress):
#   growth   O-1 committed    (research → Understand)  KR-1 alice 1.00, KR-2 dave 1.00  → delivered
#   growth   O-2 aspirational (Develop)                KR-3 alice 0.80, KR-4 alice graded 0.68 → 0.74 ✓
#   platform O-3 committed    (Develop)                KR-5 bob 0.75, KR-6 bob graded 0.25 → missed
#   platform O-4 aspirational (Understand)             KR-7 bob 0.50 → 0.50 ✗
# Deliver has no objective.
ORG = [
    ("alice", "cycle add 2026-T3 2026-07-06 2026-10-04"),
    ("alice", "cycle add 2026-T4 2026-10-05 2027-01-03"),
    ("alice", 'capability add understand "Understand customers" --position 1'),
    ("alice", 'capability add develop "Develop solutions" --position 2'),
    ("alice", 'capability add deliver "Deliver" --position 3'),
    ("alice", 'capability add research "User research" --parent understand'),
    ("alice", 'team add growth "Growth"'),
    ("bob", 'team add platform "Platform"'),
    ("alice", 'objective add "Double <!channel> sign-ups" --team growth --capability research'),
    ("alice", 'objective add "Launch onboarding" --team growth --capability develop --aspirational'),
    ("bob", 'objective add "Ship the API" --team platform --capability develop'),
    ("bob", 'objective add "Learn from churn" --team platform --capability understand --aspirational'),
    ("alice", 'kr add O-1 "Weekly sign-ups" --target 100'),
    ("alice", 'kr add O-1 "Partners" --target 10 --owner <@dave|Dave>'),
    ("alice", 'kr add O-2 "Guides" --target 10'),
    ("alice", 'kr add O-2 "Churn" --start 8 --target 4 --unit %'),
    ("bob", 'kr add O-3 "Endpoints" --target 40'),
    ("bob", 'kr add O-3 "SDKs" --target 5'),
    ("bob", 'kr add O-4 "Interviews" --target 10'),
]

# (week of the cycle, who, check-in): alice in weeks 1, 2, 5, 13; dave in week 3; bob 1–10.
CHECK_INS = [
    (1, "alice", "checkin KR-1 50 6"),
    (2, "alice", "checkin KR-3 4 6"),
    (3, "dave", "checkin KR-2 10 9"),
    (5, "alice", "checkin KR-1 100 9"),
    (13, "alice", "checkin KR-3 8 7"),
    (13, "alice", "checkin KR-4 6 5"),
    *[(week, "bob", f"checkin KR-5 {3 * week} 6") for week in range(1, 11)],
    (10, "bob", "checkin KR-7 5 4"),
]


async def ok(chat, user: str, text: str) -> Message:  # type: ignore[no-untyped-def]
    reply = await chat(user, text)
    assert not reply.is_error, f"{text!r} was refused: {reply.text}"
    return reply


async def build(chat, clock) -> None:  # type: ignore[no-untyped-def]
    """The cycle above, its grades given in its last week, the clock left three days after it."""
    clock.now = START
    for user, text in ORG:
        await ok(chat, user, text)
    for week, user, text in CHECK_INS:
        clock.now = START + dt.timedelta(weeks=week - 1, hours=2)
        await ok(chat, user, text)
    await ok(chat, "alice", "grade KR-4 0.68")
    await ok(chat, "bob", "grade KR-6 0.25")
    clock.now = AFTER


def lines(reply: Message) -> list[str]:
    return [line.strip() for line in reply.text.splitlines()]


def section(reply: Message, title: str) -> list[str]:
    """The lines under a bold title, up to the next title."""
    found = lines(reply)
    start = found.index(title) + 1
    titles = {"Participation", "Biggest misses", "Best results", "The value chain", "Teams"}
    end = next((i for i in range(start, len(found)) if found[i] in titles or found[i].startswith("[chart")), None)
    return found[start:end]


async def test_a_team_review_has_the_scores_verdicts_and_participation(chat, clock) -> None:
    await build(chat, clock)
    reply = await ok(chat, "alice", "cycle review team growth")
    assert reply.visibility == "channel"
    text = lines(reply)
    assert text[:3] == [
        "== Cycle review · 2026-T3 · team growth (Growth) ==",
        "2026-T3 · ended 2026-10-04 · 13 weeks",
        "Committed delivered 1/1 · aspirational average 0.74 ≥ 0.7 ✓.",
    ]
    assert "O-1 Double <!channel> sign-ups — committed · delivered" in text
    assert "KR-1 Weekly sign-ups · @Alice · 1.00" in text
    assert "KR-2 Partners · @Dave · 1.00" in text
    assert "O-2 Launch onboarding — aspirational · average 0.74 ≥ 0.7 ✓" in text
    assert "KR-3 Guides · @Alice · 0.80" in text
    assert "KR-4 Churn · @Alice · 0.68 (graded)" in text
    assert section(reply, "Participation") == [
        "@Alice: checked in 4 of 13 weeks (31%)",
        "@Dave: checked in 1 of 13 weeks (8%)",
    ]
    assert section(reply, "Biggest misses") == ["KR-4 Churn · @Alice · 0.68 (graded)"]
    assert section(reply, "Best results") == [
        "KR-1 Weekly sign-ups · @Alice · 1.00",
        "KR-2 Partners · @Dave · 1.00",
        "KR-3 Guides · @Alice · 0.80",
    ]
    assert section(reply, "The value chain") == [
        "1. Understand customers: 0.83 over 3 key results · team growth 1.00",
        "2. Develop solutions: 0.62 over 4 key results · team growth 0.74",
        "3. Deliver: nobody supported it",
        "Nobody supported: Deliver",
    ]
    # what people typed stays their text, for every surface to escape
    titles = [s for b in reply.blocks for s in getattr(b, "text", ()) if isinstance(s, UserText)]
    assert UserText("Double <!channel> sign-ups") in titles and UserText("Growth") in titles


async def test_a_missed_commitment_and_an_aspiration_under_the_line(chat, clock) -> None:
    await build(chat, clock)
    reply = await ok(chat, "bob", "cycle review team platform")
    text = lines(reply)
    assert text[2] == "Committed delivered 0/1 · aspirational average 0.50 < 0.7 ✗."
    assert "O-3 Ship the API — committed · missed" in text
    assert "O-4 Learn from churn — aspirational · average 0.50 < 0.7 ✗" in text
    assert section(reply, "Participation") == ["@Bob: checked in 10 of 13 weeks (77%)"]
    assert section(reply, "Biggest misses") == [
        "KR-6 SDKs · @Bob · 0.25 (graded)",
        "KR-7 Interviews · @Bob · 0.50",
        "KR-5 Endpoints · @Bob · 0.75",
    ]
    assert section(reply, "Best results") == ["None: no key result reached its bar."]
    assert section(reply, "The value chain")[:2] == [
        "1. Understand customers: 0.83 over 3 key results · team platform 0.50",
        "2. Develop solutions: 0.62 over 4 key results · team platform 0.50",
    ]


async def test_the_organisation_review(chat, clock) -> None:
    await build(chat, clock)
    for text in ("cycle review all", "cycle review 2026-T3 all"):
        reply = await ok(chat, "alice", text)
        assert lines(reply)[0] == "== Cycle review · 2026-T3 · the whole organisation =="
        assert section(reply, "Teams") == [
            "growth: committed delivered 1/1 · aspirational average 0.74 ≥ 0.7 ✓",
            "platform: committed delivered 0/1 · aspirational average 0.50 < 0.7 ✗",
        ]
        assert section(reply, "Biggest misses") == [
            "KR-6 SDKs · @Bob · 0.25 (graded)",
            "KR-7 Interviews · @Bob · 0.50",
            "KR-4 Churn · @Alice · 0.68 (graded)",
        ]
        assert section(reply, "Best results") == [
            "KR-1 Weekly sign-ups · @Alice · 1.00",
            "KR-2 Partners · @Dave · 1.00",
            "KR-3 Guides · @Alice · 0.80",
        ]
        assert section(reply, "The value chain") == [
            "1. Understand customers: 0.83 over 3 key results",
            "2. Develop solutions: 0.62 over 4 key results",
            "3. Deliver: nobody supported it",
            "Nobody supported: Deliver",
        ]


async def test_a_check_in_after_the_end_is_no_week_of_the_cycle(chat, clock) -> None:
    await build(chat, clock)
    await ok(chat, "dave", "checkin KR-2 10 9")  # in 2026-T4's first week
    reply = await ok(chat, "alice", "cycle review team growth")
    assert "@Dave: checked in 1 of 13 weeks (8%)" in lines(reply)


async def test_the_default_cycle_is_the_last_ended_else_the_current(chat, clock) -> None:
    await build(chat, clock)
    # 2026-T4 is current, but 2026-T3 is the one that ended
    assert lines(await ok(chat, "dave", "cycle review"))[0] == "== Cycle review · 2026-T3 · the whole organisation =="
    assert lines(await ok(chat, "alice", "cycle review"))[0].startswith("== Cycle review · 2026-T3 · team growth")
    fresh = await ok(chat, "alice", "cycle review 2026-T4 team growth")
    assert lines(fresh)[:3] == [
        "== Cycle review · 2026-T4 · team growth (Growth) ==",
        "2026-T4 · week 1 of 13 · 3% of the time elapsed",
        "No objectives in 2026-T4.",
    ]
    clock.now = START + dt.timedelta(weeks=6)  # nothing has ended yet: the current cycle
    reply = await ok(chat, "bob", "cycle review")
    assert lines(reply)[:2] == [
        "== Cycle review · 2026-T3 · team platform (Platform) ==",
        "2026-T3 · week 7 of 13 · 47% of the time elapsed",
    ]
    assert "@Bob: checked in 7 of 7 weeks (100%)" in lines(reply)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cycle review 2025-Q9", 'There is no cycle "2025-Q9" in this workspace; `cycle list` shows them.'),
        ("cycle review team nope", 'There is no team "nope"'),
        ("cycle review team", "The team's key is missing. Use: cycle review [<name>] [team <key> | all]"),
        ("cycle review all growth", '"growth" is more than cycle review takes.'),
        ("cycle review 2026-T3 every", 'After the cycle\'s name comes team <key> or all, not "every".'),
    ],
)
async def test_wrong_input_is_one_sentence(chat, clock, refused, text: str, words: str) -> None:
    await build(chat, clock)
    await refused("alice", text, words)


async def test_someone_in_two_teams_says_which(chat, clock, refused) -> None:
    await build(chat, clock)
    await ok(chat, "alice", "team join platform")
    await refused("alice", "cycle review", "You are in teams growth, platform; say which with cycle review team <key>")


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


async def test_the_chart_is_a_png_that_says_what_it_shows(chat, clock) -> None:
    await build(chat, clock)
    reply = await ok(chat, "alice", "cycle review all")
    (image,) = [b for b in reply.blocks if isinstance(b, Image)]
    assert image.name == "review-all.png" and _png_size(image.png) == (800, 500)
    assert matplotlib.image.imread(io.BytesIO(image.png), format="png").shape[:2] == (500, 800)
    assert image.alt == (
        "Bar chart of the average key-result score of each team in 2026-T3, committed and aspirational "
        "objectives side by side, against the 0.7 success line: growth committed 1.00, aspirational 0.74; "
        "platform committed 0.50, aspirational 0.50."
    )
    (team_image,) = [b for b in (await ok(chat, "alice", "cycle review team growth")).blocks if isinstance(b, Image)]
    assert team_image.name == "review-growth.png" and team_image.alt.startswith(
        "Bar chart of the average key-result score of team growth in 2026-T3"
    )


def test_the_review_chart_draws_both_kinds_and_the_line() -> None:
    both = charts.render_review("t", {"a": (1.0, 0.74), "b": (0.5, None)})
    empty = charts.render_review("t", {})
    assert both.startswith(PNG_SIGNATURE) and empty.startswith(PNG_SIGNATURE)
    assert both != charts.render_review("t", {"a": (1.0, None), "b": (0.5, None)})  # the aspirational bar shows


async def _scheduled(db, clock, when: dt.datetime) -> dict[str, Message | None]:  # type: ignore[no-untyped-def]
    """What each digest subscription would post at ``when``, by its scope."""
    async with db.read() as session:
        workspace, _ = await identity(session, "local", "acme", "alice")
        assert workspace is not None and workspace.id is not None
        repo = Repo(session, workspace.id)
        teams = {t.id: t.key for t in await repo.teams()}
        out: dict[str, Message | None] = {}
        for schedule in await repo.schedules():
            if schedule.what == "digest":
                scope = teams[schedule.team_id] if schedule.team_id is not None else "all"
                out[scope] = await scheduled_digest(session, schedule, when)
        return out


async def test_a_digest_subscription_posts_the_review_in_the_week_after_the_end(chat, clock, db) -> None:
    await build(chat, clock)
    await ok(chat, "alice", "subscribe digest all")
    await ok(chat, "alice", "subscribe digest team growth")
    for day in (dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC), dt.datetime(2026, 10, 11, 9, tzinfo=dt.UTC)):
        posted = await _scheduled(db, clock, day)
        assert posted["all"] is not None and posted["growth"] is not None
        assert posted["all"].text.startswith("== Cycle review · 2026-T3 · the whole organisation ==")
        assert posted["growth"].text.startswith("== Cycle review · 2026-T3 · team growth (Growth) ==")
        assert posted["all"].visibility == "channel"
    later = await _scheduled(db, clock, dt.datetime(2026, 10, 12, 9, tzinfo=dt.UTC))  # eight days after
    assert later["all"] is not None and later["growth"] is not None
    assert later["all"].text.startswith("== Digest · the whole organisation ==")
    assert later["growth"].text.startswith("== Digest · team growth (Growth) ==")
