"""Fire times as pure functions: daylight-saving changes in Paris and New York, the gap, the overlap."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.scales import period_key
from scheduler.times import Rhythm, last_fire, next_fire, shifted

PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "after", "expected"),
    [
        # Paris: CET (UTC+1) until 2026-03-29, CEST (UTC+2) until 2026-10-25
        (PARIS, utc(2026, 3, 21), utc(2026, 3, 27, 9)),  # Friday before the change: 10:00 CET
        (PARIS, utc(2026, 3, 28), utc(2026, 4, 3, 8)),  # Friday after: 10:00 CEST
        (PARIS, utc(2026, 10, 17), utc(2026, 10, 23, 8)),
        (PARIS, utc(2026, 10, 24), utc(2026, 10, 30, 9)),
        # New York: EST (UTC-5) until 2026-03-08, EDT (UTC-4) until 2026-11-01
        (NEW_YORK, utc(2026, 3, 1), utc(2026, 3, 6, 15)),
        (NEW_YORK, utc(2026, 3, 7), utc(2026, 3, 13, 14)),
        (NEW_YORK, utc(2026, 10, 25), utc(2026, 10, 30, 14)),
        (NEW_YORK, utc(2026, 10, 31), utc(2026, 11, 6, 15)),
    ],
)
def test_friday_10_00_stays_10_00_local_across_dst(tz: ZoneInfo, after: dt.datetime, expected: dt.datetime) -> None:
    rhythm = Rhythm(4, "10:00")
    fire = next_fire(rhythm, tz, after)
    assert fire == expected
    assert fire.astimezone(tz).strftime("%a %H:%M") == "Fri 10:00"
    assert last_fire(rhythm, tz, fire) == fire and last_fire(rhythm, tz, fire - dt.timedelta(seconds=1)) < fire
    # APScheduler's cron trigger, which fires the jobs, agrees
    trigger = CronTrigger(day_of_week=4, hour=10, minute=0, timezone=tz)
    assert trigger.get_next_fire_time(None, after.astimezone(tz)) == fire


def test_a_time_inside_the_spring_forward_gap_fires_once_just_after_it() -> None:
    rhythm = Rhythm(6, "02:30")  # Sunday 02:30: on 2026-03-29 Paris goes from 02:00 straight to 03:00
    fire = next_fire(rhythm, PARIS, utc(2026, 3, 28))
    assert fire == utc(2026, 3, 29, 1, 30) and fire.astimezone(PARIS).strftime("%H:%M") == "03:30"
    assert next_fire(rhythm, PARIS, fire) == utc(2026, 4, 5, 0, 30)  # 02:30 CEST the week after


def test_the_fall_back_overlap_fires_once() -> None:
    rhythm = Rhythm(6, "02:30")  # 2026-10-25 02:30 happens twice in Paris
    fires = []
    at = utc(2026, 10, 24)
    while at < utc(2026, 11, 2):  # bounded: a week and a bit
        at = next_fire(rhythm, PARIS, at)
        fires.append(at)
    assert fires[0] == utc(2026, 10, 25, 0, 30)  # the first 02:30 (CEST)
    assert len({period_key(f, "Europe/Paris") for f in fires}) == len(fires)  # one firing per week


def test_period_key_is_the_iso_week_in_the_schedule_timezone() -> None:
    sunday_late = utc(2026, 11, 22, 23, 30)  # Monday 00:30 in Paris
    assert period_key(sunday_late, "UTC") == "2026-W47"
    assert period_key(sunday_late, "Europe/Paris") == "2026-W48"
    assert period_key(utc(2027, 1, 1, 12), "UTC") == "2026-W53"


def test_reminder_rhythm_wraps_the_week() -> None:
    assert shifted(Rhythm(4, "10:00"), 24) == Rhythm(5, "10:00")
    assert shifted(Rhythm(6, "20:30"), 4) == Rhythm(0, "00:30")
