"""Grants (one reward attempt per profile and occurrence) and the rollups the database keeps of them."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from promotions.models.campaign import Campaign
from promotions.models.runs import CampaignRun


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

    # No single-column FK indexes: grant_once_per_occurrence leads with the campaign,
    # grant_profile_recent with the profile, grant_run is the run's. Every index is written once
    # per grant, a million times per large run (bench/RESULTS.md), so the index of the grants
    # not given (the Errors tab's examples per reason) holds only those: a granted grant skips it.
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
            models.Index(fields=["campaign", "reason"], condition=Q(granted=False), name="grant_not_given"),
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
