"""When: send now, later or on a recurring schedule (past behaviour), or a live campaign's start and
end; every time chosen lies in the future and a recurring schedule has a run left."""

import datetime

from django.utils import timezone

from promotions import schedule
from promotions.models import Campaign
from promotions.rules.errors import MSG_FUTURE, Errors, add, check_choice, check_present, merge

C = Campaign
WEEKDAYS = [str(i) for i in range(7)]

MSG_START_PAST = "The start date cannot be in the past."
MSG_END_BEFORE_START = "The end must be after the start."
MSG_NO_OCCURRENCE = "This schedule has no run between its start and end dates."
MSG_WEEKDAYS = "Choose at least one day of the week."


def fields_offered(*, live: bool, live_start: str = "", live_end: str = "", delivery: str = "", frequency: str = ""):
    """The When fields the campaign and the current choices offer."""
    if live:
        keep = ["live_start", "live_end"]
        if live_start == C.LiveStart.AT:
            keep += ["starts_at"]
        if live_end == C.LiveEnd.AT:
            keep += ["ends_at"]
        return keep
    keep = ["delivery"]
    if delivery == C.Delivery.LATER:
        keep += ["scheduled_at"]
    elif delivery == C.Delivery.RECURRING:
        keep += ["frequency", "run_time", "recurrence_start", "recurrence_end", "reward_again"]
        if frequency == C.Frequency.WEEKLY:
            keep += ["weekdays"]
        elif frequency == C.Frequency.MONTHLY:
            keep += ["month_day"]
    return keep


def schedule_check(values: dict, *, offered, now: datetime.datetime, other_errors: bool) -> tuple[object, Errors]:
    """The times chosen (`values`: parsed, None when missing or invalid): in the future, an end after
    its start, a recurring schedule with a run left. Returns that first run (or None) and the errors.

    `other_errors`: the section has errors already (the first run is then not looked for)."""
    errors: Errors = {}
    if "scheduled_at" in offered and values.get("scheduled_at") and values["scheduled_at"] <= now:
        add(errors, "scheduled_at", MSG_FUTURE)
    if "starts_at" in offered and values.get("starts_at") and values["starts_at"] <= now:
        add(errors, "starts_at", MSG_FUTURE)
    if "ends_at" in offered and values.get("ends_at"):
        if values["ends_at"] <= now:
            add(errors, "ends_at", MSG_FUTURE)
        elif values.get("starts_at") and values["ends_at"] <= values["starts_at"]:
            add(errors, "ends_at", MSG_END_BEFORE_START)
    first = None
    if "recurrence_start" in offered and values.get("recurrence_start"):
        start, end = values["recurrence_start"], values.get("recurrence_end")
        if start < timezone.localdate():
            add(errors, "recurrence_start", MSG_START_PAST)
        elif end and end < start:
            add(errors, "recurrence_end", MSG_END_BEFORE_START)
        elif "weekdays" in offered and not values.get("weekdays"):
            pass  # the weekdays' own "required" error says it
        elif values.get("frequency") and values.get("run_time") and not (other_errors or errors):
            first = schedule.occurrence_next(
                frequency=values["frequency"],
                weekdays=[int(d) for d in values.get("weekdays") or []],
                month_day=values.get("month_day"),
                run_time=values["run_time"],
                start=start,
                end=end,
                tz=timezone.get_current_timezone(),
                after=now,
                inclusive=False,
            )
            if first is None:
                add(errors, "recurrence_end" if end else "recurrence_start", MSG_NO_OCCURRENCE)
    return first, errors


def _minute(value):
    """A saved time as the builder shows and reads it back: to the minute."""
    return value.replace(second=0, microsecond=0) if value else value


def stored_errors(campaign: Campaign, *, now: datetime.datetime) -> Errors:
    """The saved When section re-checked: against the qualification and the clock."""
    c = campaign
    errors: Errors = {}
    offered = fields_offered(
        live=c.is_live, live_start=c.live_start, live_end=c.live_end, delivery=c.delivery, frequency=c.frequency
    )
    values = {
        "scheduled_at": _minute(c.scheduled_at),
        "starts_at": _minute(c.starts_at) if c.live_start == C.LiveStart.AT else None,
        "ends_at": _minute(c.ends_at) if c.live_end == C.LiveEnd.AT else None,
        "frequency": c.frequency,
        "weekdays": [str(d) for d in c.weekdays or []],
        "month_day": c.month_day,
        "run_time": _minute(c.run_time),
        "recurrence_start": c.recurrence_start,
        "recurrence_end": c.recurrence_end,
    }
    choices = {
        "live_start": (c.live_start, C.LiveStart.values),
        "live_end": (c.live_end, C.LiveEnd.values),
        "delivery": (c.delivery, C.Delivery.values),
        "frequency": (c.frequency, C.Frequency.values),
    }
    for name in offered:
        if name in choices:
            if not check_choice(errors, name, *choices[name]):
                values[name] = None
        elif name == "weekdays":
            if not values["weekdays"]:
                add(errors, name, MSG_WEEKDAYS)
            else:
                all(check_choice(errors, name, day, WEEKDAYS) for day in values["weekdays"])
        elif name in ("scheduled_at", "starts_at", "ends_at", "month_day", "run_time", "recurrence_start"):
            check_present(errors, name, values[name])
    merge(errors, schedule_check(values, offered=offered, now=now, other_errors=bool(errors))[1])
    return errors
