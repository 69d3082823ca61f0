"""What live matching keeps: the trigger lookup, the budget and cap counters, pending inaction checks."""

from django.db import models
from django.db.models import Q

from promotions.models.campaign import Campaign


class LiveTrigger(models.Model):
    """The (event name → live campaign) lookup the live matcher reads once per upload batch.

    Denormalised from `Campaign.triggers` / `inaction_event_a` by `promotions.engine.live.triggers_sync`
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
