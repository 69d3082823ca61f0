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


class Segment(models.Model):
    """A saved, named rule tree (SPEC 2.4), reusable in campaigns and other segments."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    rules = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    audience_size = models.PositiveBigIntegerField(null=True, blank=True)
    audience_computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomList(models.Model):
    """A marketer-uploaded list of identities (SPEC 2.3); usable once processed."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    size = models.PositiveBigIntegerField(default=0)
    profiles = models.ManyToManyField(Profile, through="CustomListMember", related_name="custom_lists")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomListMember(models.Model):
    custom_list = models.ForeignKey(CustomList, on_delete=models.CASCADE, related_name="members")
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["custom_list", "profile"], name="custom_list_member_once")]

    def __str__(self) -> str:
        return f"{self.custom_list_id}:{self.profile_id}"


class EventDefinition(models.Model):
    """The event catalogue: each event name seen, kept current from what arrives."""

    name = models.CharField(max_length=256, unique=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PropertyType(models.TextChoices):
    NUMBER = "number", "Number"
    STRING = "string", "String"
    BOOLEAN = "boolean", "Boolean"
    DATE = "date", "Date"


class EventPropertyDefinition(models.Model):
    event = models.ForeignKey(EventDefinition, on_delete=models.CASCADE, related_name="properties")
    name = models.CharField(max_length=120)
    type = models.CharField(max_length=10, choices=PropertyType.choices)

    class Meta:
        ordering = ["event", "name"]
        constraints = [models.UniqueConstraint(fields=["event", "name"], name="event_property_once")]

    def __str__(self) -> str:
        return f"{self.event.name}.{self.name} ({self.type})"


class ProfilePropertyDefinition(models.Model):
    name = models.CharField(max_length=120, unique=True)
    type = models.CharField(max_length=10, choices=PropertyType.choices)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"
