"""The account-wide models: the account, API keys and what the API keeps per key, worker heartbeats, the outbox.

Their tables keep the names config's migrations gave them (`db_table = "config_…"`): the models moved
to this app (accounts 0001, config 0006), their rows never did."""

import zoneinfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
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
        db_table = "config_account"
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="account_is_singleton")]

    def __str__(self) -> str:
        return f"{self.name} ({self.timezone})"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ApiScope(models.TextChoices):
    """What an API key may do (SPEC 7); each endpoint needs one of these."""

    EVENTS_WRITE = "events:write", "events:write: upload events and profiles"
    WALLETS_READ = "wallets:read", "wallets:read: read wallets and transactions"
    WALLETS_WRITE = "wallets:write", "wallets:write: credit and debit points"
    COUPONS_READ = "coupons:read", "coupons:read: read a profile's coupons"
    COUPONS_WRITE = "coupons:write", "coupons:write: redeem and revert coupon codes"
    VOUCHERS_READ = "vouchers:read", "vouchers:read: read a profile's partner vouchers"
    CAMPAIGNS_READ = "campaigns:read", "campaigns:read: list campaigns and read their stats"
    CAMPAIGNS_WRITE = "campaigns:write", "campaigns:write: pause, resume and stop campaigns"


def all_scopes() -> list[str]:
    return list(ApiScope.values)


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
    # Keys made before scopes existed could do everything, so they get every scope.
    scopes = ArrayField(models.CharField(max_length=32, choices=ApiScope.choices), default=all_scopes)

    class Meta:
        db_table = "config_apikey"
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyRecord(models.Model):
    """The first response to an API request carrying an `Idempotency-Key` (SPEC 7): accounts/idempotency.py."""

    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE, related_name="+")
    # The endpoint the key was used on, so one key string on two endpoints are two requests.
    endpoint = models.CharField(max_length=64, default="wallets.transactions")
    key = models.CharField(max_length=255)
    # sha256 of the canonical JSON body: the same key with a different body is refused.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    # The first response as parsed JSON (rows stored before response_content existed replay from it).
    response_body = models.JSONField()
    # The first response's exact bytes (UTF-8 JSON), replayed byte for byte: jsonb reorders keys.
    response_content = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "config_idempotencyrecord"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["api_key", "endpoint", "key"], name="idempotency_once_per_key_endpoint")
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.key} → {self.response_status}"


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the beat-scheduled heartbeat task (shown on /healthz)."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    class Meta:
        db_table = "config_workerheartbeat"

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class RateLimitCounter(models.Model):
    """Requests counted in the current window for one (scope, API key): accounts/ratelimit.py.

    One row per scope and key, reset when a new window starts, so the table never grows
    beyond the number of keys."""

    bucket = models.CharField(max_length=200, primary_key=True)
    window_number = models.BigIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        db_table = "config_ratelimitcounter"

    def __str__(self) -> str:
        return f"{self.bucket}: {self.count} in window {self.window_number}"


class Outbox(models.Model):
    """Work owed because a transaction committed, written in that transaction (accounts/outbox.py).

    `topic` is the name of the Celery task that consumes the rows (`promotions.live_events`:
    live matching of a stored batch; later webhooks): the layer that writes a row never imports
    the one that reads it. The consumer claims rows with SKIP LOCKED and deletes them in the
    transaction that does their work, so a row exists exactly as long as its work is owed.
    """

    topic = models.CharField(max_length=100)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "config_outbox"
        # Consumers take a topic's oldest rows; the sweep asks which topics have old rows.
        indexes = [models.Index(fields=["topic", "id"], name="outbox_topic_id")]

    def __str__(self) -> str:
        return f"{self.topic} #{self.pk} at {self.created_at:%H:%M:%S}"
