"""What the campaign page reports beside its stats: on-demand forecasts and the stored outcome report."""

import datetime

from django.db import models
from django.utils import timezone

from promotions.models.campaign import Campaign


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
