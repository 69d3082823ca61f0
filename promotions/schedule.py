"""Recurring schedules: occurrences computed with dateutil's rrule in the account timezone.

The rule runs over naive wall-clock times in the account timezone and each occurrence is then
given that zone, so "every day at 09:00" stays 09:00 local across DST changes (Europe/Berlin:
08:00 UTC in winter, 07:00 UTC in summer). A wall time that does not exist on a spring-forward
day moves forward by the gap, as the clock does.
"""

import datetime
import zoneinfo

from dateutil import rrule

DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"


def _rule(*, frequency, weekdays, month_day, run_time, start, end):
    dtstart = datetime.datetime.combine(start, run_time)
    until = datetime.datetime.combine(end, datetime.time(23, 59, 59)) if end else None
    if frequency == DAILY:
        return rrule.rrule(rrule.DAILY, dtstart=dtstart, until=until)
    if frequency == WEEKLY:
        return rrule.rrule(rrule.WEEKLY, dtstart=dtstart, until=until, byweekday=sorted(weekdays))
    if frequency == MONTHLY:
        # Day 29–31 falls back to the month's last day in shorter months (never skips a month).
        if month_day <= 28:
            return rrule.rrule(rrule.MONTHLY, dtstart=dtstart, until=until, bymonthday=month_day)
        return rrule.rrule(rrule.MONTHLY, dtstart=dtstart, until=until, bymonthday=(month_day, -1), bysetpos=1)
    raise ValueError(f"unknown frequency {frequency!r}")


def _aware(naive: datetime.datetime, tz: zoneinfo.ZoneInfo) -> datetime.datetime:
    # Round trip through UTC normalises a wall time inside a DST gap.
    return naive.replace(tzinfo=tz).astimezone(datetime.UTC).astimezone(tz)


def occurrence_next(
    *,
    frequency: str,
    weekdays: list[int],
    month_day: int | None,
    run_time: datetime.time,
    start: datetime.date,
    end: datetime.date | None,
    tz: zoneinfo.ZoneInfo,
    after: datetime.datetime,
    inclusive: bool = True,
) -> datetime.datetime | None:
    """The first occurrence at or after `after` (aware), in `tz`; None when the rule has ended."""
    rule = _rule(frequency=frequency, weekdays=weekdays, month_day=month_day, run_time=run_time, start=start, end=end)
    after_local = after.astimezone(tz).replace(tzinfo=None)
    # Step back an hour so a wall time shifted by a DST gap is not skipped, then compare aware.
    for naive in rule.xafter(after_local - datetime.timedelta(hours=1), inc=True):
        moment = _aware(naive, tz)
        if moment > after or (inclusive and moment == after):
            return moment
    return None


def campaign_next_occurrence(campaign, *, tz, after, inclusive=True) -> datetime.datetime | None:
    return occurrence_next(
        frequency=campaign.frequency,
        weekdays=list(campaign.weekdays or []),
        month_day=campaign.month_day,
        run_time=campaign.run_time,
        start=campaign.recurrence_start,
        end=campaign.recurrence_end,
        tz=tz,
        after=after,
        inclusive=inclusive,
    )
