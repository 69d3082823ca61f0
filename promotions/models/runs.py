"""A campaign's runs (SPEC 6.3) and the partitions their chunks work through (issue #18)."""

from django.db import models
from django.db.models import Q

from promotions.models.campaign import Campaign


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
    adds the counters up into the run (promotions.engine.runs._partition_done).
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
