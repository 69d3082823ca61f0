import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known timezone (use a name such as Asia/Kolkata).")


def timezone_choices() -> list[tuple[str, str]]:
    return sorted((name, name) for name in zoneinfo.available_timezones())


class Account(models.Model):
    """The one account this installation serves (a singleton row, pk=1)."""

    SINGLETON_PK = 1

    name = models.CharField(max_length=200, default="Promo Campaigns")
    timezone = models.CharField(
        max_length=64,
        validators=[validate_timezone],
        default=settings.DEFAULT_ACCOUNT_TIMEZONE,
        help_text="Every date a person types or reads is in this timezone; storage is UTC.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="account_is_singleton")]

    def __str__(self) -> str:
        return f"{self.name} ({self.timezone})"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ApiKey(models.Model):
    """A credential for the public API: `key_id` is public, the secret is stored hashed."""

    name = models.CharField(max_length=200)
    key_id = models.CharField(max_length=32, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the beat-scheduled heartbeat task (shown on /healthz)."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class RateLimitCounter(models.Model):
    """Requests counted in the current window for one (scope, API key): config/ratelimit.py.

    One row per scope and key, reset when a new window starts, so the table never grows
    beyond the number of keys."""

    bucket = models.CharField(max_length=200, primary_key=True)
    window_number = models.BigIntegerField()
    count = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.bucket}: {self.count} in window {self.window_number}"


class Outbox(models.Model):
    """Work owed because a transaction committed, written in that transaction (config/outbox.py).

    `topic` is the name of the Celery task that consumes the rows (`promotions.live_events`:
    live matching of a stored batch; later webhooks): the layer that writes a row never imports
    the one that reads it. The consumer claims rows with SKIP LOCKED and deletes them in the
    transaction that does their work, so a row exists exactly as long as its work is owed.
    """

    topic = models.CharField(max_length=100)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Consumers take a topic's oldest rows; the sweep asks which topics have old rows.
        indexes = [models.Index(fields=["topic", "id"], name="outbox_topic_id")]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk} at {self.created_at:%H:%M:%S}"
