import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


def _null_or_positive(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": 0})


class Campaign(models.Model):
    """A campaign (SPEC 4, 5): every choice the builder offers, stored on the draft row as it is made."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"
        COMPLETED = "completed", "Completed"
        ARCHIVED = "archived", "Archived"

    class Qualification(models.TextChoices):
        PAST_BEHAVIOR = "past_behavior", "Past behavior"
        CUSTOM_LIST = "custom_list", "Custom list"
        LIVE_ACTION = "live_action", "Live action"
        LIVE_INACTION = "live_inaction", "Live inaction"

    class AudienceSource(models.TextChoices):
        SEGMENT = "segment", "A saved segment"
        RULES = "rules", "Rules built here"
        CUSTOM_LIST = "custom_list", "A custom list"

    class WindowUnit(models.TextChoices):
        MINUTES = "minutes", "Minutes"
        HOURS = "hours", "Hours"

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

    SECTIONS = ("start", "who", "what", "when")
    EDITABLE_STATUSES = (Status.DRAFT, Status.SCHEDULED)

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # 1. Start here
    qualification = models.CharField(max_length=16, choices=Qualification.choices, default=Qualification.PAST_BEHAVIOR)

    # 2. Who
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

    # 3. What
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

    # 4. When
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

    # Progress of the builder: each section is complete once it saved valid.
    start_complete = models.BooleanField(default=False)
    who_complete = models.BooleanField(default=False)
    what_complete = models.BooleanField(default=False)
    when_complete = models.BooleanField(default=False)

    published_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    # Maintained by the distribution engine.
    rewarded_profiles = models.PositiveBigIntegerField(default=0)

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
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["qualification", "status"], name="campaign_type_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(random_min__isnull=True)
                | Q(random_max__isnull=True)
                | Q(random_min__lte=models.F("random_max")),
                name="campaign_random_min_le_max",
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="campaign_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(month_day__isnull=True) | Q(month_day__gte=1, month_day__lte=31),
                name="campaign_month_day_1_31",
            ),
            models.CheckConstraint(
                condition=Q(percentage__isnull=True) | Q(percentage__gt=0, percentage__lte=1000),
                name="campaign_percentage_range",
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__isnull=True) | Q(holdout_percent__gte=1, holdout_percent__lte=50),
                name="campaign_holdout_1_50",
            ),
            models.CheckConstraint(
                condition=Q(recurrence_start__isnull=True)
                | Q(recurrence_end__isnull=True)
                | Q(recurrence_end__gte=models.F("recurrence_start")),
                name="campaign_recurrence_end_after_start",
            ),
        ]
        constraints += [
            models.CheckConstraint(condition=_null_or_positive(field), name=f"campaign_{field}_positive")
            for field in (
                "flat_points",
                "proportional_units",
                "proportional_points",
                "max_points_per_reward",
                "budget_campaign",
                "budget_per_user",
                "inaction_window_value",
                "random_min",
                "goal_window_value",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("promotions:campaign_detail", args=[self.pk])

    @property
    def is_live(self) -> bool:
        return self.qualification in (self.Qualification.LIVE_ACTION, self.Qualification.LIVE_INACTION)

    @property
    def has_goal(self) -> bool:
        return bool(self.goal_event and self.goal_window_value and self.goal_window_unit)

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE_STATUSES

    @property
    def all_sections_complete(self) -> bool:
        return self.start_complete and self.who_complete and self.what_complete and self.when_complete

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


class CampaignRun(models.Model):
    """One execution of a past-behaviour / custom-list campaign (SPEC 6.3)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    scheduled_for = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveBigIntegerField(default=0)
    # processed / granted / rewarded (profiles the campaign rewarded for the first time) of a
    # finished run. While it runs, each partition counts its own (CampaignRunPartition) and the
    # readers add them up (selectors.campaign_runs); the partition that finishes the run (or Stop)
    # adds the sums here once, so the chunks of one run never write a shared row.
    processed = models.PositiveBigIntegerField(default=0)
    granted = models.PositiveBigIntegerField(default=0)
    rewarded = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Before partitions (issue #18): the run's keyset cursor. Kept for runs started earlier.
    cursor = models.BigIntegerField(default=0)
    # Set when the run started; the live heartbeat of a running run is its partitions'.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "scheduled_for"], name="campaign_run_once_per_time"),
            models.CheckConstraint(
                condition=Q(granted__lte=models.F("processed")), name="campaign_run_granted_le_processed"
            ),
        ]
        indexes = [
            # The dispatcher claims due pending runs in time order.
            models.Index(fields=["scheduled_for"], condition=Q(status="pending"), name="campaign_run_due"),
            # The dispatch sweep looks for running runs whose chunk task was lost.
            models.Index(fields=["heartbeat_at"], condition=Q(status="running"), name="campaign_run_heartbeat"),
            # The list and the pages add up the partitions of a campaign's running runs.
            models.Index(fields=["campaign"], condition=Q(status="running"), name="campaign_run_running"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} @ {self.scheduled_for:%Y-%m-%d %H:%M}"

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.COMPLETED else 0
        return min(100, int(self.processed * 100 / self.total))


class CampaignRunPartition(models.Model):
    """One range of profile ids of a run (issue #18): its own chain of chunk tasks, cursor, counters
    and heartbeat, so any number of workers process the partitions of one run at the same time.

    Covers the audience's profile ids in (start, end] (`end` None: no upper bound, so profiles
    that join the audience during the run are reached by the last partition). `cursor` is the
    highest id already done. The run is done when every partition is; the one that finishes last
    adds the counters up into the run (distribution._partition_done).
    """

    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="partitions")
    index = models.PositiveSmallIntegerField()
    start = models.BigIntegerField(default=0)
    end = models.BigIntegerField(null=True, blank=True)
    cursor = models.BigIntegerField(default=0)
    # Chunks committed. A chunk task carries the number it expects to find: a copy of a task that
    # already ran (a broker redelivery, the sweep re-sending a task that was only slow in the
    # queue) finds it moved and ends, so each partition keeps exactly one chain of tasks.
    chunks = models.PositiveIntegerField(default=0)
    processed = models.PositiveBigIntegerField(default=0)
    granted = models.PositiveBigIntegerField(default=0)
    rewarded = models.PositiveBigIntegerField(default=0)
    done = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    # Last sign of life: created, a chunk committed, or re-enqueued. A partition of a running run
    # silent for longer than RUN_STALL_SECONDS lost its chunk task and is re-enqueued.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="campaign_run_partition_once"),
            models.CheckConstraint(
                condition=Q(granted__lte=models.F("processed")), name="campaign_run_partition_granted_le_processed"
            ),
            models.CheckConstraint(
                condition=Q(rewarded__lte=models.F("granted")), name="campaign_run_partition_rewarded_le_granted"
            ),
            models.CheckConstraint(
                condition=Q(end__isnull=True) | Q(end__gte=models.F("start")), name="campaign_run_partition_range"
            ),
        ]
        indexes = [
            # The dispatch sweep looks for partitions whose chunk task was lost.
            models.Index(fields=["heartbeat_at"], condition=Q(done=False), name="campaign_run_partition_owed"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} partition {self.index} ({self.start}, {self.end or '∞'}]"


class CampaignEvent(models.Model):
    """History: who did what to a campaign, and when (SPEC 1)."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        SAVED = "saved", "Saved section"
        PUBLISHED = "published", "Published"
        PAUSED = "paused", "Paused"
        RESUMED = "resumed", "Resumed"
        STOPPED = "stopped", "Stopped"
        DUPLICATED = "duplicated", "Duplicated"
        ARCHIVED = "archived", "Archived"
        RETURNED_TO_DRAFT = "returned_to_draft", "Returned to draft"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="history")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set when the action came through the public API: the key that did it (actor is then empty).
    api_key = models.ForeignKey("config.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    at = models.DateTimeField(default=timezone.now)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["campaign", "-at"], name="campaign_event_recent")]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.action} at {self.at:%Y-%m-%d %H:%M}"


class Grant(models.Model):
    """One attempt to reward a profile for one campaign occurrence (SPEC 6.1): granted or not, and why.

    occurrence = "run:<id>" (one-time and recurring runs), "event:<id>" (live action),
    "check:<id>" (live inaction); unique per (campaign, profile, occurrence).
    """

    class Reason(models.TextChoices):
        INVALID_WALLET = "Invalid wallet configuration", "Invalid wallet configuration"
        INACTIVE_WALLET = "Inactive wallet", "Inactive wallet"
        INVALID_POINTS = "Invalid points calculated", "Invalid points calculated"
        RECURRENCE_LIMIT = "Reward recurrence limit exceeded", "Reward recurrence limit exceeded"
        CAMPAIGN_BUDGET = "Campaign points budget exceeded", "Campaign points budget exceeded"
        USER_BUDGET = "User points budget exceeded", "User points budget exceeded"
        INACTIVE_COUPON = "Inactive coupon", "Inactive coupon"
        CAMPAIGN_COUPON_LIMIT = "Campaign coupon limit exceeded", "Campaign coupon limit exceeded"
        USER_COUPON_LIMIT = "User coupon limit exceeded", "User coupon limit exceeded"
        BULK_CODES_EXHAUSTED = "Bulk codes exhausted", "Bulk codes exhausted"
        COUPON_LIMIT_REACHED = "Coupon redemption limit reached", "Coupon redemption limit reached"
        INACTIVE_VOUCHER_LIST = "Inactive voucher list", "Inactive voucher list"
        CAMPAIGN_VOUCHER_LIMIT = "Campaign voucher limit exceeded", "Campaign voucher limit exceeded"
        USER_VOUCHER_LIMIT = "User voucher limit exceeded", "User voucher limit exceeded"
        VOUCHER_CODES_EXHAUSTED = "Voucher codes exhausted", "Voucher codes exhausted"
        CAMPAIGN_PAUSED = "Campaign paused or stopped", "Campaign paused or stopped"
        # Not an error: the holdout group of the campaign's goal (promotions.holdout), kept unrewarded on purpose.
        HELD_OUT = "Held out", "Held out"

    # No single-column FK indexes: grant_once_per_occurrence and grant_campaign_outcome lead
    # with the campaign, grant_profile_recent with the profile, grant_run is the run's. Every
    # index is written once per grant, a million times per large run (bench/RESULTS.md).
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="grants", db_index=False)
    profile = models.ForeignKey("segments.Profile", on_delete=models.CASCADE, related_name="grants", db_index=False)
    occurrence = models.CharField(max_length=64)
    run = models.ForeignKey(
        CampaignRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="grants", db_index=False
    )
    granted = models.BooleanField()
    reason = models.CharField(max_length=40, choices=Reason.choices, blank=True)
    # The amount given (or drawn: a Random draw is stored so a retry gives the same value).
    points = models.DecimalField(max_digits=14, decimal_places=3, null=True, blank=True)
    code = models.CharField(max_length=256, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "profile", "occurrence"], name="grant_once_per_occurrence"),
            models.CheckConstraint(
                condition=Q(granted=True, reason="") | Q(granted=False) & ~Q(reason=""),
                name="grant_reason_iff_not_granted",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "granted", "reason"], name="grant_campaign_outcome"),
            models.Index(fields=["profile", "-created_at"], name="grant_profile_recent"),
            models.Index(fields=["run"], name="grant_run"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.profile_id}/{self.occurrence}: {'granted' if self.granted else self.reason}"


class GrantRollup(models.Model):
    """The campaign chart's rollup: granted rewards per campaign and UTC quarter hour (issue #18).

    Written only by the database, in the grant's own transaction: the statement-level triggers of
    migration 0010 upsert one row per (campaign, quarter, timezone, shard) from each INSERT's
    transition table, and recount the campaigns a DELETE or an UPDATE of a counted column touches.
    The chart and the detail page's stats read these rows, never the grants, so they cost the
    same at 10 rewards and at 10 million. `shard` (the writer's txid % 4) only spreads concurrent
    writers over rows; readers sum it away.

    Quarter hours in UTC because every UTC offset in use is a multiple of 15 minutes (+05:30,
    +05:45, +08:45…): a local day, week or month is a whole number of quarters in any account
    timezone, so rewards and points regroup exactly at read time, whatever the timezone. Profiles
    rewarded are not additive across buckets, so each grant also says whether it is its profile's
    first in this campaign of the local day / week / month, in the account `timezone` at write
    time (part of the key: the chart falls back to the grants for quarters counted in another zone).
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    quarter = models.DateTimeField()
    timezone = models.CharField(max_length=64)
    shard = models.SmallIntegerField(default=0)  # txid % 4 of the writer: see migration 0010
    rewards = models.BigIntegerField()
    points = models.DecimalField(max_digits=20, decimal_places=3)
    codes = models.BigIntegerField()  # granted with a code (coupon or voucher)
    first_day = models.BigIntegerField()
    first_week = models.BigIntegerField()
    first_month = models.BigIntegerField()
    first_ever = models.BigIntegerField()  # the profile's first reward from the campaign (any zone)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "quarter", "timezone", "shard"], name="grant_rollup_once"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.quarter:%Y-%m-%d %H:%M}/{self.timezone}: {self.rewards}"


class GrantReasonCount(models.Model):
    """Grants not given, per campaign and reason: the Errors tab's counts (kept like GrantRollup)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    reason = models.CharField(max_length=40)
    shard = models.SmallIntegerField(default=0)
    count = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "reason", "shard"], name="grant_reason_count_once"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.reason}: {self.count}"


class LiveTrigger(models.Model):
    """The (event name → live campaign) lookup the live matcher reads once per upload batch.

    Denormalised from `Campaign.triggers` / `inaction_event_a` by `promotions.live.triggers_sync`
    whenever the Who section is saved or a campaign is duplicated or published, so matching a
    batch is one indexed query however many campaigns exist.
    """

    class Role(models.TextChoices):
        ACTION = "action", "User action trigger"
        INACTION_A = "inaction_a", "Inaction: event A"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="live_triggers")
    event_name = models.CharField(max_length=256)
    role = models.CharField(max_length=10, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "event_name", "role"], name="live_trigger_once"),
        ]
        indexes = [models.Index(fields=["event_name"], name="live_trigger_event")]

    def __str__(self) -> str:
        return f"{self.event_name} → {self.campaign_id} ({self.role})"


class CampaignCounter(models.Model):
    """What a live campaign has used of its campaign-level budget and limits (SPEC 6.2).

    Moved only by a conditional UPDATE (`… WHERE points_used + n <= budget`) in the grant's
    transaction; the check constraints are the last line of defence.
    """

    campaign = models.OneToOneField(Campaign, primary_key=True, on_delete=models.CASCADE, related_name="counter")
    points_used = models.DecimalField(max_digits=18, decimal_places=3, default=0)
    rewards = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(points_used__gte=0), name="campaign_counter_points_ge_0")]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.points_used} points, {self.rewards} rewards"


class ProfileCounter(models.Model):
    """Per (campaign, profile, period) rewards and points of a live campaign, for per-user caps.

    period: "total", "d:2026-11-23", "w:2026-W48", "m:2026-11" (calendar periods in the account
    timezone, of the triggering event's time).
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    profile = models.ForeignKey("segments.Profile", on_delete=models.CASCADE, related_name="+")
    period = models.CharField(max_length=16)
    rewards = models.PositiveIntegerField(default=0)
    points = models.DecimalField(max_digits=18, decimal_places=3, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "profile", "period"], name="profile_counter_once"),
            models.CheckConstraint(condition=Q(points__gte=0), name="profile_counter_points_ge_0"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.profile_id}/{self.period}: {self.rewards}"


class InactionCheck(models.Model):
    """A pending live-inaction check: event A arrived; reward at due_at unless B arrives first (SPEC 6.4).

    Stored in the database and swept by a beat job (never a Celery eta); unique per (campaign, A).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        REWARDED = "rewarded", "Reward attempted"
        DISCARDED = "discarded", "Event B arrived"
        CANCELLED = "cancelled", "Campaign ended"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="inaction_checks")
    profile = models.ForeignKey("segments.Profile", on_delete=models.CASCADE, related_name="+")
    event_a = models.ForeignKey("segments.Event", on_delete=models.CASCADE, related_name="+")
    a_occurred_at = models.DateTimeField()
    due_at = models.DateTimeField()
    # The constant event property's value on A (JSON, so 7 and "7" stay different), when the campaign sets one.
    constant_value = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "event_a"], name="inaction_check_once_per_a"),
        ]
        indexes = [
            models.Index(fields=["campaign", "due_at"], condition=Q(status="pending"), name="inaction_check_due"),
        ]

    def __str__(self) -> str:
        return f"check {self.pk}: {self.campaign_id}/{self.profile_id} due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def occurrence(self) -> str:
        return f"check:{self.pk}"


class Forecast(models.Model):
    """One on-demand forecast of a campaign (issue #21): its progress while the background task
    replays history, then its result (per-day series, totals, run-out day, refusals by cap)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="forecasts")
    days = models.PositiveSmallIntegerField(default=30)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    stage = models.CharField(max_length=120, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["campaign", "-created_at"], name="forecast_campaign_recent")]

    # A forecast still Waiting / Running this long after it was asked for lost its worker.
    STALE_AFTER = datetime.timedelta(minutes=5)

    def __str__(self) -> str:
        return f"forecast {self.pk} of campaign {self.campaign_id}: {self.status}"

    @property
    def in_progress(self) -> bool:
        """Waiting or Running, and recent enough to still be worked on (the panel polls it)."""
        return self.status in (self.Status.PENDING, self.Status.RUNNING) and not self.stale

    @property
    def stale(self) -> bool:
        return (
            self.status in (self.Status.PENDING, self.Status.RUNNING)
            and self.created_at < timezone.now() - self.STALE_AFTER
        )


class CampaignOutcome(models.Model):
    """The campaign's last computed outcome report (promotions.outcomes): figures and when they were computed.

    Computed on demand (the campaign page's Refresh) and by the periodic sweep over campaigns with
    a goal; the page reads this row, never the events.
    """

    campaign = models.OneToOneField(Campaign, primary_key=True, on_delete=models.CASCADE, related_name="outcome")
    computed_at = models.DateTimeField()
    report = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"{self.campaign_id}: outcome at {self.computed_at:%Y-%m-%d %H:%M}"
