"""Dates as people read and type them in this app: "4 Dec 2026", in the account timezone.

Every page shows dates as "4 Dec 2026" (Django's "j M Y"). A native `<input type="date">` shows
the browser's own format instead (mm/dd/yyyy in an American browser, dd/mm/yyyy in a British
one) and there is no way to tell it otherwise, so a date field is a text input in the app's
format, with a placeholder, and a calendar button (static/js/date_fields.js) that opens the
browser's picker and writes its choice back in the app's format. The server reads the app's
format, the full month name and ISO 8601 (links, bookmarks and the API keep working) and
refuses anything else with one message; it never guesses between 03/04 and 04/03.

A date-only filter covers whole days in the account timezone: `day_start` / `day_end`.
"""

import datetime

from django import forms

from accounts.account import account_tzinfo

DISPLAY_FORMAT = "%-d %b %Y"  # the same as the templates' |date:"j M Y"
DISPLAY_DATETIME_FORMAT = "%-d %b %Y %H:%M"  # |date:"j M Y, H:i" without the comma
PLACEHOLDER = "e.g. 4 Dec 2026"
DATETIME_PLACEHOLDER = "e.g. 4 Dec 2026 18:30"
TIME_PLACEHOLDER = "e.g. 09:30"
INPUT_FORMATS = ["%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%Y-%m-%d"]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S", "%I:%M %p", "%I %p"]
DATETIME_INPUT_FORMATS = [f"{d} {t}" for d in INPUT_FORMATS for t in TIME_INPUT_FORMATS] + [
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
]
ERR_DATE = "Enter a date like 4 Dec 2026."
ERR_DATETIME = "Enter a date and time like 4 Dec 2026 18:30."
ERR_TIME = "Enter a time like 09:30 (24-hour clock)."


def date_parse(value) -> datetime.date | None:
    """The date in a typed value ("4 Dec 2026", "4 December 2026", "2026-12-04"), else None."""
    if isinstance(value, datetime.date):
        return value
    text = _clean_text(value)
    if not text:
        return None
    for fmt in INPUT_FORMATS:
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _clean_text(value) -> str:
    # "4 Dec, 2026" and "4 Dec 2026,  18:30" read like the app's own dates: commas and runs of
    # spaces do not matter.
    return " ".join(str(value or "").replace(",", " ").split())


def date_display(value) -> str:
    """A date (or an ISO date string) as the app shows it; anything else unchanged."""
    day = date_parse(value) if isinstance(value, str) else value
    if isinstance(day, datetime.date):
        return day.strftime(DISPLAY_FORMAT)
    return "" if value is None else str(value)


def date_iso(value) -> str:
    """A typed date as ISO 8601 (how rules and URLs store it); unparseable text unchanged."""
    day = date_parse(value)
    return day.isoformat() if day else ("" if value is None else str(value))


def day_start(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day` in the account timezone."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=account_tzinfo())


def day_end(day: datetime.date) -> datetime.datetime:
    """Midnight at the end of `day` in the account timezone (exclusive bound)."""
    return day_start(day + datetime.timedelta(days=1))


class DateInput(forms.DateInput):
    """A text input showing the app's date format; date_fields.js adds a calendar button."""

    input_type = "text"

    def __init__(self, attrs=None):
        base = {"placeholder": PLACEHOLDER, "data-date-field": "", "autocomplete": "off", "inputmode": "text"}
        super().__init__(attrs={**base, **(attrs or {})}, format=DISPLAY_FORMAT)

    def format_value(self, value):
        # What was typed comes back in the app's format when it reads as a date (a bookmarked
        # ?start=2026-12-04 shows "4 Dec 2026"); anything else as typed, beside its error.
        day = date_parse(value) if isinstance(value, str) else None
        return day.strftime(DISPLAY_FORMAT) if day else super().format_value(value)


class DateField(forms.DateField):
    """A date typed as the app shows it (or ISO); one clear message for anything else."""

    widget = DateInput
    input_formats = INPUT_FORMATS
    default_error_messages = {"invalid": ERR_DATE}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        day = date_parse(value)
        if day is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return day


class DateTimeInput(forms.DateTimeInput):
    """A text input showing "4 Dec 2026 18:30" (the account timezone)."""

    input_type = "text"

    def __init__(self, attrs=None):
        base = {"placeholder": DATETIME_PLACEHOLDER, "data-datetime-field": "", "autocomplete": "off"}
        super().__init__(attrs={**base, **(attrs or {})}, format=DISPLAY_DATETIME_FORMAT)

    def format_value(self, value):
        if isinstance(value, str):
            text = _clean_text(value)
            for fmt in DATETIME_INPUT_FORMATS:
                try:
                    return datetime.datetime.strptime(text, fmt).strftime(DISPLAY_DATETIME_FORMAT)
                except ValueError:
                    continue
        return super().format_value(value)


class _CleanTyped:
    """Typed text cleaned (commas and runs of spaces do not matter) before the field parses it."""

    def to_python(self, value):
        if isinstance(value, str):
            value = _clean_text(value)
        return super().to_python(value)


class DateTimeField(_CleanTyped, forms.DateTimeField):
    """A date and time typed as the app shows them (or ISO), read in the account timezone."""

    widget = DateTimeInput
    input_formats = DATETIME_INPUT_FORMATS
    default_error_messages = {"invalid": ERR_DATETIME}


class TimeInput(forms.TimeInput):
    input_type = "text"

    def __init__(self, attrs=None):
        base = {"placeholder": TIME_PLACEHOLDER, "autocomplete": "off"}
        super().__init__(attrs={**base, **(attrs or {})}, format="%H:%M")


class TimeField(_CleanTyped, forms.TimeField):
    """A time of day typed on the 24-hour clock the app shows ("09:30"); "9:30 am" also reads."""

    widget = TimeInput
    input_formats = TIME_INPUT_FORMATS
    default_error_messages = {"invalid": ERR_TIME}
