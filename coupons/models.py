from django.conf import settings
from django.db import models


class Coupon(models.Model):
    """A coupon (SPEC 3.2): one shared code, or a series of unique one-time codes."""

    class Kind(models.TextChoices):
        SINGLE = "single", "Single code"
        BULK = "bulk", "Bulk codes"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"
        ARCHIVED = "archived", "Archived"

    class ExpiryUnit(models.TextChoices):
        MINUTES = "minutes", "Minutes"
        HOURS = "hours", "Hours"
        DAYS = "days", "Days"
        WEEKS = "weeks", "Weeks"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    code = models.CharField(max_length=64, blank=True, help_text="Single code coupons only, e.g. WELCOME100.")
    description = models.TextField(blank=True)
    terms = models.TextField(blank=True)
    discount_label = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    # Expiry after assignment: N units, or never when empty.
    expiry_after_value = models.PositiveIntegerField(null=True, blank=True)
    expiry_after_unit = models.CharField(max_length=10, choices=ExpiryUnit.choices, blank=True)
    total_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Single code: empty = unlimited.")
    per_user_limit = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
