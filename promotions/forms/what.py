"""What: the reward (points, a coupon, a voucher code), its amounts, lifecycle and limits, and the
outcome goal; the rules they meet are promotions/rules/what.py."""

from decimal import Decimal

from django import forms
from django.utils import timezone

from accounts import dates
from core.db import INT_MAX
from promotions import catalogue, points
from promotions.forms.fields import SectionForm, positive_decimal
from promotions.forms.filter_rows import goal_filter_control
from promotions.forms.formatting import fmt_datetime, fmt_decimal, fmt_int, wallet_expiry_defaults
from promotions.models import Campaign
from promotions.rules import what as what_rules
from promotions.rules.filters import FILTER_PARTS, MAX_TRIGGER_FILTERS, filter_row, filter_text
from segments import builder as rule_builder

C = Campaign
MAX_METADATA_ROWS = 20


class WhatForm(SectionForm):
    section = "what"

    reward_type = forms.ChoiceField(label="Reward", choices=C.RewardType.choices, widget=forms.RadioSelect)
    wallet = forms.ModelChoiceField(label="Wallet", queryset=None, empty_label="Choose a wallet")
    points_type = forms.ChoiceField(label="Points type", choices=(), widget=forms.RadioSelect)
    flat_points = positive_decimal("Points")
    random_min = forms.IntegerField(label="Min", min_value=1, max_value=INT_MAX)
    random_max = forms.IntegerField(label="Max", min_value=1, max_value=INT_MAX)
    random_favor = forms.ChoiceField(label="Probability favor", choices=C.Favor.choices, widget=forms.RadioSelect)
    points_property = forms.ChoiceField(label="Event property", choices=())
    percentage = forms.DecimalField(
        label="Percentage (%)", max_digits=7, decimal_places=3, min_value=Decimal("0.001"), max_value=1000
    )
    proportional_units = positive_decimal("For every (units of the property)")
    proportional_points = positive_decimal("Give (points)")
    max_points_per_reward = positive_decimal("Max points per reward (optional)", required=False)
    custom_lifecycle = forms.BooleanField(label="Custom points lifecycle", required=False)
    activation = forms.ChoiceField(
        label="Activation", choices=C.Activation.choices, widget=forms.RadioSelect, initial="immediate"
    )
    activation_value = forms.IntegerField(label="Activate after", min_value=1, max_value=100_000)
    activation_unit = forms.ChoiceField(label="Unit", choices=C.DelayUnit.choices)
    expiry = forms.ChoiceField(label="Expiry", choices=C.Expiry.choices, widget=forms.RadioSelect, initial="never")
    expiry_at = dates.DateTimeField(label="Expires on")
    expiry_days = forms.IntegerField(label="Days after activation", min_value=1, max_value=36_500)
    budget_campaign = positive_decimal("Campaign budget (points, optional)", required=False)
    budget_per_user = positive_decimal("Per-user budget (points, optional)", required=False)
    max_per_user_total = forms.IntegerField(
        label="Max times per user in total", min_value=1, max_value=INT_MAX, required=False
    )
    max_per_user_day = forms.IntegerField(label="Per day", min_value=1, max_value=INT_MAX, required=False)
    max_per_user_week = forms.IntegerField(label="Per week", min_value=1, max_value=INT_MAX, required=False)
    max_per_user_month = forms.IntegerField(label="Per month", min_value=1, max_value=INT_MAX, required=False)
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
    max_codes_per_user = forms.IntegerField(
        label="Max per user (optional)", min_value=1, max_value=INT_MAX, required=False
    )
    max_codes_per_campaign = forms.IntegerField(
        label="Max per campaign (optional)", min_value=1, max_value=INT_MAX, required=False
    )

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
        return [
            filter_row({part: self.value(goal_filter_control(j, part)) for part in FILTER_PARTS}, types)
            for j in range(self.goal_filter_rows())
        ]

    def goal_filters_vm(self) -> dict:
        """What templates/promotions/_goal_filters.html draws: the same filter rows as a trigger's."""
        props = catalogue.event_properties(self.value("goal_event"))
        rows = []
        for j, node in enumerate(self.goal_posted_filters()):
            vm = rule_builder.filter_vm(node, f"gf_{j}", props)
            vm["names"] = {part: goal_filter_control(j, part) for part in FILTER_PARTS}
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
        known = dict(catalogue.event_properties(data["goal_event"]))
        rows = self.goal_posted_filters()
        data["goal_filters"], errors = what_rules.goal_check(
            data["goal_event"], data.get("goal_window_value"), rows, known
        )
        self.add_errors(errors)

    def numeric_trigger_properties(self) -> list[str]:
        return what_rules.numeric_trigger_properties(self.campaign)

    def metadata_rows(self) -> int:
        try:
            count = int(self.value("metadata_count") or 1)
        except ValueError:
            count = 1
        return max(1, min(MAX_METADATA_ROWS, count))

    def apply_visibility(self):
        reward = self.value("reward_type")
        numeric, types, partner = [], [], None
        if reward == C.RewardType.POINTS:
            self.fields["wallet"].queryset = catalogue.active_wallets()
            numeric = self.numeric_trigger_properties()
            types = what_rules.points_types(numeric)
            if numeric:
                self.fields["points_property"].choices = [("", "Choose a property")] + [(p, p) for p in numeric]
            self.fields["points_type"].choices = [(t, C.PointsType(t).label) for t in types]
            if self.flag("custom_lifecycle"):
                self._lifecycle_defaults()
        elif reward == C.RewardType.COUPON:
            if self.value("coupon_kind") in C.CouponKind.values:
                self.fields["coupon"].queryset = catalogue.available_coupons(self.value("coupon_kind"))
        elif reward == C.RewardType.VOUCHER:
            self.fields["partner"].queryset = catalogue.active_partners()
            partner = self.fields["partner"].queryset.filter(pk=self.value("partner") or None).first()
            if partner is not None:
                self.fields["voucher_list"].queryset = catalogue.usable_voucher_lists(partner)
                self.fields["voucher_list"].label_from_instance = lambda vl: f"{vl.name} ({vl.tag})"
        keep = what_rules.fields_offered(
            reward=reward,
            live=self.campaign.is_live,
            points_type=self.value("points_type"),
            offered_types=types,
            custom_lifecycle=self.flag("custom_lifecycle"),
            activation=self.value("activation"),
            expiry=self.value("expiry"),
            coupon_kind=self.value("coupon_kind"),
            redemption_activation=self.value("redemption_activation"),
            partner_offered=partner is not None,
        )
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
            "wallet": fmt_int(c.wallet_id),
            "points_type": c.points_type,
            "flat_points": fmt_decimal(c.flat_points),
            "random_min": fmt_int(c.random_min),
            "random_max": fmt_int(c.random_max),
            "random_favor": c.random_favor,
            "points_property": c.points_property,
            "percentage": fmt_decimal(c.percentage),
            "proportional_units": fmt_decimal(c.proportional_units),
            "proportional_points": fmt_decimal(c.proportional_points),
            "max_points_per_reward": fmt_decimal(c.max_points_per_reward),
            "custom_lifecycle": "on" if c.custom_lifecycle else "",
            "activation": c.activation or C.Activation.IMMEDIATE,
            "activation_value": fmt_int(c.activation_value),
            "activation_unit": c.activation_unit,
            "expiry": c.expiry or C.Expiry.NEVER,
            "expiry_at": fmt_datetime(c.expiry_at),
            "expiry_days": fmt_int(c.expiry_days),
            "budget_campaign": fmt_decimal(c.budget_campaign),
            "budget_per_user": fmt_decimal(c.budget_per_user),
            "max_per_user_total": fmt_int(c.max_per_user_total),
            "max_per_user_day": fmt_int(c.max_per_user_day),
            "max_per_user_week": fmt_int(c.max_per_user_week),
            "max_per_user_month": fmt_int(c.max_per_user_month),
            "coupon_kind": c.coupon_kind,
            "coupon": fmt_int(c.coupon_id),
            "redemption_activation": c.redemption_activation or C.Activation.IMMEDIATE,
            "redemption_delay_value": fmt_int(c.redemption_delay_value),
            "redemption_delay_unit": c.redemption_delay_unit,
            "partner": fmt_int(c.partner_id),
            "voucher_list": fmt_int(c.voucher_list_id),
            "max_codes_per_user": fmt_int(c.max_codes_per_user),
            "max_codes_per_campaign": fmt_int(c.max_codes_per_campaign),
            "metadata_count": str(max(1, len(c.metadata or {}))),
            "holdout_percent": fmt_int(c.holdout_percent),
            "goal_event": c.goal_event,
            "goal_window_value": fmt_int(c.goal_window_value),
            "goal_window_unit": c.goal_window_unit or C.GoalWindowUnit.DAYS,
            "goal_value_property": c.goal_value_property,
            "goal_filter_count": str(len(c.goal_filters or [])),
        }
        for j, node in enumerate(c.goal_filters or []):
            for part in FILTER_PARTS:
                value = node.get(part, "")
                data[goal_filter_control(j, part)] = filter_text(value) if part in ("value", "value2") else value
        for i, (key, value) in enumerate((c.metadata or {}).items()):
            data[f"metadata_key_{i}"] = key
            data[f"metadata_value_{i}"] = str(value)
        return data

    def clean(self):
        data = super().clean()
        if "random_max" in self.fields:
            self.add_errors(what_rules.random_range_errors(data.get("random_min"), data.get("random_max")))
        if "expiry_at" in self.fields:
            self.add_errors(what_rules.expiry_errors(data.get("expiry_at"), now=timezone.now()))
        if "metadata_count" in self.fields:
            rows = [
                (data.get(f"metadata_key_{i}"), data.get(f"metadata_value_{i}")) for i in range(self.metadata_rows())
            ]
            data["metadata"], errors = what_rules.metadata_check(rows)
            self.add_errors(errors)
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
