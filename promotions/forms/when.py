"""When: send now, later or on a recurring schedule, or a live campaign's start and end; the rules
they meet are promotions/rules/when.py."""

import datetime

from django import forms
from django.utils import timezone

from accounts import dates
from accounts.account import timezone_label
from promotions.forms.fields import SectionForm
from promotions.forms.formatting import fmt_datetime, fmt_int
from promotions.models import Campaign
from promotions.rules import when as when_rules
from promotions.rules.when import MSG_WEEKDAYS

C = Campaign
WEEKDAY_CHOICES = [(str(i), name) for i, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))]


class WhenForm(SectionForm):
    section = "when"

    delivery = forms.ChoiceField(label="Delivery", choices=C.Delivery.choices, widget=forms.RadioSelect)
    scheduled_at = dates.DateTimeField(label="Send at")
    frequency = forms.ChoiceField(label="Repeat", choices=C.Frequency.choices)
    weekdays = forms.MultipleChoiceField(
        label="On",
        choices=WEEKDAY_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": MSG_WEEKDAYS},
    )
    month_day = forms.IntegerField(label="Day of the month", min_value=1, max_value=31)
    run_time = dates.TimeField(label="At")
    recurrence_start = dates.DateField(label="From")
    recurrence_end = dates.DateField(label="Until (optional)", required=False)
    reward_again = forms.BooleanField(label="A profile may be rewarded again on later runs", required=False)
    live_start = forms.ChoiceField(label="Start", choices=C.LiveStart.choices, widget=forms.RadioSelect)
    starts_at = dates.DateTimeField(label="Start at")
    live_end = forms.ChoiceField(label="End", choices=C.LiveEnd.choices, widget=forms.RadioSelect)
    ends_at = dates.DateTimeField(label="End at")

    def apply_visibility(self):
        label = timezone_label(timezone.get_current_timezone())
        self.fields["delivery"].choices = [
            (value, f"{text} {label}" if value == C.Delivery.NOW else text) for value, text in C.Delivery.choices
        ]
        keep = when_rules.fields_offered(
            live=self.campaign.is_live,
            live_start=self.value("live_start"),
            live_end=self.value("live_end"),
            delivery=self.value("delivery"),
            frequency=self.value("frequency"),
        )
        self.keep(*keep)

    @classmethod
    def data_from(cls, campaign):
        c = campaign
        return {
            "delivery": c.delivery,
            "scheduled_at": fmt_datetime(c.scheduled_at),
            "frequency": c.frequency,
            "weekdays": [str(d) for d in c.weekdays or []],
            "month_day": fmt_int(c.month_day),
            "run_time": c.run_time.strftime("%H:%M") if c.run_time else "",
            "recurrence_start": dates.date_display(c.recurrence_start) if c.recurrence_start else "",
            "recurrence_end": dates.date_display(c.recurrence_end) if c.recurrence_end else "",
            "reward_again": "on" if c.reward_again else "",
            "live_start": c.live_start,
            "starts_at": fmt_datetime(c.starts_at) if c.live_start == C.LiveStart.AT else "",
            "live_end": c.live_end,
            "ends_at": fmt_datetime(c.ends_at) if c.live_end == C.LiveEnd.AT else "",
        }

    def clean(self):
        data = super().clean()
        first, errors = when_rules.schedule_check(
            data, offered=self.fields, now=timezone.now(), other_errors=bool(self.errors)
        )
        self.add_errors(errors)
        if first is not None:
            data["first_occurrence"] = first
        return data

    FIELDS = [
        "delivery",
        "scheduled_at",
        "frequency",
        "weekdays",
        "month_day",
        "run_time",
        "recurrence_start",
        "recurrence_end",
        "reward_again",
        "live_start",
        "live_end",
    ]

    def values(self) -> dict:
        values = {}
        for name in self.FIELDS:
            model_field = C._meta.get_field(name)
            value = self.cleaned_data.get(name) if name in self.fields else None
            if value is None:
                value = None if model_field.null else model_field.get_default()
            values[name] = value
        values["weekdays"] = sorted(int(d) for d in values["weekdays"] or [])
        tz = timezone.get_current_timezone()
        starts_at = ends_at = None
        if self.campaign.is_live:
            starts_at = self.cleaned("starts_at")
            ends_at = self.cleaned("ends_at")
        elif values["delivery"] == C.Delivery.LATER:
            starts_at = values["scheduled_at"]
        elif values["delivery"] == C.Delivery.RECURRING:
            starts_at = self.cleaned_data.get("first_occurrence")
            if values["recurrence_end"]:
                end_day = datetime.datetime.combine(values["recurrence_end"], datetime.time(23, 59, 59))
                ends_at = end_day.replace(tzinfo=tz)
        values["starts_at"], values["ends_at"] = starts_at, ends_at
        return values
