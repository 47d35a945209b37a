"""How key results stand this week: the figures every digest and chart is made of.

"This week" is the seven days before the digest, so a Monday digest shows Friday's answers;
"stale" is two such periods without a check-in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.scales import CONFIDENCE_START, elapsed, pace, progress
from store.models import Cycle, KeyResult, Member, row_id

WEEK = dt.timedelta(days=7)


class Entry(Protocol):
    """One check-in as the figures read it: a CheckIn row, or the lighter tuple digests load."""

    @property
    def key_result_id(self) -> int: ...
    @property
    def value(self) -> float: ...
    @property
    def confidence(self) -> int: ...
    @property
    def note(self) -> str: ...
    @property
    def created_at(self) -> dt.datetime: ...


@dataclass(frozen=True)
class CycleClock:
    """Where today falls in a cycle: week N of M and the share of time elapsed."""

    cycle: Cycle
    today: dt.date

    @property
    def weeks(self) -> int:
        return max(1, round(((self.cycle.ends_on - self.cycle.starts_on).days + 1) / 7))  # a quarter: 13

    @property
    def week(self) -> int:
        return max(1, min(self.weeks, (self.today - self.cycle.starts_on).days // 7 + 1))

    @property
    def elapsed(self) -> float:
        return elapsed(self.cycle.starts_on, self.cycle.ends_on, self.today)

    @property
    def ended(self) -> bool:
        return self.today > self.cycle.ends_on

    @property
    def upcoming(self) -> bool:
        return self.today < self.cycle.starts_on

    def line(self) -> str:
        if self.upcoming:
            return f"{self.cycle.name} · starts {self.cycle.starts_on} · {self.weeks} weeks"
        if self.ended:
            return f"{self.cycle.name} · ended {self.cycle.ends_on} · {self.weeks} weeks"
        return (
            f"{self.cycle.name} · week {self.week} of {self.weeks} · {round(self.elapsed * 100)}% of the time elapsed"
        )


@dataclass(frozen=True)
class KrStatus:
    kr: KeyResult
    progress: float
    pace: str  # ahead | on | behind
    change: int | None  # confidence now minus a week ago; None when there is nothing to compare
    checked_in: bool  # a check-in in the last seven days
    stale: bool  # none in the last two periods
    away: bool  # the owner is away: not counted as missing
    note: str | None  # the latest note

    @property
    def at_risk(self) -> bool:
        return self.kr.confidence <= 3 or self.pace == "behind"

    @property
    def risk_order(self) -> tuple[int, float, int]:
        """Worst first: lowest confidence, then furthest behind, then the oldest number."""
        return (self.kr.confidence, self.progress, self.kr.number)


def _confidence_at(history: Sequence[Entry], moment: dt.datetime, kr: KeyResult) -> int | None:
    before = [c for c in history if c.created_at <= moment]
    if before:
        return before[-1].confidence
    return CONFIDENCE_START if kr.created_at <= moment else None


def statuses(
    krs: Iterable[KeyResult],
    history: Sequence[Entry],
    owners: dict[int, Member],
    clock: CycleClock,
    now: dt.datetime,
) -> dict[int, KrStatus]:
    """The status of each key result, from its check-ins (oldest first)."""
    by_kr: dict[int, list[Entry]] = defaultdict(list)
    for entry in history:
        by_kr[entry.key_result_id].append(entry)
    out: dict[int, KrStatus] = {}
    for kr in krs:
        entries = by_kr.get(row_id(kr), [])
        last = entries[-1].created_at if entries else None
        week_ago = _confidence_at(entries, now - WEEK, kr)
        owner = owners.get(kr.owner_id)
        value = progress(kr.start, kr.target, kr.current)
        notes = [e.note for e in entries if e.note]
        out[row_id(kr)] = KrStatus(
            kr=kr,
            progress=value,
            pace=pace(value, clock.elapsed),
            change=None if week_ago is None else kr.confidence - week_ago,
            checked_in=last is not None and last > now - WEEK,
            stale=(last or kr.created_at) <= now - 2 * WEEK,
            away=bool(owner and owner.is_away(clock.today)),
            note=notes[-1] if notes else None,
        )
    return out


def trend(change: int | None) -> str:
    if change is None:
        return ""
    if change == 0:
        return "="
    return f"▲{change}" if change > 0 else f"▼{-change}"


def shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def weekly_series(
    krs: Sequence[KeyResult], history: Sequence[Entry], clock: CycleClock, zone: dt.tzinfo
) -> dict[int, list[tuple[int, float, float]]]:
    """Per objective, (week, average progress, average confidence) at the end of each week so far."""
    by_kr: dict[int, list[Entry]] = defaultdict(list)
    for entry in history:
        by_kr[entry.key_result_id].append(entry)
    series: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for week in range(1, clock.week + 1):
        end_day = min(clock.cycle.starts_on + dt.timedelta(days=7 * week), clock.today + dt.timedelta(days=1))
        moment = dt.datetime.combine(end_day, dt.time(), zone)
        points: dict[int, list[tuple[float, int]]] = defaultdict(list)
        for kr in krs:
            if kr.created_at >= moment:
                continue
            before = [c for c in by_kr.get(row_id(kr), []) if c.created_at < moment]
            value, confidence = (before[-1].value, before[-1].confidence) if before else (kr.start, CONFIDENCE_START)
            points[kr.objective_id].append((progress(kr.start, kr.target, value), confidence))
        for objective_id, pairs in points.items():
            average = (sum(p for p, _ in pairs) / len(pairs), sum(c for _, c in pairs) / len(pairs))
            series[objective_id].append((week, *average))
    return series
