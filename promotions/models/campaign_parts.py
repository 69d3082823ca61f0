"""The campaign's configuration by builder section: one abstract part per section (Start here, Who,
What, When), each with the choices and fields its section form (promotions.forms) edits.

`Campaign` (campaign.py) composes them: one table, the columns the migrations made.
"""

from django.db import models


class StartPart(models.Model):
    """1. Start here: the name and the kind of campaign (what qualifies a profile)."""

    class Qualification(models.TextChoices):
        PAST_BEHAVIOR = "past_behavior", "Past behavior"
        CUSTOM_LIST = "custom_list", "Custom list"
        LIVE_ACTION = "live_action", "Live action"
        LIVE_INACTION = "live_inaction", "Live inaction"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    qualification = models.CharField(max_length=16, choices=Qualification.choices, default=Qualification.PAST_BEHAVIOR)

    class Meta:
        abstract = True

    @property
    def is_live(self) -> bool:
        return self.qualification in (self.Qualification.LIVE_ACTION, self.Qualification.LIVE_INACTION)


class WhoPart(models.Model):
    """2. Who: the audience (a segment, rules, a custom list) or, live, the trigger events or the inaction."""

    class AudienceSource(models.TextChoices):
        SEGMENT = "segment", "A saved segment"
        RULES = "rules", "Rules built here"
        CUSTOM_LIST = "custom_list", "A custom list"

    class WindowUnit(models.TextChoices):
        MINUTES = "minutes", "Minutes"
        HOURS = "hours", "Hours"

    audience_source = models.CharField(max_length=12, choices=AudienceSource.choices, blank=True)
    segment = models.ForeignKey("segments.Segment", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    custom_list = models.ForeignKey(
        "segments.CustomList", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rules = models.JSONField(default=dict, blank=True)
    # Live action: [{"event": "Charged", "filters": [{"property", "operator", "value"}]}, …] (1–10 events).
    triggers = models.JSONField(default=list, blank=True)
    inaction_event_a = models.CharField(max_length=256, blank=True)
    inaction_event_b = models.CharField(max_length=256, blank=True)
    inaction_window_value = models.PositiveIntegerField(null=True, blank=True)
    inaction_window_unit = models.CharField(max_length=8, choices=WindowUnit.choices, blank=True)
    constant_property = models.CharField(max_length=120, blank=True)
    # Live: optional filter on past behaviour and user properties (a rule tree, SPEC 2.4).
    past_filter = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class WhatPart(models.Model):
    """3. What: the reward (points, coupons or partner vouchers), its limits, and the outcome goal and holdout."""

    class RewardType(models.TextChoices):
        POINTS = "points", "Wallet points"
        COUPON = "coupon", "Coupons"
        VOUCHER = "voucher", "Partner vouchers"

    class PointsType(models.TextChoices):
        FLAT = "flat", "Flat"
        RANDOM = "random", "Random"
        PERCENTAGE = "percentage", "Percentage"
        PROPORTIONAL = "proportional", "Proportional"

    class Favor(models.TextChoices):
        MIN = "min", "Favor Min"
        AVG = "avg", "Favor Avg"
        MAX = "max", "Favor Max"

    class Activation(models.TextChoices):
        IMMEDIATE = "immediate", "Immediate"
        CUSTOM = "custom", "Custom"

    class DelayUnit(models.TextChoices):
        MINUTES = "minutes", "Minutes"
        HOURS = "hours", "Hours"
        DAYS = "days", "Days"

    class Expiry(models.TextChoices):
        NEVER = "never", "Never"
        ON_DATE = "on_date", "On date"
        CUSTOM = "custom", "Custom"

    class CouponKind(models.TextChoices):
        SINGLE = "single", "Single code"
        BULK = "bulk", "Bulk codes"

    class GoalWindowUnit(models.TextChoices):
        HOURS = "hours", "Hours"
        DAYS = "days", "Days"

    reward_type = models.CharField(max_length=8, choices=RewardType.choices, blank=True)
    wallet = models.ForeignKey("wallets.Wallet", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    points_type = models.CharField(max_length=12, choices=PointsType.choices, blank=True)
    flat_points = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    random_min = models.PositiveIntegerField(null=True, blank=True)
    random_max = models.PositiveIntegerField(null=True, blank=True)
    random_favor = models.CharField(max_length=3, choices=Favor.choices, blank=True)
    points_property = models.CharField(max_length=120, blank=True)
    percentage = models.DecimalField(max_digits=7, decimal_places=3, null=True, blank=True)
    proportional_units = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    proportional_points = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    max_points_per_reward = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    custom_lifecycle = models.BooleanField(default=False)
    activation = models.CharField(max_length=10, choices=Activation.choices, default=Activation.IMMEDIATE)
    activation_value = models.PositiveIntegerField(null=True, blank=True)
    activation_unit = models.CharField(max_length=8, choices=DelayUnit.choices, blank=True)
    expiry = models.CharField(max_length=8, choices=Expiry.choices, default=Expiry.NEVER)
    expiry_at = models.DateTimeField(null=True, blank=True)
    expiry_days = models.PositiveIntegerField(null=True, blank=True)
    budget_campaign = models.DecimalField(max_digits=16, decimal_places=3, null=True, blank=True)
    budget_per_user = models.DecimalField(max_digits=16, decimal_places=3, null=True, blank=True)
    max_per_user_total = models.PositiveIntegerField(null=True, blank=True)
    max_per_user_day = models.PositiveIntegerField(null=True, blank=True)
    max_per_user_week = models.PositiveIntegerField(null=True, blank=True)
    max_per_user_month = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    coupon_kind = models.CharField(max_length=8, choices=CouponKind.choices, blank=True)
    coupon = models.ForeignKey("coupons.Coupon", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    redemption_activation = models.CharField(max_length=10, choices=Activation.choices, default=Activation.IMMEDIATE)
    redemption_delay_value = models.PositiveIntegerField(null=True, blank=True)
    redemption_delay_unit = models.CharField(max_length=8, choices=DelayUnit.choices, blank=True)
    partner = models.ForeignKey("vouchers.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    voucher_list = models.ForeignKey(
        "vouchers.VoucherList", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Coupons and vouchers, live only.
    max_codes_per_user = models.PositiveIntegerField(null=True, blank=True)
    max_codes_per_campaign = models.PositiveIntegerField(null=True, blank=True)

    # Outcome (SPEC 11, issue #19): an optional conversion goal and holdout, set in the What section.
    # holdout_percent: that share of qualifying profiles (promotions.holdout) is deliberately not rewarded.
    holdout_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    goal_event = models.CharField(max_length=256, blank=True)
    # [{"property", "operator", "value"}, …] as segments.rules.validate_filters returns them.
    goal_filters = models.JSONField(default=list, blank=True)
    goal_window_value = models.PositiveIntegerField(null=True, blank=True)
    goal_window_unit = models.CharField(max_length=8, choices=GoalWindowUnit.choices, blank=True)
    goal_value_property = models.CharField(max_length=120, blank=True)

    class Meta:
        abstract = True

    @property
    def has_goal(self) -> bool:
        return bool(self.goal_event and self.goal_window_value and self.goal_window_unit)

    @property
    def reward_label(self) -> str:
        """ "Flat 100 Supercoins", "Bulk codes: DIWALI", … (needs wallet / coupon / voucher_list joined)."""
        if self.reward_type == self.RewardType.POINTS and self.wallet_id:
            unit = self.wallet.points_name
            if self.points_type == self.PointsType.FLAT and self.flat_points is not None:
                return f"Flat {self.flat_points.normalize():,f} {unit}"
            if self.points_type == self.PointsType.RANDOM:
                return f"Random {self.random_min:,}–{self.random_max:,} {unit}"
            if self.points_type == self.PointsType.PERCENTAGE and self.percentage is not None:
                return f"{self.percentage.normalize():f}% of {self.points_property} in {unit}"
            if self.points_type == self.PointsType.PROPORTIONAL:
                return f"Proportional {unit} on {self.points_property}"
            return unit
        if self.reward_type == self.RewardType.COUPON and self.coupon_id:
            label = self.CouponKind(self.coupon_kind).label if self.coupon_kind else "Coupon"
            return f"{label}: {self.coupon.code or self.coupon.name}"
        if self.reward_type == self.RewardType.VOUCHER and self.voucher_list_id:
            return f"Voucher: {self.voucher_list.name}"
        return "—"


class WhenPart(models.Model):
    """4. When: send now, later or recurring; live, the start and the end."""

    class Delivery(models.TextChoices):
        NOW = "now", "Send now"
        LATER = "later", "Schedule for later"
        RECURRING = "recurring", "Recurring"

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        MONTHLY = "monthly", "Monthly"

    class LiveStart(models.TextChoices):
        NOW = "now", "Now"
        AT = "at", "On a date/time"

    class LiveEnd(models.TextChoices):
        NEVER = "never", "Never"
        AT = "at", "On a date/time"

    delivery = models.CharField(max_length=10, choices=Delivery.choices, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, blank=True)
    weekdays = models.JSONField(default=list, blank=True)  # 0 = Monday … 6 = Sunday
    month_day = models.PositiveSmallIntegerField(null=True, blank=True)
    run_time = models.TimeField(null=True, blank=True)
    recurrence_start = models.DateField(null=True, blank=True)
    recurrence_end = models.DateField(null=True, blank=True)
    reward_again = models.BooleanField(default=False)
    live_start = models.CharField(max_length=5, choices=LiveStart.choices, blank=True)
    live_end = models.CharField(max_length=5, choices=LiveEnd.choices, blank=True)
    # Start and end as shown in the list: live start/end, scheduled time, first occurrence, publish time.
    starts_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
