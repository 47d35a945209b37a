"""The fixed scales: confidence, progress, pace, score, quarters and weeks.

Confidence is an integer 0–10: 0–3 off track (red), 4–6 at risk (yellow), 7–10 on track
(green); a new key result starts at 5. Progress is (current − start) / (target − start),
clamped to 0–1. Behind pace means progress trails the cycle's elapsed share by over 20 points.
A weekly period is the ISO week where the schedule (or the person) is.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Literal
from zoneinfo import ZoneInfo

Colour = Literal["red", "yellow", "green", "grey"]

CONFIDENCE_MIN, CONFIDENCE_MAX, CONFIDENCE_START = 0, 10, 5
BEHIND_PACE_POINTS = 0.20
ASPIRATIONAL_SUCCESS = 0.7


def confidence_colour(confidence: int | None) -> Colour:
    if confidence is None:
        return "grey"
    if confidence <= 3:
        return "red"
    if confidence <= 6:
        return "yellow"
    return "green"


def confidence_word(confidence: int | None) -> str:
    return {"red": "off track", "yellow": "at risk", "green": "on track", "grey": "no confidence"}[
        confidence_colour(confidence)
    ]


def progress(start: float, target: float, current: float) -> float:
    """(current − start) / (target − start), clamped to 0–1; works for KRs that go down."""
    span = target - start
    if span == 0 or not math.isfinite(span):
        return 1.0 if current == target else 0.0
    return min(1.0, max(0.0, (current - start) / span))


def elapsed(starts_on: dt.date, ends_on: dt.date, today: dt.date) -> float:
    """Share of the cycle that has elapsed by the end of ``today``, 0–1."""
    days = (ends_on - starts_on).days + 1
    if days <= 0:
        return 1.0
    return min(1.0, max(0.0, ((today - starts_on).days + 1) / days))


def pace(progress_value: float, elapsed_share: float) -> str:
    """ "ahead", "on" or "behind": behind when progress trails elapsed time by over 20 points."""
    gap = progress_value - elapsed_share
    if gap < -BEHIND_PACE_POINTS:
        return "behind"
    if gap > BEHIND_PACE_POINTS:
        return "ahead"
    return "on"


def score(progress_value: float, graded: float | None) -> float:
    """The end-of-cycle score: the owner's grade when given, else progress."""
    return graded if graded is not None else round(progress_value, 2)


def is_success(score_value: float, kind: str) -> bool:
    return score_value >= (ASPIRATIONAL_SUCCESS if kind == "aspirational" else 1.0)


def quarter_of(day: dt.date) -> tuple[str, dt.date, dt.date]:
    """The calendar quarter holding ``day``: its name (``2026-Q4``), first and last day."""
    q = (day.month - 1) // 3
    first = dt.date(day.year, 3 * q + 1, 1)
    last = (dt.date(day.year + 1, 1, 1) if q == 3 else dt.date(day.year, 3 * q + 4, 1)) - dt.timedelta(days=1)
    return f"{day.year}-Q{q + 1}", first, last


def quarter_named(name: str) -> tuple[dt.date, dt.date] | None:
    """The first and last day of the calendar quarter called ``name`` (``2027-Q1``), else None."""
    match = re.fullmatch(r"(\d{4})-Q([1-4])", name, re.IGNORECASE)
    if match is None:
        return None
    _, first, last = quarter_of(dt.date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1))
    return first, last


def period_key(instant: dt.datetime, timezone: str) -> str:
    """The ISO week holding ``instant`` where ``timezone`` is, e.g. ``2026-W47``."""
    year, week, _ = instant.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(instant: dt.datetime, timezone: str) -> dt.datetime:
    """Monday 00:00 of the ISO week holding ``instant`` in ``timezone``, as a UTC instant."""
    local = instant.astimezone(ZoneInfo(timezone))
    monday = local.date() - dt.timedelta(days=local.weekday())
    return dt.datetime.combine(monday, dt.time(), tzinfo=ZoneInfo(timezone)).astimezone(dt.UTC)


def number(value: float) -> str:
    """A value as people write it: 40, 40.5, 1200000 — no trailing .0."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{round(value, 4) + 0.0:.15g}"  # 123456.5 stays 123456.5; 0.1 + 0.2 shows as 0.3; never -0
