"""Who: the audience of a past-behaviour campaign, or a live campaign's trigger events (with their
property filter rows) or inaction events; the rules they meet are promotions/rules/who.py."""

import json

from django import forms

from promotions import catalogue
from promotions.forms.fields import SectionForm
from promotions.forms.filter_rows import filter_control
from promotions.forms.formatting import fmt_int
from promotions.models import Campaign
from promotions.rules import who as who_rules
from promotions.rules.filters import FILTER_PARTS, MAX_TRIGGER_FILTERS, filter_row, filter_text
from promotions.rules.who import MAX_TRIGGERS, MSG_CONSTANT_PROPERTY, MSG_RULES_JSON
from segments import builder as rule_builder

C = Campaign


def _json_object(raw: str, *, required: bool) -> dict:
    """Rules typed (or drawn) as JSON, parsed, then checked by the audience rules."""
    raw = (raw or "").strip()
    if not raw:
        if required:
            raise forms.ValidationError(MSG_RULES_JSON)
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(MSG_RULES_JSON) from exc
    return who_rules.rules_object(value, required=required)


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
        shared = who_rules.shared_properties(a, b, props=self._event_props)
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
        return [
            filter_row({part: self.value(filter_control(i, j, part)) for part in FILTER_PARTS}, types)
            for j in range(self.filter_rows(i))
        ]

    def trigger_rows_vm(self) -> list[dict]:
        """What templates/promotions/_trigger_row.html draws for each trigger event row."""
        out = []
        for i in range(self.trigger_rows()):
            props = self._event_props(self.value(f"trigger_event_{i}"))
            filters = []
            for j, node in enumerate(self.posted_filters(i)):
                vm = rule_builder.filter_vm(node, f"tf_{i}_{j}", props)
                vm["names"] = {part: filter_control(i, j, part) for part in FILTER_PARTS}
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
            "segment": fmt_int(campaign.segment_id),
            "custom_list": fmt_int(campaign.custom_list_id),
            "rules": json.dumps(campaign.rules, indent=2) if campaign.rules else "",
            "trigger_count": str(max(1, len(campaign.triggers or []))),
            "inaction_event_a": campaign.inaction_event_a,
            "inaction_event_b": campaign.inaction_event_b,
            "inaction_window_value": fmt_int(campaign.inaction_window_value),
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
                    data[filter_control(i, j, part)] = filter_text(f.get(part))
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
        if "inaction_event_b" in self.fields:
            self.add_errors(who_rules.inaction_errors(data.get("inaction_event_a"), data.get("inaction_event_b")))
        return data

    def _clean_filters(self, i: int) -> list:
        """Trigger i's filters in the shape promotions/engine/live.py reads; one error per bad row."""
        event = self.value(f"trigger_event_{i}")
        clean, errors = who_rules.trigger_filters_check(
            i, event=event, rows=self.posted_filters(i), known=dict(self._event_props(event))
        )
        self.add_errors(errors)
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
