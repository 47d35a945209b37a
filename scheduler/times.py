"""When a weekly run fires, as pure functions of a rhythm, a timezone and an instant.

A rhythm is a weekday (0 = Monday; None for every day) and a wall-clock ``HH:MM`` in an IANA timezone. Wall-clock
times that do not exist (the spring-forward gap) fire at the same distance past the change —
02:30 on the night Paris skips 02:00–03:00 fires at 03:30 — and times that happen twice (the
fall-back overlap) fire at the first of the two, so a week's run has exactly one instant.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

WEEK_MINUTES = 7 * 24 * 60
__all__ = ["Rhythm", "fire_on", "last_fire", "next_fire", "shifted"]


@dataclass(frozen=True, slots=True)
class Rhythm:
    weekday: int | None  # 0 = Monday; None: every day
    time: str  # HH:MM

    @property
    def hour(self) -> int:
        return int(self.time[:2])

    @property
    def minute(self) -> int:
        return int(self.time[3:5])


def shifted(rhythm: Rhythm, hours: int) -> Rhythm:
    """The same rhythm ``hours`` later on the wall clock (a reminder after its prompt)."""
    if rhythm.weekday is None:
        raise ValueError("a daily rhythm is not shifted")
    minutes = (rhythm.weekday * 24 * 60 + rhythm.hour * 60 + rhythm.minute + hours * 60) % WEEK_MINUTES
    day, rest = divmod(minutes, 24 * 60)
    return Rhythm(day, f"{rest // 60:02d}:{rest % 60:02d}")


def fire_on(day: dt.date, rhythm: Rhythm, tz: ZoneInfo) -> dt.datetime:
    """The UTC instant of ``rhythm``'s time on ``day`` in ``tz`` (fold=0: see the module doc)."""
    local = dt.datetime.combine(day, dt.time(rhythm.hour, rhythm.minute), tzinfo=tz)
    return local.astimezone(dt.UTC)


def last_fire(rhythm: Rhythm, tz: ZoneInfo, at: dt.datetime) -> dt.datetime:
    """The latest firing at or before ``at``."""
    local = at.astimezone(tz)
    back = 0 if rhythm.weekday is None else (local.weekday() - rhythm.weekday) % 7
    day = local.date() - dt.timedelta(days=back)
    fire = fire_on(day, rhythm, tz)
    return fire if fire <= at else fire_on(day - dt.timedelta(days=_period(rhythm)), rhythm, tz)


def next_fire(rhythm: Rhythm, tz: ZoneInfo, after: dt.datetime) -> dt.datetime:
    """The first firing strictly after ``after``."""
    local = after.astimezone(tz)
    ahead = 0 if rhythm.weekday is None else (rhythm.weekday - local.weekday()) % 7
    day = local.date() + dt.timedelta(days=ahead)
    fire = fire_on(day, rhythm, tz)
    return fire if fire > after else fire_on(day + dt.timedelta(days=_period(rhythm)), rhythm, tz)


def _period(rhythm: Rhythm) -> int:
    """Days between two firings."""
    return 1 if rhythm.weekday is None else 7
