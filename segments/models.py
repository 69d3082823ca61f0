from django.db import models
from django.urls import reverse
from django.utils import timezone


class Profile(models.Model):
    """One end user of the customer's app, known by `identity` (SPEC 2.1)."""

    identity = models.CharField(max_length=256, unique=True)
    properties = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["identity"]

    def __str__(self) -> str:
        return self.identity

    def get_absolute_url(self) -> str:
        return reverse("segments:profile_detail", args=[self.pk])


class Event(models.Model):
    """Something a profile did: a name, properties and the time it happened."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=256)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            # Rule queries ask "did profile P do E in a window": profile first, then name and time.
            models.Index(fields=["profile", "name", "occurred_at"], name="event_profile_name_time"),
            # Screens and audience scans ask "who did E in a window".
            models.Index(fields=["name", "occurred_at"], name="event_name_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name} by {self.profile_id} at {self.occurred_at:%Y-%m-%d %H:%M}"
