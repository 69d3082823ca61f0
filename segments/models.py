import zlib

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

# Profiles fall into SAMPLE_BUCKETS buckets by a hash of their identity; the audience
# estimate evaluates rules on bucket 0 only and scales up (about 1 % of profiles).
SAMPLE_BUCKETS = 100


def sample_bucket_for(identity: str) -> int:
    """The profile's deterministic sample bucket: the same identity always lands in the same one."""
    return zlib.crc32(identity.encode()) % SAMPLE_BUCKETS


class Profile(models.Model):
    """One end user of the customer's app, known by `identity` (SPEC 2.1)."""

    identity = models.CharField(max_length=256, unique=True)
    properties = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    # Derived from identity (sample_bucket_for); bulk writers set it themselves.
    sample_bucket = models.SmallIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["identity"]
        indexes = [
            # The audience estimate reads the ids of one bucket's profiles: an index-only scan
            # here, instead of ~10,000 scattered heap pages at 1,000,000 profiles.
            models.Index(fields=["sample_bucket", "id"], name="profile_sample_bucket_id"),
            # Audience → Profiles, most recently seen first: a page is a walk of this index, not a
            # sort of every profile. Its cost: a profile upsert that moves last_seen is never a
            # HOT update (SMALL upload bench: 54 % of profile updates HOT with it, 90 % without).
            # An index on the day of last_seen instead keeps those HOT but sorts a whole day's
            # profiles per page: every profile when they were all seen today (issue #18).
            models.Index(fields=["-last_seen", "id"], name="profile_last_seen"),
        ]

    def __str__(self) -> str:
        return self.identity

    def save(self, *args, **kwargs):
        # A derived column, not a business rule: keep it in step with identity for
        # single-row writes (factories, admin); set-based writers compute it in bulk.
        self.sample_bucket = sample_bucket_for(self.identity)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("segments:profile_detail", args=[self.pk])


# Event properties the system writes for its own use, kept in the data but not shown to marketers:
# the chain depth of system events (`Points Credited`, …), which live matching reads to break reward
# loops (promotions/system_events.py PROP_DEPTH).
INTERNAL_EVENT_PROPERTIES = frozenset({"Trigger Depth"})


class Event(models.Model):
    """Something a profile did: a name, properties and the time it happened."""

    # No single-column index on the profile: event_profile_name_time leads with it, and every
    # index costs each upload and each system event.
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events", db_index=False)
    name = models.CharField(max_length=256)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # What makes a re-sent event the same event (segments/services/records.py `event_dedup_key`): 128
    # bits of a digest of the client's evtId, or of (identity, evtName, ts, evtData) when the
    # client sent `ts`. Null (no de-duplication) for records without either and system events.
    dedup_key = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            # Partial: only rows with a key are indexed, so events without one cost nothing.
            models.UniqueConstraint(
                fields=["dedup_key"], condition=models.Q(dedup_key__isnull=False), name="event_dedup_key_once"
            ),
        ]
        indexes = [
            # Rule queries ask "did profile P do E in a window": profile first, then name and time.
            models.Index(fields=["profile", "name", "occurred_at"], name="event_profile_name_time"),
            # Screens and audience scans ask "who did E in a window".
            models.Index(fields=["name", "occurred_at"], name="event_name_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name} by {self.profile_id} at {self.occurred_at:%Y-%m-%d %H:%M}"

    @property
    def shown_properties(self) -> dict:
        """The properties a marketer reads: all but the system's internal ones."""
        return {k: v for k, v in self.properties.items() if k not in INTERNAL_EVENT_PROPERTIES}


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

    def get_absolute_url(self) -> str:
        return reverse("segments:custom_list_detail", args=[self.pk])


class CustomListUpload(models.Model):
    """One CSV upload into a custom list: processed in the background, kept as history."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    custom_list = models.ForeignKey(CustomList, on_delete=models.CASCADE, related_name="uploads")
    file = models.FileField(upload_to="custom_lists/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_bytes = models.PositiveBigIntegerField(default=0)
    processed_bytes = models.PositiveBigIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    duplicate = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # "row,identity,reason" lines for every unknown or invalid row (served as a CSV).
    error_rows = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.custom_list} upload {self.pk} ({self.status})"

    @property
    def progress_percent(self) -> int:
        if self.status != self.Status.IN_PROGRESS:
            return 100
        if not self.total_bytes:
            return 0
        return min(99, int(self.processed_bytes * 100 / self.total_bytes))


class CustomListMember(models.Model):
    # No single-column index on the list: custom_list_member_once leads with it. With both, a
    # list without planner statistics yet (just uploaded) had each chunk of a run read the
    # whole list through the narrower one instead of from the chunk's first profile.
    custom_list = models.ForeignKey(CustomList, on_delete=models.CASCADE, related_name="members", db_index=False)
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
