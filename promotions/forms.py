"""The builder's section forms (SPEC 4).

Each form knows which fields apply to the choices made so far (the saved campaign plus what
the request posts) and removes the others, so a field the screen does not offer is neither
rendered nor accepted: a crafted POST for it is ignored (the value saved is the empty one),
and a choice the screen does not list is an invalid choice. `values()` returns every model
field the section owns, hidden ones set to empty, so a saved section never keeps a stale
setting that no longer applies.
"""

import datetime
import json
import re
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from config import dates
from config.account import timezone_label
from promotions import catalogue, points
from promotions.models import Campaign
from segments import builder as rule_builder

C = Campaign
MAX_TRIGGERS = 10
MAX_METADATA_ROWS = 20
MAX_TRIGGER_FILTERS = 20
WEEKDAY_CHOICES = [(str(i), name) for i, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))]
# Typed and shown as the app shows times ("4 Dec 2026 10:00", account timezone): config/dates.py.
DATETIME_FORMAT = dates.DISPLAY_DATETIME_FORMAT
TRUE_VALUES = ("on", "true", "True", "1")

# Messages the tests match exactly.
MSG_FUTURE = "Choose a time in the future."
MSG_START_PAST = "The start date cannot be in the past."
MSG_END_BEFORE_START = "The end must be after the start."
MSG_NO_OCCURRENCE = "This schedule has no run between its start and end dates."
MSG_RANDOM_ORDER = "Max must be greater than or equal to Min."
MSG_DUPLICATE_KEY = "Duplicate metadata key: {key}."
MSG_VALUE_WITHOUT_KEY = "Row {row}: a value needs a key."
MSG_RULES_JSON = "Enter the rules as a JSON object."
MSG_FILTER_ROW = "Trigger event {trigger}, filter {row}: {message}"
MSG_FILTER_NOT_OF_EVENT = "{property} is not a property of {event} in the event catalogue."
MSG_WEEKDAYS = "Choose at least one day of the week."
MSG_RANDOM_SPAN = f"The range from Min to Max may span at most {points.MAX_RANDOM_SPAN:,} points."
MSG_SAME_EVENTS = "Event B must differ from event A."
MSG_NOT_OFFERED = "Choose {label} among those offered: the one sent is not available."
MSG_GOAL_FILTER_ROW = "Goal filter {row}: {message}"
MSG_GOAL_WINDOW = "Enter how long after qualifying a conversion counts."
MSG_CONSTANT_PROPERTY = "Constant event property: choose a property that both event A and event B have."


def _fmt_decimal(value) -> str:
    return "" if value is None else f"{Decimal(value).normalize():f}"


def _fmt_int(value) -> str:
    return "" if value is None else str(value)


def _filter_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fmt_datetime(value) -> str:
    return "" if value is None else timezone.localtime(value).strftime(DATETIME_FORMAT)


def _dates_as_iso(node: dict) -> dict:
    """A filter row's date values are typed as the app shows them; the rules store ISO."""
    if node.get("value_type") == "date":
        for key in ("value", "value2"):
            if isinstance(node.get(key), str):
                node[key] = dates.date_iso(node[key])
    return node


def as_form_data(data: dict) -> MultiValueDict:
    """A dict of str / list[str] as a POST would carry it."""
    return MultiValueDict({k: (v if isinstance(v, list) else [v]) for k, v in data.items() if v not in (None, False)})


def querydict_as_initial(data, multi=("weekdays",)) -> dict:
    out = {}
    for key in data:
        values = data.getlist(key)
        out[key] = values if key in multi else (values[-1] if values else "")
    return out


def _positive_decimal(label, *, required=True):
    return forms.DecimalField(
        label=label, max_digits=14, decimal_places=3, min_value=Decimal("0.001"), required=required
    )


# What a message calls a field whose label is not a noun on its own ("For every", "At", "From"):
# "Enter the time of day.", never "Enter the at." Every other field is named by its label.
MESSAGE_NAMES = {
    "inaction_window_value": "the time frame",
    "inaction_window_unit": "the time frame's unit",
    "random_min": "the minimum points",
    "random_max": "the maximum points",
    "proportional_units": "the number of units (For every)",
    "proportional_points": "the points to give (Give)",
    "activation_value": "the activation delay",
    "activation_unit": "the activation delay's unit",
    "expiry_at": "the expiry date and time",
    "expiry_days": "the number of days after activation",
    "max_per_user_day": "the limit per day",
    "max_per_user_week": "the limit per week",
    "max_per_user_month": "the limit per month",
    "redemption_delay_value": "the redemption delay",
    "redemption_delay_unit": "the redemption delay's unit",
    "goal_window_value": "the goal window",
    "goal_window_unit": "the goal window's unit",
    "delivery": "the delivery",
    "scheduled_at": "the send time",
    "frequency": "how often it repeats",
    "run_time": "the time of day (At)",
    "recurrence_start": "the first day (From)",
    "recurrence_end": "the last day (Until)",
    "live_start": "when the campaign starts",
    "starts_at": "the start time",
    "live_end": "when the campaign ends",
    "ends_at": "the end time",
}


# A wallet's "after N months / years" as the campaign's "days after activation".
_UNIT_DAYS = {"days": 1, "months": 30, "years": 365}


def wallet_expiry_defaults(wallet) -> dict:
    """The campaign expiry fields that repeat a wallet's expiry rule (the custom lifecycle's start)."""
    if wallet is None:
        return {"expiry": C.Expiry.NEVER}
    if wallet.expiry_kind == "after" and wallet.expiry_value:
        days = wallet.expiry_value * _UNIT_DAYS.get(wallet.expiry_unit or "days", 1)
        return {"expiry": C.Expiry.CUSTOM, "expiry_days": str(days)}
    if wallet.expiry_kind == "calendar_year":
        year = timezone.localdate().year + (wallet.expiry_value or 0)
        end = datetime.datetime(year, 12, 31, 23, 59, tzinfo=timezone.get_current_timezone())
        return {"expiry": C.Expiry.ON_DATE, "expiry_at": _fmt_datetime(end)}
    return {"expiry": C.Expiry.NEVER}


def _label(field) -> str:
    if getattr(field, "message_name", ""):
        return field.message_name
    label = str(field.label or "").split(" (")[0].strip()
    label = label[:1].lower() + label[1:] if label and not label[:2].isupper() else label
    # "the campaign name", but "event A" and "trigger event 2" need no article.
    last = label.rsplit(" ", 1)[-1]
    return label if last.isdigit() or (len(last) == 1 and last.isupper()) else f"the {label}"


def name_field_messages(field, name: str = "") -> None:
    """Messages that name the field ("Enter the campaign name", "Choose the wallet") instead of
    Django's anonymous "This field is required."; points minimums read as points."""
    if not field.label:
        return
    if name in MESSAGE_NAMES:
        field.message_name = MESSAGE_NAMES[name]
    label = _label(field)
    choice = isinstance(field, forms.ChoiceField | forms.ModelChoiceField)
    if field.error_messages.get("required") == forms.Field.default_error_messages["required"]:
        field.error_messages["required"] = f"{'Choose' if choice else 'Enter'} {label}."
    if isinstance(field, forms.DecimalField) and field.min_value == Decimal("0.001"):
        field.error_messages["min_value"] = f"{label[:1].upper()}{label[1:]} must be more than 0."
    elif isinstance(field, forms.IntegerField) and field.min_value == 1:
        field.error_messages["min_value"] = f"{label[:1].upper()}{label[1:]} must be at least 1."
    if isinstance(field, forms.DecimalField | forms.IntegerField):
        field.error_messages["invalid"] = f"Enter {label} as a number."
    default_invalid = (forms.ChoiceField, forms.ModelChoiceField, forms.MultipleChoiceField)
    if choice and any(
        field.error_messages.get("invalid_choice") == cls.default_error_messages.get("invalid_choice")
        for cls in default_invalid
    ):
        field.error_messages["invalid_choice"] = MSG_NOT_OFFERED.format(label=label)


class SectionForm(forms.Form):
    section = ""

    def __init__(self, data=None, *, campaign: Campaign, initial=None, **kwargs):
        self.campaign = campaign
        super().__init__(data, initial=initial, **kwargs)
        self.notes: dict = {}
        self.apply_visibility()
        for name, field in self.fields.items():
            name_field_messages(field, name)

    # The current value of a controlling field: posted when bound, else the initial one.
    def value(self, name: str) -> str:
        raw = self.data.get(name, "") if self.is_bound else (self.initial or {}).get(name, "")
        if isinstance(raw, list):
            raw = raw[-1] if raw else ""
        return "" if raw is None else str(raw)

    def flag(self, name: str) -> bool:
        return self.value(name) in TRUE_VALUES

    def keep(self, *names: str) -> None:
        """Remove every optional field not in `names` (fields listed in `always` stay)."""
        for name in list(self.fields):
            if name not in names and name not in self.always:
                del self.fields[name]

    always: tuple[str, ...] = ()

    def apply_visibility(self) -> None:
        """Each section removes the fields its current choices do not offer."""

    def cleaned(self, name, default=None):
        return self.cleaned_data.get(name, default) if name in self.fields else default

    @classmethod
    def data_from(cls, campaign: Campaign) -> dict:
        """What the campaign has saved for this section, as a POST would carry it."""
        return {}


# 1. Start here --------------------------------------------------------------------------


class StartForm(SectionForm):
    section = "start"
    BEHAVIOR_CHOICES = [("past", "Past behavior / Custom list"), ("live", "Live behavior")]
    LIVE_KIND_CHOICES = [("action", "User actions"), ("inaction", "User inaction within a time frame")]

    name = forms.CharField(label="Campaign name", max_length=200)
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    behavior = forms.ChoiceField(label="Qualification", choices=BEHAVIOR_CHOICES, widget=forms.RadioSelect)
    live_kind = forms.ChoiceField(label="Live behavior", choices=LIVE_KIND_CHOICES, widget=forms.RadioSelect)

    always = ("name", "description", "behavior")

    def apply_visibility(self):
        if self.value("behavior") == "live":
            self.keep("live_kind")
        else:
            self.keep()

    @classmethod
    def data_from(cls, campaign):
        live = campaign.is_live
        return {
            "name": campaign.name,
            "description": campaign.description,
            "behavior": "live" if live else "past",
            "live_kind": "inaction" if campaign.qualification == C.Qualification.LIVE_INACTION else "action",
        }

    def values(self) -> dict:
        data = self.cleaned_data
        if data["behavior"] == "live":
            qualification = (
                C.Qualification.LIVE_ACTION if data["live_kind"] == "action" else C.Qualification.LIVE_INACTION
            )
        elif self.campaign.qualification == C.Qualification.CUSTOM_LIST:
            qualification = C.Qualification.CUSTOM_LIST
        else:
            qualification = C.Qualification.PAST_BEHAVIOR
        return {"name": data["name"].strip(), "description": data["description"], "qualification": qualification}


# 2. Who ---------------------------------------------------------------------------------


def _json_object(raw: str, *, required: bool) -> dict:
    raw = (raw or "").strip()
    if not raw:
        if required:
            raise forms.ValidationError(MSG_RULES_JSON)
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(MSG_RULES_JSON) from exc
    if not isinstance(value, dict) or (required and not value):
        raise forms.ValidationError(MSG_RULES_JSON)
    if not required and "type" not in value and not value.get("rules"):
        return {}  # the optional filter left with no rule (the visual builder posts {"op": "and", "rules": []})
    return catalogue.validate_rules(value)


def _filter_control(i: int, j: int, part: str) -> str:
    """The POST name of one control of trigger i's property filter j (e.g. "tf_0_1_operator")."""
    return f"tf_{i}_{j}_{part}"


FILTER_PARTS = ("property", "operator", "value", "value2")


def _goal_filter_control(j: int, part: str) -> str:
    """The POST name of one control of the goal's property filter j (e.g. "gf_1_operator")."""
    return f"gf_{j}_{part}"


def refresh_goal_filters(initial: dict, refresh: str) -> None:
    """Apply an "add_goal_filter" / "remove_goal_filter_<j>" row action to the posted values, in place."""
    match = re.fullmatch(r"(add|remove)_goal_filter(?:_(\d+))?", refresh or "")
    if not match:
        return
    try:
        count = max(0, min(MAX_TRIGGER_FILTERS, int(initial.get("goal_filter_count") or 0)))
    except ValueError:
        count = 0
    if match.group(1) == "add":
        initial["goal_filter_count"] = str(min(MAX_TRIGGER_FILTERS, count + 1))
        return
    if match.group(2) is None or int(match.group(2)) >= count:
        return
    for j in range(int(match.group(2)), count - 1):
        for part in FILTER_PARTS:
            initial[_goal_filter_control(j, part)] = initial.get(_goal_filter_control(j + 1, part), "")
    for part in FILTER_PARTS:
        initial.pop(_goal_filter_control(count - 1, part), None)
    initial["goal_filter_count"] = str(count - 1)


def refresh_trigger_filters(initial: dict, refresh: str) -> None:
    """Apply an "add_filter_<i>" / "remove_filter_<i>_<j>" row action to the posted values, in place."""
    match = re.fullmatch(r"(add|remove)_filter_(\d+)(?:_(\d+))?", refresh or "")
    if not match:
        return
    i = int(match.group(2))
    try:
        count = int(initial.get(f"trigger_filter_count_{i}") or 0)
    except ValueError:
        count = 0
    count = max(0, min(MAX_TRIGGER_FILTERS, count))
    if match.group(1) == "add":
        initial[f"trigger_filter_count_{i}"] = str(min(MAX_TRIGGER_FILTERS, count + 1))
        return
    if match.group(3) is None or int(match.group(3)) >= count:
        return
    for j in range(int(match.group(3)), count - 1):
        for part in FILTER_PARTS:
            initial[_filter_control(i, j, part)] = initial.get(_filter_control(i, j + 1, part), "")
    for part in FILTER_PARTS:
        initial.pop(_filter_control(i, count - 1, part), None)
    initial[f"trigger_filter_count_{i}"] = str(count - 1)


class WhoForm(SectionForm):
    section = "who"

    audience_source = forms.ChoiceField(label="Audience", choices=C.AudienceSource.choices, widget=forms.RadioSelect)
    segment = forms.ModelChoiceField(label="Saved segment", queryset=None, empty_label="Choose a segment")
    custom_list = forms.ModelChoiceField(label="Custom list", queryset=None, empty_label="Choose a custom list")
    rules = forms.CharField(
        label="Rules (JSON)", widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}), required=False
    )
    trigger_count = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=MAX_TRIGGERS, required=False)
    inaction_event_a = forms.ChoiceField(label="Event A (the user does)", choices=())
    inaction_event_b = forms.ChoiceField(label="Event B (the user does not do)", choices=())
    inaction_window_value = forms.IntegerField(label="Within", min_value=1, max_value=100_000)
    inaction_window_unit = forms.ChoiceField(label="Unit", choices=C.WindowUnit.choices)
    constant_property = forms.ChoiceField(
        label="Constant event property (optional)",
        choices=(),
        required=False,
        help_text="The same value in A and B, e.g. Product ID: the properties both events have.",
        error_messages={"invalid_choice": MSG_CONSTANT_PROPERTY},
    )
    # Drawn by the visual rule builder (templates/segments/components/rule_builder.html), whose hidden
    # input is named "rules": live campaigns have no audience `rules` field, so the name is free there.
    past_filter = forms.CharField(
        label="Filter on past behavior and user properties (optional)", widget=forms.HiddenInput, required=False
    )

    def __init__(self, data=None, *, campaign: Campaign, initial=None, **kwargs):
        live = campaign.qualification in (C.Qualification.LIVE_ACTION, C.Qualification.LIVE_INACTION)
        if live and initial and "rules" in initial:
            initial = {**initial, "past_filter": initial["rules"]}
        super().__init__(data, campaign=campaign, initial=initial, **kwargs)

    def add_prefix(self, field_name):
        if field_name == "past_filter":
            return "rules"
        return super().add_prefix(field_name)

    def trigger_rows(self) -> int:
        try:
            count = int(self.value("trigger_count") or 1)
        except ValueError:
            count = 1
        return max(1, min(MAX_TRIGGERS, count))

    def apply_visibility(self):
        q = self.campaign.qualification
        events = [("", "Choose an event")] + [(n, n) for n in catalogue.event_names()]
        if q in (C.Qualification.PAST_BEHAVIOR, C.Qualification.CUSTOM_LIST):
            self.always = ("audience_source",)
            source = self.value("audience_source")
            if source == C.AudienceSource.SEGMENT:
                self.keep("segment")
                self.fields["segment"].queryset = catalogue.segments()
            elif source == C.AudienceSource.CUSTOM_LIST:
                self.keep("custom_list")
                self.fields["custom_list"].queryset = catalogue.custom_lists()
            elif source == C.AudienceSource.RULES:
                self.keep("rules")
            else:
                self.keep()
        elif q == C.Qualification.LIVE_ACTION:
            self.always = ("trigger_count", "past_filter")
            self.keep()
            for i in range(self.trigger_rows()):
                self.fields[f"trigger_event_{i}"] = forms.ChoiceField(label=f"Trigger event {i + 1}", choices=events)
                # Carries the errors of the trigger's property filter rows (drawn by trigger_rows_vm).
                self.fields[f"trigger_filters_{i}"] = forms.CharField(required=False, widget=forms.HiddenInput)
        else:
            self.always = (
                "inaction_event_a",
                "inaction_event_b",
                "inaction_window_value",
                "inaction_window_unit",
                "constant_property",
                "past_filter",
            )
            self.keep()
            self.fields["inaction_event_a"].choices = events
            self.fields["inaction_event_b"].choices = events
            self.fields["constant_property"].choices = self.constant_property_choices()

    def constant_property_choices(self) -> list[tuple[str, str]]:
        """The properties events A and B both have in the catalogue (a typo would reward nobody)."""
        a, b = self.value("inaction_event_a"), self.value("inaction_event_b")
        if not a or not b:
            return [("", "Choose events A and B first")]
        shared = sorted({p for p, _ in self._event_props(a)} & {p for p, _ in self._event_props(b)})
        if not shared:
            return [("", f"{a} and {b} share no property")]
        return [("", "None")] + [(p, p) for p in shared]

    def estimate(self) -> int | None:
        """The audience of the segment or custom list currently chosen (past behaviour only)."""
        source = self.value("audience_source")
        probe = Campaign(qualification=self.campaign.qualification)
        try:
            if source == C.AudienceSource.SEGMENT and self.value("segment"):
                probe.segment_id = int(self.value("segment"))
            elif source == C.AudienceSource.CUSTOM_LIST and self.value("custom_list"):
                probe.custom_list_id = int(self.value("custom_list"))
            elif source == C.AudienceSource.RULES and self.value("rules"):
                probe.rules = json.loads(self.value("rules"))
                if not isinstance(probe.rules, dict):
                    return None
            else:
                return None
        except (ValueError, TypeError):
            return None
        return catalogue.audience_estimate(probe)

    def filter_rows(self, i: int) -> int:
        try:
            count = int(self.value(f"trigger_filter_count_{i}") or 0)
        except ValueError:
            count = 0
        return max(0, min(MAX_TRIGGER_FILTERS, count))

    def _event_props(self, event: str) -> list[tuple[str, str]]:
        cache = self.__dict__.setdefault("_props_cache", {})
        if event not in cache:
            cache[event] = catalogue.event_properties(event) if event else []
        return cache[event]

    def posted_filters(self, i: int) -> list[dict]:
        """Trigger i's property filter rows as posted, typed from the event's catalogue."""
        types = dict(self._event_props(self.value(f"trigger_event_{i}")))
        rows = []
        for j in range(self.filter_rows(i)):
            node = {part: self.value(_filter_control(i, j, part)) for part in FILTER_PARTS}
            if types.get(node["property"]):
                node["value_type"] = types[node["property"]]
            rows.append(_dates_as_iso(node))
        return rows

    def trigger_rows_vm(self) -> list[dict]:
        """What templates/promotions/_trigger_row.html draws for each trigger event row."""
        out = []
        for i in range(self.trigger_rows()):
            props = self._event_props(self.value(f"trigger_event_{i}"))
            filters = []
            for j, node in enumerate(self.posted_filters(i)):
                vm = rule_builder.filter_vm(node, f"tf_{i}_{j}", props)
                vm["names"] = {part: _filter_control(i, j, part) for part in FILTER_PARTS}
                vm["index"] = j
                filters.append(vm)
            out.append(
                {
                    "index": i,
                    "event_field": self[f"trigger_event_{i}"],
                    "filters": filters,
                    "filter_count": len(filters),
                    "errors": self[f"trigger_filters_{i}"].errors,
                    "can_add_filter": len(filters) < MAX_TRIGGER_FILTERS,
                }
            )
        return out

    @classmethod
    def data_from(cls, campaign):
        data = {
            "audience_source": campaign.audience_source,
            "segment": _fmt_int(campaign.segment_id),
            "custom_list": _fmt_int(campaign.custom_list_id),
            "rules": json.dumps(campaign.rules, indent=2) if campaign.rules else "",
            "trigger_count": str(max(1, len(campaign.triggers or []))),
            "inaction_event_a": campaign.inaction_event_a,
            "inaction_event_b": campaign.inaction_event_b,
            "inaction_window_value": _fmt_int(campaign.inaction_window_value),
            "inaction_window_unit": campaign.inaction_window_unit,
            "constant_property": campaign.constant_property,
            "past_filter": json.dumps(campaign.past_filter) if campaign.past_filter else "",
        }
        if campaign.qualification in (C.Qualification.LIVE_ACTION, C.Qualification.LIVE_INACTION):
            data["rules"] = data["past_filter"]  # the rule builder's input carries the past-behaviour filter
        for i, trigger in enumerate(campaign.triggers or []):
            data[f"trigger_event_{i}"] = trigger.get("event", "")
            filters = [f for f in trigger.get("filters") or [] if isinstance(f, dict)]
            data[f"trigger_filter_count_{i}"] = str(len(filters))
            for j, f in enumerate(filters):
                for part in FILTER_PARTS:
                    data[_filter_control(i, j, part)] = _filter_text(f.get(part))
        return data

    def clean_rules(self):
        return _json_object(self.cleaned_data.get("rules"), required=True)

    def clean_past_filter(self):
        return _json_object(self.cleaned_data.get("past_filter"), required=False)

    def clean(self):
        data = super().clean()
        for i in range(self.trigger_rows()):
            name = f"trigger_filters_{i}"
            if name in self.fields:
                data[name] = self._clean_filters(i)
        a, b = data.get("inaction_event_a"), data.get("inaction_event_b")
        if "inaction_event_b" in self.fields and a and b and a == b:
            self.add_error("inaction_event_b", MSG_SAME_EVENTS)
        return data

    def _clean_filters(self, i: int) -> list:
        """Trigger i's filters in the shape promotions/live.py reads; one error per bad row."""
        event = self.value(f"trigger_event_{i}")
        known = dict(self._event_props(event))
        clean = []
        for j, node in enumerate(self.posted_filters(i)):
            try:
                row = catalogue.validate_filters([node])
            except ValidationError as exc:
                for message in exc.messages:
                    message = re.sub(r"^Rule trigger filter 1: ", "", message)
                    message = message[:1].upper() + message[1:]
                    self.add_error(
                        f"trigger_filters_{i}", MSG_FILTER_ROW.format(trigger=i + 1, row=j + 1, message=message)
                    )
                continue
            if event and row[0]["property"] not in known:
                message = MSG_FILTER_NOT_OF_EVENT.format(property=row[0]["property"], event=event)
                self.add_error(f"trigger_filters_{i}", MSG_FILTER_ROW.format(trigger=i + 1, row=j + 1, message=message))
                continue
            clean.extend(row)
        return clean

    def values(self) -> dict:
        q = self.campaign.qualification
        values = {
            "audience_source": "",
            "segment": None,
            "custom_list": None,
            "rules": {},
            "triggers": [],
            "inaction_event_a": "",
            "inaction_event_b": "",
            "inaction_window_value": None,
            "inaction_window_unit": "",
            "constant_property": "",
            "past_filter": {},
        }
        if q in (C.Qualification.PAST_BEHAVIOR, C.Qualification.CUSTOM_LIST):
            source = self.cleaned("audience_source")
            values.update(
                audience_source=source,
                segment=self.cleaned("segment"),
                custom_list=self.cleaned("custom_list"),
                rules=self.cleaned("rules", {}),
                qualification=C.Qualification.CUSTOM_LIST
                if source == C.AudienceSource.CUSTOM_LIST
                else C.Qualification.PAST_BEHAVIOR,
            )
        elif q == C.Qualification.LIVE_ACTION:
            values["triggers"] = [
                {"event": self.cleaned_data[f"trigger_event_{i}"], "filters": self.cleaned_data[f"trigger_filters_{i}"]}
                for i in range(self.trigger_rows())
            ]
            values["past_filter"] = self.cleaned("past_filter", {})
        else:
            for name in self.always:
                values[name] = self.cleaned(name, values[name])
        return values


# 3. What --------------------------------------------------------------------------------


class WhatForm(SectionForm):
    section = "what"

    reward_type = forms.ChoiceField(label="Reward", choices=C.RewardType.choices, widget=forms.RadioSelect)
    wallet = forms.ModelChoiceField(label="Wallet", queryset=None, empty_label="Choose a wallet")
    points_type = forms.ChoiceField(label="Points type", choices=(), widget=forms.RadioSelect)
    flat_points = _positive_decimal("Points")
    random_min = forms.IntegerField(label="Min", min_value=1)
    random_max = forms.IntegerField(label="Max", min_value=1)
    random_favor = forms.ChoiceField(label="Probability favor", choices=C.Favor.choices, widget=forms.RadioSelect)
    points_property = forms.ChoiceField(label="Event property", choices=())
    percentage = forms.DecimalField(
        label="Percentage (%)", max_digits=7, decimal_places=3, min_value=Decimal("0.001"), max_value=1000
    )
    proportional_units = _positive_decimal("For every (units of the property)")
    proportional_points = _positive_decimal("Give (points)")
    max_points_per_reward = _positive_decimal("Max points per reward (optional)", required=False)
    custom_lifecycle = forms.BooleanField(label="Custom points lifecycle", required=False)
    activation = forms.ChoiceField(
        label="Activation", choices=C.Activation.choices, widget=forms.RadioSelect, initial="immediate"
    )
    activation_value = forms.IntegerField(label="Activate after", min_value=1, max_value=100_000)
    activation_unit = forms.ChoiceField(label="Unit", choices=C.DelayUnit.choices)
    expiry = forms.ChoiceField(label="Expiry", choices=C.Expiry.choices, widget=forms.RadioSelect, initial="never")
    expiry_at = dates.DateTimeField(label="Expires on")
    expiry_days = forms.IntegerField(label="Days after activation", min_value=1, max_value=36_500)
    budget_campaign = _positive_decimal("Campaign budget (points, optional)", required=False)
    budget_per_user = _positive_decimal("Per-user budget (points, optional)", required=False)
    max_per_user_total = forms.IntegerField(label="Max times per user in total", min_value=1, required=False)
    max_per_user_day = forms.IntegerField(label="Per day", min_value=1, required=False)
    max_per_user_week = forms.IntegerField(label="Per week", min_value=1, required=False)
    max_per_user_month = forms.IntegerField(label="Per month", min_value=1, required=False)
    metadata_count = forms.IntegerField(widget=forms.HiddenInput, required=False)
    coupon_kind = forms.ChoiceField(label="Coupon type", choices=C.CouponKind.choices, widget=forms.RadioSelect)
    coupon = forms.ModelChoiceField(label="Coupon", queryset=None, empty_label="Choose a coupon")
    redemption_activation = forms.ChoiceField(
        label="Redemption activation", choices=C.Activation.choices, widget=forms.RadioSelect, initial="immediate"
    )
    redemption_delay_value = forms.IntegerField(label="Redeemable after", min_value=1, max_value=100_000)
    redemption_delay_unit = forms.ChoiceField(
        label="Unit", choices=[(C.DelayUnit.HOURS, "Hours"), (C.DelayUnit.DAYS, "Days")]
    )
    partner = forms.ModelChoiceField(label="Code provider", queryset=None, empty_label="Choose a code provider")
    voucher_list = forms.ModelChoiceField(label="Code snippet", queryset=None, empty_label="Choose a code snippet")
    max_codes_per_user = forms.IntegerField(label="Max per user (optional)", min_value=1, required=False)
    max_codes_per_campaign = forms.IntegerField(label="Max per campaign (optional)", min_value=1, required=False)

    # Outcome (issue #19): an optional holdout and conversion goal, whatever the reward.
    holdout_percent = forms.IntegerField(
        label="Holdout (% of qualifying profiles not rewarded, optional)",
        min_value=1,
        max_value=50,
        required=False,
        help_text="Chosen by a stable hash of campaign and profile; measures what the reward changed.",
    )
    goal_event = forms.ChoiceField(label="Conversion goal (optional)", choices=(), required=False)
    goal_window_value = forms.IntegerField(label="Counts within", min_value=1, max_value=100_000)
    goal_window_unit = forms.ChoiceField(label="Unit", choices=C.GoalWindowUnit.choices, initial="days")
    goal_value_property = forms.ChoiceField(label="Sum as the goal's value (optional)", choices=(), required=False)
    goal_filter_count = forms.IntegerField(widget=forms.HiddenInput, required=False)
    goal_filters = forms.CharField(required=False, widget=forms.HiddenInput)

    GOAL_FIELDS = ("goal_window_value", "goal_window_unit", "goal_value_property", "goal_filter_count", "goal_filters")
    # The outcome fields stay whatever the reward; _goal_visibility drops the goal's details without a goal.
    always = ("reward_type", "holdout_percent", "goal_event", *GOAL_FIELDS)

    def _goal_visibility(self) -> None:
        self.fields["goal_event"].choices = [("", "No goal")] + [(n, n) for n in catalogue.event_names()]
        event = self.value("goal_event")
        if not event:
            for name in self.GOAL_FIELDS:
                self.fields.pop(name, None)
            return
        numeric = catalogue.event_numeric_properties(event)
        self.fields["goal_value_property"].choices = [("", "Nothing (count conversions only)")] + [
            (p, p) for p in numeric
        ]

    def goal_filter_rows(self) -> int:
        try:
            count = int(self.value("goal_filter_count") or 0)
        except ValueError:
            count = 0
        return max(0, min(MAX_TRIGGER_FILTERS, count))

    def goal_posted_filters(self) -> list[dict]:
        types = dict(catalogue.event_properties(self.value("goal_event")))
        rows = []
        for j in range(self.goal_filter_rows()):
            node = {part: self.value(_goal_filter_control(j, part)) for part in FILTER_PARTS}
            if types.get(node["property"]):
                node["value_type"] = types[node["property"]]
            rows.append(_dates_as_iso(node))
        return rows

    def goal_filters_vm(self) -> dict:
        """What templates/promotions/_goal_filters.html draws: the same filter rows as a trigger's."""
        props = catalogue.event_properties(self.value("goal_event"))
        rows = []
        for j, node in enumerate(self.goal_posted_filters()):
            vm = rule_builder.filter_vm(node, f"gf_{j}", props)
            vm["names"] = {part: _goal_filter_control(j, part) for part in FILTER_PARTS}
            vm["index"] = j
            rows.append(vm)
        return {
            "filters": rows,
            "filter_count": len(rows),
            "errors": self["goal_filters"].errors if "goal_filters" in self.fields else [],
            "can_add_filter": len(rows) < MAX_TRIGGER_FILTERS,
        }

    def _clean_goal(self, data: dict) -> None:
        if not data.get("goal_event"):
            return
        if not data.get("goal_window_value"):
            self.add_error("goal_window_value", MSG_GOAL_WINDOW)
        known = dict(catalogue.event_properties(data["goal_event"]))
        clean = []
        for j, node in enumerate(self.goal_posted_filters()):
            try:
                row = catalogue.validate_filters([node])
            except ValidationError as exc:
                for message in exc.messages:
                    message = re.sub(r"^Rule trigger filter 1: ", "", message)
                    message = message[:1].upper() + message[1:]
                    self.add_error("goal_filters", MSG_GOAL_FILTER_ROW.format(row=j + 1, message=message))
                continue
            if row[0]["property"] not in known:
                message = MSG_FILTER_NOT_OF_EVENT.format(property=row[0]["property"], event=data["goal_event"])
                self.add_error("goal_filters", MSG_GOAL_FILTER_ROW.format(row=j + 1, message=message))
                continue
            clean.extend(row)
        data["goal_filters"] = clean

    def numeric_trigger_properties(self) -> list[str]:
        """Percentage / Proportional apply only to a live user-action campaign with one trigger event."""
        c = self.campaign
        if c.qualification != C.Qualification.LIVE_ACTION or len(c.triggers or []) != 1:
            return []
        return catalogue.event_numeric_properties(c.triggers[0].get("event", ""))

    def metadata_rows(self) -> int:
        try:
            count = int(self.value("metadata_count") or 1)
        except ValueError:
            count = 1
        return max(1, min(MAX_METADATA_ROWS, count))

    def apply_visibility(self):
        live = self.campaign.is_live
        reward = self.value("reward_type")
        keep = []
        if reward == C.RewardType.POINTS:
            keep += ["wallet", "points_type", "custom_lifecycle", "metadata_count"]
            self.fields["wallet"].queryset = catalogue.active_wallets()
            numeric = self.numeric_trigger_properties()
            types = [C.PointsType.FLAT, C.PointsType.RANDOM]
            if numeric:
                types += [C.PointsType.PERCENTAGE, C.PointsType.PROPORTIONAL]
                self.fields["points_property"].choices = [("", "Choose a property")] + [(p, p) for p in numeric]
            self.fields["points_type"].choices = [(t.value, t.label) for t in types]
            ptype = self.value("points_type")
            if ptype not in [t.value for t in types]:
                ptype = ""
            if ptype == C.PointsType.FLAT:
                keep += ["flat_points"]
            elif ptype == C.PointsType.RANDOM:
                keep += ["random_min", "random_max", "random_favor"]
            elif ptype == C.PointsType.PERCENTAGE:
                keep += ["points_property", "percentage", "max_points_per_reward"]
            elif ptype == C.PointsType.PROPORTIONAL:
                keep += ["points_property", "proportional_units", "proportional_points", "max_points_per_reward"]
            if self.flag("custom_lifecycle"):
                self._lifecycle_defaults()
                keep += ["activation", "expiry"]
                if self.value("activation") == C.Activation.CUSTOM:
                    keep += ["activation_value", "activation_unit"]
                if self.value("expiry") == C.Expiry.ON_DATE:
                    keep += ["expiry_at"]
                elif self.value("expiry") == C.Expiry.CUSTOM:
                    keep += ["expiry_days"]
            if live:
                keep += ["budget_campaign", "max_per_user_total", "max_per_user_day", "max_per_user_week"]
                keep += ["max_per_user_month"]
                if ptype and ptype != C.PointsType.FLAT:
                    keep += ["budget_per_user"]
        elif reward == C.RewardType.COUPON:
            keep += ["coupon_kind", "redemption_activation"]
            kind = self.value("coupon_kind")
            if kind in C.CouponKind.values:
                keep += ["coupon"]
                self.fields["coupon"].queryset = catalogue.available_coupons(kind)
            if self.value("redemption_activation") == C.Activation.CUSTOM:
                keep += ["redemption_delay_value", "redemption_delay_unit"]
            if live:
                keep += ["max_codes_per_user", "max_codes_per_campaign"]
        elif reward == C.RewardType.VOUCHER:
            keep += ["partner"]
            self.fields["partner"].queryset = catalogue.active_partners()
            partner = self.fields["partner"].queryset.filter(pk=self.value("partner") or None).first()
            if partner is not None:
                keep += ["voucher_list"]
                self.fields["voucher_list"].queryset = catalogue.usable_voucher_lists(partner)
                self.fields["voucher_list"].label_from_instance = lambda vl: f"{vl.name} ({vl.tag})"
            if live:
                keep += ["max_codes_per_user", "max_codes_per_campaign"]
        self.keep(*keep)
        if "metadata_count" in self.fields:
            for i in range(self.metadata_rows()):
                self.fields[f"metadata_key_{i}"] = forms.CharField(label="Key", max_length=120, required=False)
                self.fields[f"metadata_value_{i}"] = forms.CharField(label="Value", max_length=512, required=False)

        self._goal_visibility()

    def _lifecycle_defaults(self) -> None:
        """Ticking "Custom points lifecycle" starts from the wallet's own rule, not from Never."""
        if self.value("expiry"):
            return
        wallet = self.fields["wallet"].queryset.filter(pk=self.value("wallet") or None).first()
        defaults = {"activation": self.value("activation") or C.Activation.IMMEDIATE}
        defaults.update(wallet_expiry_defaults(wallet))
        if self.is_bound:
            data = self.data.copy()
            for key, value in defaults.items():
                data[key] = value
            self.data = data
        else:
            self.initial = {**(self.initial or {}), **defaults}

    def metadata_fields(self):
        return [(self[f"metadata_key_{i}"], self[f"metadata_value_{i}"]) for i in range(self.metadata_rows())]

    @classmethod
    def data_from(cls, campaign):
        c = campaign
        data = {
            "reward_type": c.reward_type,
            "wallet": _fmt_int(c.wallet_id),
            "points_type": c.points_type,
            "flat_points": _fmt_decimal(c.flat_points),
            "random_min": _fmt_int(c.random_min),
            "random_max": _fmt_int(c.random_max),
            "random_favor": c.random_favor,
            "points_property": c.points_property,
            "percentage": _fmt_decimal(c.percentage),
            "proportional_units": _fmt_decimal(c.proportional_units),
            "proportional_points": _fmt_decimal(c.proportional_points),
            "max_points_per_reward": _fmt_decimal(c.max_points_per_reward),
            "custom_lifecycle": "on" if c.custom_lifecycle else "",
            "activation": c.activation or C.Activation.IMMEDIATE,
            "activation_value": _fmt_int(c.activation_value),
            "activation_unit": c.activation_unit,
            "expiry": c.expiry or C.Expiry.NEVER,
            "expiry_at": _fmt_datetime(c.expiry_at),
            "expiry_days": _fmt_int(c.expiry_days),
            "budget_campaign": _fmt_decimal(c.budget_campaign),
            "budget_per_user": _fmt_decimal(c.budget_per_user),
            "max_per_user_total": _fmt_int(c.max_per_user_total),
            "max_per_user_day": _fmt_int(c.max_per_user_day),
            "max_per_user_week": _fmt_int(c.max_per_user_week),
            "max_per_user_month": _fmt_int(c.max_per_user_month),
            "coupon_kind": c.coupon_kind,
            "coupon": _fmt_int(c.coupon_id),
            "redemption_activation": c.redemption_activation or C.Activation.IMMEDIATE,
            "redemption_delay_value": _fmt_int(c.redemption_delay_value),
            "redemption_delay_unit": c.redemption_delay_unit,
            "partner": _fmt_int(c.partner_id),
            "voucher_list": _fmt_int(c.voucher_list_id),
            "max_codes_per_user": _fmt_int(c.max_codes_per_user),
            "max_codes_per_campaign": _fmt_int(c.max_codes_per_campaign),
            "metadata_count": str(max(1, len(c.metadata or {}))),
            "holdout_percent": _fmt_int(c.holdout_percent),
            "goal_event": c.goal_event,
            "goal_window_value": _fmt_int(c.goal_window_value),
            "goal_window_unit": c.goal_window_unit or C.GoalWindowUnit.DAYS,
            "goal_value_property": c.goal_value_property,
            "goal_filter_count": str(len(c.goal_filters or [])),
        }
        for j, node in enumerate(c.goal_filters or []):
            for part in FILTER_PARTS:
                value = node.get(part, "")
                data[_goal_filter_control(j, part)] = _filter_text(value) if part in ("value", "value2") else value
        for i, (key, value) in enumerate((c.metadata or {}).items()):
            data[f"metadata_key_{i}"] = key
            data[f"metadata_value_{i}"] = str(value)
        return data

    def clean(self):
        data = super().clean()
        low, high = data.get("random_min"), data.get("random_max")
        if "random_max" in self.fields and low is not None and high is not None:
            if high < low:
                self.add_error("random_max", MSG_RANDOM_ORDER)
            elif high - low + 1 > points.MAX_RANDOM_SPAN:
                self.add_error("random_max", MSG_RANDOM_SPAN)
        if "expiry_at" in self.fields and data.get("expiry_at") and data["expiry_at"] <= timezone.now():
            self.add_error("expiry_at", MSG_FUTURE)
        if "metadata_count" in self.fields:
            seen = {}
            for i in range(self.metadata_rows()):
                key = (data.get(f"metadata_key_{i}") or "").strip()
                value = data.get(f"metadata_value_{i}") or ""
                if not key:
                    if value.strip():
                        self.add_error(f"metadata_key_{i}", MSG_VALUE_WITHOUT_KEY.format(row=i + 1))
                    continue
                if key in seen:
                    self.add_error(f"metadata_key_{i}", MSG_DUPLICATE_KEY.format(key=key))
                    continue
                seen[key] = value
            data["metadata"] = seen
        self._clean_goal(data)
        return data

    FIELDS = [
        "reward_type",
        "wallet",
        "points_type",
        "flat_points",
        "random_min",
        "random_max",
        "random_favor",
        "points_property",
        "percentage",
        "proportional_units",
        "proportional_points",
        "max_points_per_reward",
        "custom_lifecycle",
        "activation",
        "activation_value",
        "activation_unit",
        "expiry",
        "expiry_at",
        "expiry_days",
        "budget_campaign",
        "budget_per_user",
        "max_per_user_total",
        "max_per_user_day",
        "max_per_user_week",
        "max_per_user_month",
        "coupon_kind",
        "coupon",
        "redemption_activation",
        "redemption_delay_value",
        "redemption_delay_unit",
        "partner",
        "voucher_list",
        "max_codes_per_user",
        "max_codes_per_campaign",
        "holdout_percent",
        "goal_event",
        "goal_window_value",
        "goal_window_unit",
        "goal_value_property",
    ]

    def values(self) -> dict:
        values = {}
        for name in self.FIELDS:
            model_field = C._meta.get_field(name)
            if name in self.fields:
                value = self.cleaned_data.get(name)
                if value is None and not model_field.null:
                    value = model_field.get_default()
            else:
                value = None if model_field.null else model_field.get_default()
            values[name] = value
        values["metadata"] = self.cleaned_data.get("metadata", {}) if "metadata_count" in self.fields else {}
        values["goal_filters"] = self.cleaned_data.get("goal_filters") or [] if values["goal_event"] else []
        return values

    # What the marketer sees beside the fields (computed from the current choices).
    def compute_notes(self) -> dict:
        notes = {}
        c = self.campaign
        estimate = catalogue.audience_estimate(c) if not c.is_live else None
        notes["estimate"] = estimate
        if "random_favor" in self.fields:
            try:
                low, high = int(self.value("random_min")), int(self.value("random_max"))
                favor = self.value("random_favor")
                if 1 <= low <= high and high - low < points.MAX_RANDOM_SPAN and favor in C.Favor.values:
                    expected = points.random_points_expected(low, high, favor)
                    notes["expected_points"] = expected
                    if estimate is not None:
                        notes["expected_cost"] = expected * estimate
                    budget = self.value("budget_campaign")
                    if c.is_live and budget:
                        notes["budget"] = Decimal(budget)
                        notes["rewards_in_budget"] = int(Decimal(budget) / expected)
            except (ValueError, ArithmeticError):
                pass
        left = None
        if "coupon" in self.fields and self.value("coupon_kind") == C.CouponKind.BULK:
            coupon = self.fields["coupon"].queryset.filter(pk=self.value("coupon") or None).first()
            if coupon is not None:
                left = catalogue.coupon_codes_left(coupon)
        if "voucher_list" in self.fields:
            voucher_list = self.fields["voucher_list"].queryset.filter(pk=self.value("voucher_list") or None).first()
            if voucher_list is not None:
                left = catalogue.voucher_codes_left(voucher_list)
        notes["codes_left"] = left
        notes["inventory_alert"] = estimate is not None and left is not None and estimate > left
        return notes


# 4. When --------------------------------------------------------------------------------


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
        keep = []
        if self.campaign.is_live:
            keep += ["live_start", "live_end"]
            if self.value("live_start") == C.LiveStart.AT:
                keep += ["starts_at"]
            if self.value("live_end") == C.LiveEnd.AT:
                keep += ["ends_at"]
        else:
            keep += ["delivery"]
            delivery = self.value("delivery")
            if delivery == C.Delivery.LATER:
                keep += ["scheduled_at"]
            elif delivery == C.Delivery.RECURRING:
                keep += ["frequency", "run_time", "recurrence_start", "recurrence_end", "reward_again"]
                if self.value("frequency") == C.Frequency.WEEKLY:
                    keep += ["weekdays"]
                elif self.value("frequency") == C.Frequency.MONTHLY:
                    keep += ["month_day"]
        self.keep(*keep)

    @classmethod
    def data_from(cls, campaign):
        c = campaign
        return {
            "delivery": c.delivery,
            "scheduled_at": _fmt_datetime(c.scheduled_at),
            "frequency": c.frequency,
            "weekdays": [str(d) for d in c.weekdays or []],
            "month_day": _fmt_int(c.month_day),
            "run_time": c.run_time.strftime("%H:%M") if c.run_time else "",
            "recurrence_start": dates.date_display(c.recurrence_start) if c.recurrence_start else "",
            "recurrence_end": dates.date_display(c.recurrence_end) if c.recurrence_end else "",
            "reward_again": "on" if c.reward_again else "",
            "live_start": c.live_start,
            "starts_at": _fmt_datetime(c.starts_at) if c.live_start == C.LiveStart.AT else "",
            "live_end": c.live_end,
            "ends_at": _fmt_datetime(c.ends_at) if c.live_end == C.LiveEnd.AT else "",
        }

    def clean(self):
        from promotions import schedule

        data = super().clean()
        now = timezone.now()
        if "scheduled_at" in self.fields and data.get("scheduled_at") and data["scheduled_at"] <= now:
            self.add_error("scheduled_at", MSG_FUTURE)
        if "starts_at" in self.fields and data.get("starts_at") and data["starts_at"] <= now:
            self.add_error("starts_at", MSG_FUTURE)
        if "ends_at" in self.fields and data.get("ends_at"):
            if data["ends_at"] <= now:
                self.add_error("ends_at", MSG_FUTURE)
            elif data.get("starts_at") and data["ends_at"] <= data["starts_at"]:
                self.add_error("ends_at", MSG_END_BEFORE_START)
        if "recurrence_start" in self.fields and data.get("recurrence_start"):
            start, end = data["recurrence_start"], data.get("recurrence_end")
            if start < timezone.localdate():
                self.add_error("recurrence_start", MSG_START_PAST)
            elif end and end < start:
                self.add_error("recurrence_end", MSG_END_BEFORE_START)
            elif "weekdays" in self.fields and not data.get("weekdays"):
                pass  # the field's own "required" error says it
            elif data.get("frequency") and data.get("run_time") and not self.errors:
                first = schedule.occurrence_next(
                    frequency=data["frequency"],
                    weekdays=[int(d) for d in data.get("weekdays") or []],
                    month_day=data.get("month_day"),
                    run_time=data["run_time"],
                    start=start,
                    end=end,
                    tz=timezone.get_current_timezone(),
                    after=now,
                    inclusive=False,
                )
                if first is None:
                    self.add_error("recurrence_end" if end else "recurrence_start", MSG_NO_OCCURRENCE)
                else:
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


SECTION_FORMS = {"start": StartForm, "who": WhoForm, "what": WhatForm, "when": WhenForm}


def section_form_from_campaign(campaign: Campaign, section: str) -> SectionForm:
    """The section's form bound to what the campaign has saved: used to re-check a section."""
    form_class = SECTION_FORMS[section]
    return form_class(as_form_data(form_class.data_from(campaign)), campaign=campaign)
