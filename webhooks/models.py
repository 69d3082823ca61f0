"""Webhook endpoints, events, deliveries and the attempt log; notifications for people (SPEC 12)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventType(models.TextChoices):
    REWARD_GRANTED = "reward.granted", "reward.granted: a reward was given"
    WALLET_TRANSACTION = "wallet.transaction", "wallet.transaction: a ledger movement"
    COUPON_REDEEMED = "coupon.redeemed", "coupon.redeemed: a code was redeemed"
    COUPON_REVERTED = "coupon.reverted", "coupon.reverted: a redemption was reverted"
    CAMPAIGN_STATUS_CHANGED = "campaign.status_changed", "campaign.status_changed"
    INVENTORY_LOW = "inventory.low", "inventory.low: a code series or voucher list is low or exhausted"
    BUDGET_THRESHOLD = "budget.threshold", "budget.threshold: 80 % or 100 % of a campaign budget"
    POINTS_EXPIRING = "points.expiring", "points.expiring: daily digest of points about to expire"


class WebhookEndpoint(models.Model):
    """A customer URL that receives signed POSTs for the event types it subscribes to.

    The `webhooks_subscribed(type)` SQL function (migration 0001) reads this tiny table so the
    engine's triggers write events only when an active endpoint wants them.
    """

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=300, blank=True)
    event_types = ArrayField(models.CharField(max_length=40, choices=EventType.choices))
    is_active = models.BooleanField(default=True)
    # "whsec_" + base64 (Standard Webhooks); the previous one keeps signing until it expires.
    secret = models.CharField(max_length=100, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    batch_size = models.PositiveSmallIntegerField(
        default=1, help_text="Events per POST: 1 sends each event alone; more sends a JSON array of up to that many."
    )
    # Set at the first failure of a run of failures, cleared by a success; a day of it disables.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(batch_size__gte=1, batch_size__lte=500), name="webhook_batch_1_500")
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.url}"


class WebhookEvent(models.Model):
    """One event, once; `webhook-id` is `msg_<id>`, the key a receiver de-duplicates by."""

    type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.msg_id} {self.type}"

    @property
    def msg_id(self) -> str:
        return f"msg_{self.pk}"


class PendingEvents(models.Model):
    """Events owed but not yet built: one row per statement of a bulk writer (a run chunk's grants,
    ledger rows), written by its trigger in its transaction; the deliverer expands it into events
    and deliveries with `function(ids)` (a SQL function of the app that owns the rows, named here
    as data so this app imports none). Keeps a million-profile run's cost to one small row per chunk."""

    type = models.CharField(max_length=40, choices=EventType.choices)
    function = models.CharField(max_length=63)
    ids = ArrayField(models.BigIntegerField())
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type}: {len(self.ids)} via {self.function}"


class WebhookDelivery(models.Model):
    """The state of one event for one endpoint: due at `next_attempt_at` until delivered or failed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    # Written by triggers a million at a time: no FK checks (an event and endpoint are never
    # deleted while deliveries are pending; admin deletion of an endpoint deletes them in SQL).
    event = models.ForeignKey(WebhookEvent, on_delete=models.DO_NOTHING, db_constraint=False, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.DO_NOTHING, db_constraint=False, related_name="deliveries", db_index=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The deliverer's claim: due pending deliveries per endpoint, oldest first.
            models.Index(
                fields=["endpoint", "next_attempt_at", "id"], condition=Q(status="pending"), name="webhook_delivery_due"
            ),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}: {self.status}"


class WebhookAttempt(models.Model):
    """One POST to an endpoint (one or a batch of events): the delivery log."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts")
    event_ids = ArrayField(models.BigIntegerField())
    created_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(default=0)
    # The start of the response body, or the error (timeout, refused, SSRF).
    response_start = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.endpoint_id} {self.status_code or 'error'} in {self.latency_ms} ms"


class Notification(models.Model):
    """An alert for one person: shown in the navigation until read, and sent by e-mail."""

    class Kind(models.TextChoices):
        INVENTORY_LOW = "inventory_low", "Low stock"
        INVENTORY_EXHAUSTED = "inventory_exhausted", "Stock exhausted"
        BUDGET = "budget", "Budget threshold"
        CAMPAIGN = "campaign", "Campaign status"
        UPLOAD_FAILED = "upload_failed", "Upload failed"
        WEBHOOK = "webhook", "Webhook endpoint"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # NULL until the deliver sweep has e-mailed it (or found the person has no address).
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["id"], condition=Q(emailed_at__isnull=True), name="notification_unsent"),
            models.Index(fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"
