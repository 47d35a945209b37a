"""`okrbot demo`: a sample organisation with ten weeks of history, loaded through the real grammar.

A small SaaS company: a value chain of five stages (two with sub-capabilities), six teams of
fifteen people in six timezones, 25 objectives that support each other across teams, 80 key
results and weekly check-ins on each owner's Friday morning, some ahead, some behind, a few
stuck, with some people skipping weeks and one who stopped checking in. Every row is written by
:meth:`Bot.handle` with a clock moved back in time, so the demo is exactly what people typing
the commands would have produced; a reply that is an error stops the load with that reply.

The data is the same on every run (a seeded :class:`random.Random`, dates relative to ``now``).
Loading is idempotent: a demo workspace that already holds objectives is left as it is, and no
other workspace is ever read or written.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.command import Actor, Command, Platform, WorkspaceRef
from bot.context import zone
from bot.core import Bot
from store.db import Database
from store.repo import Repo, workspace_by_external

DEMO_PLATFORM: Platform = "local"
DEMO_WORKSPACE = "demo"
DEMO_NAME = "Demo"
SEED = 20261125
WEEKS_OF_HISTORY = 10  # today is in week 11 of the cycle
CYCLE_WEEKS = 13


# ---------------------------------------------------------------------------------------------
# the organisation


@dataclass(frozen=True, slots=True)
class Person:
    id: str  # what `okrbot chat --user <id>` and @<id> use
    name: str
    timezone: str


PEOPLE: dict[str, Person] = {
    p.id: p
    for p in (
        Person("amelie", "Amélie Laurent", "Europe/Paris"),
        Person("tomas", "Tomás Rivera", "Europe/Madrid"),
        Person("hannah", "Hannah Becker", "Europe/Berlin"),
        Person("priya", "Priya Raman", "Asia/Kolkata"),
        Person("jonas", "Jonas Weber", "Europe/Berlin"),
        Person("daniel", "Daniel Okafor", "Europe/London"),
        Person("arjun", "Arjun Mehta", "Asia/Kolkata"),
        Person("sofia", "Sofia Lindqvist", "Europe/Stockholm"),
        Person("kenji", "Kenji Watanabe", "Asia/Tokyo"),
        Person("marcus", "Marcus Johnson", "America/New_York"),
        Person("chloe", "Chloé Martin", "Europe/Paris"),
        Person("rachel", "Rachel Goldberg", "America/New_York"),
        Person("diego", "Diego Hernández", "America/Mexico_City"),
        Person("aisha", "Aisha Khan", "Europe/London"),
        Person("noah", "Noah Williams", "America/Chicago"),
    )
}

# key, name, lead, other members (the first team's lead speaks first and is the workspace admin)
TEAMS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("product", "Product", "amelie", ("tomas", "hannah")),
    ("research", "Customer Research", "priya", ("jonas", "hannah")),
    ("platform", "Platform", "daniel", ("arjun", "sofia", "kenji")),
    ("growth", "Growth Marketing", "marcus", ("chloe",)),
    ("sales", "Sales", "rachel", ("diego",)),
    ("success", "Customer Success", "aisha", ("noah",)),
)

# key, name, parent stage (None: a stage of the value chain, in this order)
CAPABILITIES: tuple[tuple[str, str, str | None], ...] = (
    ("understand", "Understand customers", None),
    ("develop", "Develop solutions", None),
    ("market", "Market & sell", None),
    ("deliver", "Deliver & onboard", None),
    ("support", "Support & grow", None),
    ("discovery", "Discovery research", "understand"),
    ("analytics", "Product analytics", "understand"),  # deliberately nobody works on it
    ("onboarding", "Customer onboarding", "deliver"),
    ("reliability", "Reliability & operations", "deliver"),
)

# How a key result moves over the cycle: progress as a function of the elapsed share ``e``,
# and confidence drifting from the first value to the last.
TRENDS: dict[str, tuple[Callable[[float], float], int, int]] = {
    "ahead": (lambda e: 1.35 * e + 0.04, 7, 9),
    "on": (lambda e: 1.0 * e, 7, 7),
    "late": (lambda e: 1.25 * e**1.7, 5, 7),
    "behind": (lambda e: 0.5 * e, 6, 4),
    "stuck": (lambda e: min(0.14, 0.6 * e), 6, 2),
    "done": (lambda e: min(1.0, 1.8 * e), 8, 10),
}


@dataclass(frozen=True, slots=True)
class KR:
    title: str
    start: float
    target: float
    unit: str
    owner: str
    trend: str
    decimals: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Obj:
    label: str
    team: str
    owner: str
    title: str
    capability: str | None
    parent: str | None
    krs: tuple[KR, ...]
    aspirational: bool = False


OBJECTIVES: tuple[Obj, ...] = (
    Obj("company", "product", "amelie", "Win the remote mid-market: teams of 50-500 choose us first", None, None, (
        KR("Weekly active teams", 420, 800, "teams", "amelie", "behind"),
        KR("Net revenue retention", 98, 110, "%", "aisha", "on", 1),
        KR("Mid-market customers (50-500 seats)", 35, 60, "customers", "rachel", "late"),
    )),
    Obj("arr", "sales", "rachel", "Reach €1.2M ARR by the end of the cycle", "market", "company", (
        KR("ARR", 840, 1200, "€k", "rachel", "behind", notes=(
            "Two renewals slipped to next month.", "Big logo signed, but smaller than forecast.",
        )),
        KR("New mid-market deals closed", 0, 18, "deals", "diego", "on"),
        KR("Average deal size", 14, 20, "€k", "rachel", "stuck", 1, notes=(
            "Still discounting too much to close before month end.",
        )),
        KR("Pipeline sourced by partners", 50, 200, "€k", "rachel", "ahead"),
    )),
    Obj("retention", "success", "aisha", "Customers stay and grow with us", "support", "company", (
        KR("Monthly logo churn", 2.4, 1.2, "%", "aisha", "on", 1, notes=(
            "Two small accounts churned after budget cuts.", "Save desk is working: 3 of 4 saved.",
        )),
        KR("NPS", 31, 45, "NPS", "noah", "ahead"),
        KR("Accounts with an executive sponsor", 40, 80, "%", "aisha", "behind", 1),
    )),
    Obj("abandon", "research", "priya", "Know why teams abandon OKRs after their first quarter", "discovery", "retention", (
        KR("Interviews with churned customers", 0, 25, "interviews", "priya", "ahead"),
        KR("Abandonment reasons validated with survey data", 0, 5, "reasons", "jonas", "on"),
        KR("Survey responses from lapsed teams", 0, 300, "responses", "priya", "late"),
    )),
    Obj("calls", "research", "jonas", "Everyone in the company talks to a customer every month", "discovery", "company", (
        KR("Employees who joined a customer call this month", 20, 100, "%", "jonas", "behind"),
        KR("Customer calls in the research library", 12, 150, "calls", "jonas", "on"),
        KR("Teams with a named research buddy", 1, 6, "teams", "hannah", "done"),
    ), aspirational=True),
    Obj("leads", "research", "priya", "Map what team leads in remote companies need from OKRs", "understand", "company", (
        KR("Team-lead interviews", 0, 30, "interviews", "priya", "on"),
        KR("Opportunities ranked with product", 0, 10, "opportunities", "hannah", "ahead"),
        KR("Top jobs tested with prototypes", 0, 3, "jobs", "jonas", "stuck", notes=(
            "Prototype tests keep getting bumped by the beta.",
        )),
    )),
    Obj("alignment", "product", "tomas", "Ship the alignment view customers keep asking for", "develop", "company", (
        KR("Beta teams using the tree view weekly", 0, 40, "teams", "tomas", "on", notes=(
            "Five more beta teams onboarded this week.", "Beta feedback: they want to collapse capabilities.",
        )),
        KR("Task success in alignment usability tests", 55, 90, "%", "hannah", "ahead"),
        KR("Open P1 bugs on the alignment view", 14, 0, "bugs", "tomas", "late"),
        KR("Digests sent with the cross-team section", 0, 500, "digests", "amelie", "behind"),
    )),
    Obj("fastcheckin", "product", "hannah", "Make the weekly check-in take under 30 seconds", "develop", "retention", (
        KR("Median check-in time", 95, 30, "s", "hannah", "on", notes=(
            "One-tap confidence shipped; median dropped again.",
        )),
        KR("Check-ins answered within 24 h of the prompt", 48, 75, "%", "hannah", "behind", 1),
        KR("Check-ins made from mobile", 12, 35, "%", "tomas", "ahead", 1),
    )),
    Obj("msteams", "product", "amelie", "Launch the Microsoft Teams app", "develop", "arr", (
        KR("Store certification steps completed", 0, 8, "steps", "amelie", "behind", notes=(
            "Certification feedback came back with 6 findings.", "Waiting on Microsoft's review queue.",
        )),
        KR("Tenants with the Teams app installed", 0, 100, "tenants", "tomas", "stuck"),
        KR("Feature parity with the Slack app", 40, 100, "%", "arjun", "late"),
    ), aspirational=True),
    Obj("firstweek", "product", "hannah", "Get every new team to its first check-in in week one", "onboarding", "retention", (
        KR("New teams checking in within 7 days", 38, 70, "%", "hannah", "on", 1),
        KR("Days to the first objective", 3.5, 1, "days", "tomas", "ahead", 1),
        KR("Onboarding emails opened", 41, 60, "%", "chloe", "on", 1),
    )),
    Obj("platform", "platform", "daniel", "Run a platform customers never have to think about", "reliability", "retention", (
        KR("Monthly uptime", 99.5, 99.95, "%", "daniel", "on", 2),
        KR("Sev-1 incidents per month", 4, 1, "incidents", "daniel", "ahead"),
        KR("Mean time to recovery", 95, 30, "min", "sofia", "behind", notes=(
            "Runbooks still missing for the queue workers.",
        )),
    )),
    Obj("fast", "platform", "arjun", "Make every page feel instant", "reliability", "platform", (
        KR("p95 API latency", 820, 300, "ms", "arjun", "on", notes=(
            "Cached the objective tree; p95 down on the dashboard endpoints.",
            "Connection pool tuning helped less than hoped.",
        )),
        KR("p95 dashboard load time", 3.8, 1.5, "s", "arjun", "behind", 1),
        KR("Slow queries over 1 s per day", 220, 20, "queries", "kenji", "stuck"),
    )),
    Obj("soc2", "platform", "sofia", "Pass the SOC 2 Type II audit", "market", "arr", (
        KR("SOC 2 controls in place", 46, 82, "controls", "sofia", "ahead"),
        KR("Security policies approved", 3, 18, "policies", "sofia", "done"),
        KR("Vendors with a security review", 10, 40, "vendors", "daniel", "behind"),
    )),
    Obj("cloud", "platform", "kenji", "Cut cloud spend without slowing anything down", None, None, (
        KR("Monthly cloud bill", 48, 36, "€k", "kenji", "on", 1),
        KR("Idle compute", 35, 10, "%", "kenji", "ahead"),
        KR("Services on autoscaling", 4, 20, "services", "kenji", "behind"),
    )),
    Obj("shipping", "platform", "daniel", "Ship to production every day without drama", "develop", "alignment", (
        KR("Deploys per week", 6, 25, "deploys", "daniel", "ahead"),
        KR("Change failure rate", 18, 5, "%", "arjun", "on"),
        KR("CI pipeline duration", 24, 8, "min", "sofia", "stuck", notes=(
            "Flaky browser tests again; parallelising is blocked.",
        )),
    )),
    Obj("organic", "growth", "marcus", "Double qualified sign-ups from organic channels", "market", "arr", (
        KR("Organic sign-ups per week", 310, 620, "sign-ups", "marcus", "behind", notes=(
            "Google core update hit our comparison pages.",
        )),
        KR("Monthly organic visits", 42000, 80000, "visits", "chloe", "on"),
        KR("Sign-ups that become an active team", 22, 35, "%", "marcus", "late", 1),
        KR("Comparison pages published", 2, 12, "pages", "chloe", "ahead"),
    )),
    Obj("plg", "growth", "chloe", "Turn the free plan into a sales channel", "market", "arr", (
        KR("Free-to-paid conversion", 2.1, 4, "%", "chloe", "behind", 1),
        KR("Product-qualified leads passed to sales per month", 15, 60, "PQLs", "marcus", "on"),
        KR("PQLs that book a demo", 10, 30, "%", "diego", "stuck"),
    )),
    Obj("voice", "growth", "marcus", "Become the reference voice on remote OKRs", "market", "company", (
        KR("Newsletter subscribers", 3200, 10000, "subscribers", "marcus", "on"),
        KR("Podcast episodes with customers' leaders", 0, 8, "episodes", "chloe", "behind"),
        KR("Backlinks from industry sites", 40, 150, "backlinks", "marcus", "stuck"),
    ), aspirational=True),
    Obj("motion", "sales", "diego", "Build a repeatable mid-market sales motion", "market", "arr", (
        KR("Qualified pipeline", 380, 900, "€k", "diego", "on"),
        KR("Win rate on qualified opportunities", 18, 28, "%", "diego", "behind", 1),
        KR("Sales cycle length", 64, 40, "days", "rachel", "late"),
        KR("Deals with a mutual action plan", 10, 80, "%", "diego", "ahead"),
    )),
    Obj("dach", "sales", "rachel", "Open the DACH market", "market", "arr", (
        KR("German-speaking customers", 3, 20, "customers", "rachel", "behind"),
        KR("Partner agencies signed in DACH", 0, 4, "partners", "rachel", "stuck", notes=(
            "Partner contracts stuck with legal.",
        )),
        KR("German localisation completed", 0, 100, "%", "tomas", "ahead"),
    ), aspirational=True),
    Obj("support", "success", "noah", "Answer customers faster and better", "support", "retention", (
        KR("First response time", 9, 2, "h", "noah", "on", 1),
        KR("Open support tickets", 180, 60, "tickets", "noah", "behind", notes=(
            "Backlog grew after the pricing change emails.", "Two people out sick; backlog up.",
        )),
        KR("CSAT", 86, 94, "%", "aisha", "ahead", 1),
        KR("Tickets solved by help-centre articles", 8, 25, "%", "noah", "late", 1),
    )),
    Obj("expansion", "success", "aisha", "Grow revenue from the accounts we have", "support", "arr", (
        KR("Expansion ARR", 0, 150, "€k", "aisha", "on"),
        KR("Accounts with a quarterly business review", 12, 60, "accounts", "aisha", "behind"),
        KR("Seats added in existing accounts", 0, 1500, "seats", "noah", "ahead"),
    )),
    Obj("golive", "success", "noah", "Bring every new account live within 14 days", "onboarding", "firstweek", (
        KR("Median days to go-live", 26, 14, "days", "noah", "on"),
        KR("Accounts live within 14 days", 35, 80, "%", "noah", "behind"),
        KR("Onboarding playbook steps automated", 2, 10, "steps", "hannah", "late"),
    )),
    Obj("library", "research", "jonas", "Turn interview notes into a library everyone uses", "understand", "abandon", (
        KR("Insights tagged in the library", 120, 600, "insights", "jonas", "ahead"),
        KR("Monthly library readers outside research", 8, 40, "readers", "jonas", "behind"),
        KR("Roadmap items linked to evidence", 15, 70, "%", "priya", "on"),
    )),
    Obj("hiring", "sales", "diego", "Hire and ramp two account executives", None, None, (
        KR("Account executives hired", 0, 2, "hires", "rachel", "done"),
        KR("Ramped AEs carrying full quota", 0, 2, "AEs", "diego", "stuck"),
        KR("New AEs' certification score", 60, 85, "%", "diego", "on"),
    )),
)  # fmt: skip

NOTES: dict[str, tuple[str, ...]] = {
    "ahead": (
        "Better than planned this week.",
        "Ahead of plan; keeping the pace.",
        "The experiment from last sprint paid off.",
        "Good week, momentum is there.",
        "Beat the weekly goal again.",
        "If this holds we hit the target early.",
    ),
    "on": (
        "On plan.",
        "Steady progress, nothing special.",
        "Moving as expected.",
        "Small step forward this week.",
        "On track, next milestone in two weeks.",
        "Quiet week but still on pace.",
        "Reviewed with the team; no blockers.",
    ),
    "late": (
        "Slow start, but the new process is in place now.",
        "Picking up speed.",
        "Finally unblocked; expect faster progress.",
        "The first results of the change are showing.",
        "Still catching up, but the trend is right.",
    ),
    "behind": (
        "Behind plan; need help from another team.",
        "Slower than hoped.",
        "Lost a week to an incident.",
        "Half the team was on other priorities.",
        "Not enough capacity for this one.",
        "We underestimated the effort.",
        "Will rescope at the next planning.",
    ),
    "stuck": (
        "No movement this week.",
        "Blocked, waiting on a decision.",
        "Still blocked.",
        "No progress; flagged it to the lead.",
        "Need to rethink the approach.",
        "Deprioritised for now.",
    ),
    "done": (
        "Done ahead of time.",
        "Target reached; keeping it there.",
        "Finished, just maintaining.",
    ),
}
FIRST_NOTES = ("Baseline measured.", "Kick-off done.", "Plan agreed with the team.", "")

# Who misses which weeks of check-ins: holidays, a busy quarter, and Kenji who stopped.
SKIPPED_WEEKS: dict[str, frozenset[int]] = {
    "diego": frozenset({3, 7}),
    "chloe": frozenset({5}),
    "tomas": frozenset({6}),
    "marcus": frozenset({8}),
    "kenji": frozenset({9, 10, 11}),
}
# Those who have already checked in this week (week 11), early in the week.
EARLY_THIS_WEEK = ("priya", "arjun", "daniel", "aisha", "rachel", "hannah", "sofia", "jonas")


# ---------------------------------------------------------------------------------------------
# the script: every command, who types it and when


@dataclass(frozen=True, slots=True)
class Step:
    at: dt.datetime  # aware, UTC
    who: str
    text: str  # may name objectives and key results by label: {O:label}, {KR:label}
    defines: str = ""  # the label this step's reply gives a number to


@dataclass(frozen=True)
class Script:
    cycle: str
    starts_on: dt.date
    ends_on: dt.date
    steps: tuple[Step, ...] = field(repr=False)


def _cycle_dates(now: dt.datetime, timezone: str) -> tuple[str, dt.date, dt.date]:
    """A 13-week cycle that started on the Monday ten weeks before this week's Monday."""
    today = now.astimezone(zone(timezone)).date()
    start = today - dt.timedelta(days=today.weekday(), weeks=WEEKS_OF_HISTORY)
    iso = start.isocalendar()
    return f"{iso.year}-W{iso.week:02d}", start, start + dt.timedelta(weeks=CYCLE_WEEKS, days=-1)


def _local(day: dt.date, hour: int, minute: int, tz: str) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(tz)).astimezone(dt.UTC)


def _value(kr: KR, fraction: float) -> str:
    value = round(kr.start + fraction * (kr.target - kr.start), kr.decimals)
    return f"{max(0.0, value):.{kr.decimals}f}"


def build_script(now: dt.datetime, timezone: str = "UTC") -> Script:
    """The whole demo as commands with their times; the same for the same ``now`` and timezone."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    now = now.astimezone(dt.UTC)
    cycle, starts_on, ends_on = _cycle_dates(now, timezone)
    setup = _setup_steps(cycle, starts_on, ends_on, _local(starts_on, 9, 0, timezone))
    checkins = _checkin_steps(random.Random(SEED), now, starts_on, ends_on)
    return Script(cycle, starts_on, ends_on, tuple(setup + checkins))


def _setup_steps(cycle: str, starts_on: dt.date, ends_on: dt.date, first: dt.datetime) -> list[Step]:
    """The organisation, set up on the cycle's first Monday morning, one command a minute."""
    steps: list[Step] = []

    def say(who: str, text: str, defines: str = "") -> None:
        steps.append(Step(first + dt.timedelta(minutes=len(steps)), who, text, defines))

    for key, name, lead, members in TEAMS:
        say(lead, f'team add {key} "{name}"')
        for member in members:
            say(member, f"team join {key}")
    admin = TEAMS[0][2]
    positions: dict[str | None, int] = {}
    for key, name, parent in CAPABILITIES:
        positions[parent] = positions.get(parent, 0) + 1
        where = f" --parent {parent}" if parent else ""
        say(admin, f'capability add {key} "{name}" --position {positions[parent]}{where}')
    say(admin, f"cycle add {cycle} {starts_on} {ends_on}")
    for o in OBJECTIVES:
        flags = f" --team {o.team} --cycle {cycle}"
        flags += f" --capability {o.capability}" if o.capability else ""
        flags += f" --parent {{O:{o.parent}}}" if o.parent else ""
        flags += " --aspirational" if o.aspirational else ""
        say(o.owner, f'objective add "{o.title}"{flags}', f"O:{o.label}")
        for i, kr in enumerate(o.krs, start=1):
            numbers = f"--target {_value(kr, 1.0)} --start {_value(kr, 0.0)} --unit {kr.unit}"
            say(o.owner, f'kr add {{O:{o.label}}} "{kr.title}" {numbers} --owner <@{kr.owner}>', f"KR:{o.label}.{i}")
    return steps


def _checkin_steps(rng: random.Random, now: dt.datetime, starts_on: dt.date, ends_on: dt.date) -> list[Step]:
    """Ten weeks of Friday check-ins and this week's early birds, in the order they happen."""
    days = (ends_on - starts_on).days + 1
    current_week = WEEKS_OF_HISTORY + 1
    readings = _Readings(rng)
    checkins: list[Step] = []
    for week in range(1, current_week + 1):
        monday = starts_on + dt.timedelta(weeks=week - 1)
        times = _checkin_times(rng, now, monday, week=week, early=week == current_week)
        elapsed = ((monday + dt.timedelta(days=4) - starts_on).days + 1) / days
        for o in OBJECTIVES:
            for i, kr in enumerate(o.krs, start=1):
                text = readings.checkin(kr, f"{o.label}.{i}", week, elapsed)
                if kr.owner not in times:
                    continue
                times[kr.owner] += dt.timedelta(minutes=1 + rng.randrange(3))
                checkins.append(Step(times[kr.owner], kr.owner, text))
    checkins.sort(key=lambda step: step.at)
    return checkins


def _checkin_times(
    rng: random.Random, now: dt.datetime, monday: dt.date, *, week: int, early: bool
) -> dict[str, dt.datetime]:
    """When each person starts checking in in the week of ``monday``: Friday morning, or early in
    the week for this week's early birds; nobody in a week they skip or at a time yet to come."""
    times: dict[str, dt.datetime] = {}
    for person in PEOPLE.values():
        if early and person.id in EARLY_THIS_WEEK:
            day, hour = monday + dt.timedelta(days=rng.randrange(3)), rng.randrange(9, 12)
        else:
            day, hour = monday + dt.timedelta(days=4), 9 + rng.randrange(2)
        at = _local(day, hour, rng.randrange(60), person.timezone)
        if week not in SKIPPED_WEEKS.get(person.id, ()) and at <= now - dt.timedelta(minutes=5):
            times[person.id] = at
    return times


@dataclass
class _Readings:
    """What owners report week by week: each key result follows its trend's curve with noise,
    confidence drifts with a bias per key result, and a note never repeats the last one."""

    rng: random.Random
    bias: dict[str, int] = field(default_factory=dict)  # some owners are optimists, some pessimists
    said: dict[str, str] = field(default_factory=dict)  # the last note on each key result

    def checkin(self, kr: KR, label: str, week: int, elapsed: float) -> str:
        """This week's check-in on the key result ``label``, drawn whether or not its owner sends it."""
        rng = self.rng
        curve, first, last = TRENDS[kr.trend]
        fraction = curve(elapsed) + rng.gauss(0, 0.025)
        fraction = min(1.0 if kr.trend in ("ahead", "done") else 1.02, max(0.0, fraction))
        drift = first + (last - first) * (week - 1) / WEEKS_OF_HISTORY  # from first in week 1 to last this week
        confidence = min(
            10, max(0, round(drift + self.bias.setdefault(label, rng.choice((-1, 0, 0, 1))) + rng.gauss(0, 0.35)))
        )
        note = _note(rng, kr, week, self.said.get(label, ""))
        self.said[label] = note or self.said.get(label, "")
        return f"checkin {{KR:{label}}} {_value(kr, fraction)} {confidence}" + (f" {note}" if note else "")


def _note(rng: random.Random, kr: KR, week: int, last: str) -> str:
    """A note for this week's check-in (often none), never the same as the last one."""
    if week == 1:
        return rng.choice(FIRST_NOTES)
    roll = rng.random()
    pool = kr.notes if kr.notes and roll < 0.25 else NOTES[kr.trend] if roll < 0.6 else ()
    choices = [note for note in pool if note != last]
    return rng.choice(choices) if choices else ""


# ---------------------------------------------------------------------------------------------
# loading


class _Clock:
    """The time the bot sees; the loader sets it before each command."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


_NUMBERED = re.compile(r"\b(?:Created (O-\d+)|Added (KR-\d+))\b")
_LABEL = re.compile(r"\{((?:O|KR):[a-z0-9.]+)\}")


def demo_command(who: str, text: str) -> Command:
    person = PEOPLE[who]
    return Command(
        workspace=WorkspaceRef(DEMO_PLATFORM, DEMO_WORKSPACE, DEMO_NAME),
        actor=Actor(person.id, person.name, timezone=person.timezone),
        text=text,
        channel="demo",
        source="demo",
        mentions={p.id: p.name for p in PEOPLE.values() if f"<@{p.id}>" in text},
    )


async def _existing(db: Database) -> tuple[int, set[str]] | None:
    """How many objectives the demo workspace holds and what setup it has (None: no workspace)."""
    async with db.read() as session:
        workspace = await workspace_by_external(session, DEMO_PLATFORM, DEMO_WORKSPACE)
        if workspace is None:
            return None
        repo = Repo(session, workspace.id)  # type: ignore[arg-type]
        objectives = await repo.objectives(include_archived=True)
        members = {m.id: m.external_id for m in await repo.members()}
        done: set[str] = {f"capability add {c.key} " for c in await repo.capabilities()}
        done |= {f"cycle add {c.name} " for c in await repo.cycles()}
        for team in await repo.teams():
            done.add(f"team add {team.key} ")
            for member_id in await repo.team_member_ids(team.id):  # type: ignore[arg-type]
                done.add(f"{members.get(member_id)}:team join {team.key}")
        return len(objectives), done


async def load_demo(db: Database, *, now: dt.datetime | None = None, timezone: str = "UTC") -> str:
    """Load the demo organisation into workspace ``demo``; one sentence for the terminal.

    Does nothing when the demo workspace already holds objectives. Raises RuntimeError if the
    bot refuses any command of the script (a bug in the demo data).
    """
    existing = await _existing(db)
    if existing is not None and existing[0]:
        return f"The demo organisation is already loaded in workspace {DEMO_WORKSPACE}; nothing changed."
    already = existing[1] if existing else set()
    script = build_script(now or dt.datetime.now(dt.UTC), timezone)
    clock = _Clock(script.steps[0].at)
    bot = Bot(db, clock=clock, timezone=timezone)
    refs: dict[str, str] = {}
    checkins = 0
    for step in script.steps:
        if any(step.text.startswith(d) or f"{step.who}:{step.text}" == d for d in already):
            continue  # set up by an earlier, interrupted load
        text = _LABEL.sub(lambda m: refs[m.group(1)], step.text)
        clock.now = step.at
        reply = await bot.handle(demo_command(step.who, text))
        if reply.is_error:
            raise RuntimeError(f"The demo data was refused at `{text}`: {reply.text}")
        if step.defines:
            found = _NUMBERED.search(reply.text)
            if found is None:
                raise RuntimeError(f"No O-n or KR-n in the reply to `{text}`: {reply.text}")
            refs[step.defines] = found.group(1) or found.group(2)
        checkins += text.startswith("checkin ")
    objectives = sum(1 for ref in refs.values() if ref.startswith("O-"))
    return (
        f"Loaded the demo organisation into workspace {DEMO_WORKSPACE}: {len(TEAMS)} teams, {objectives} objectives, "
        f"{len(refs) - objectives} key results, {checkins} check-ins over {WEEKS_OF_HISTORY} weeks of cycle {script.cycle}."
    )
