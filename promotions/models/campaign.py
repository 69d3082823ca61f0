"""The campaign (SPEC 4, 5): its configuration by builder section (campaign_parts.py), its status,
the builder's progress, and what the engine keeps on the row."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from promotions.models.campaign_parts import StartPart, WhatPart, WhenPart, WhoPart


def _null_or_positive(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": 0})


class Campaign(StartPart, WhoPart, WhatPart, WhenPart):
    """A campaign (SPEC 4, 5): every choice the builder offers, stored on the draft row as it is made."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"
        COMPLETED = "completed", "Completed"
        ARCHIVED = "archived", "Archived"

    SECTIONS = ("start", "who", "what", "when")
    EDITABLE_STATUSES = (Status.DRAFT, Status.SCHEDULED)

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Progress of the builder: each section is complete once it saved valid.
    start_complete = models.BooleanField(default=False)
    who_complete = models.BooleanField(default=False)
    what_complete = models.BooleanField(default=False)
    when_complete = models.BooleanField(default=False)

    published_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    # Maintained by the distribution engine.
    rewarded_profiles = models.PositiveBigIntegerField(default=0)

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
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE_STATUSES

    @property
    def all_sections_complete(self) -> bool:
        return self.start_complete and self.who_complete and self.what_complete and self.when_complete
