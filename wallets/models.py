from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

# Points: up to 3 decimal places (SPEC 3.1); 15 integer digits is far beyond any real balance.
POINTS_DIGITS = 18
POINTS_PLACES = 3


def points_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=POINTS_DIGITS, decimal_places=POINTS_PLACES, **kwargs)


class Wallet(models.Model):
    """A points wallet (SPEC 3.1). The expiry rule cannot change after creation."""

    class ExpiryKind(models.TextChoices):
        NEVER = "never", "Never"
        AFTER = "after", "After a period"
        CALENDAR_YEAR = "calendar_year", "End of the Nth calendar year"

    class ExpiryUnit(models.TextChoices):
        DAYS = "days", "Days"
        MONTHS = "months", "Months"
        YEARS = "years", "Years"

    class ConsumptionOrder(models.TextChoices):
        EARLIEST_EXPIRY = "earliest_expiry", "Earliest expiry first"
        EARLIEST_ISSUANCE = "earliest_issuance", "Earliest issuance first"

    class RoundingMode(models.TextChoices):
        UP = "up", "Round up"
        DOWN = "down", "Round down"

    # The fields that make up the expiry rule: frozen once the wallet exists.
    EXPIRY_FIELDS = ("expiry_kind", "expiry_value", "expiry_unit")

    name = models.CharField(max_length=200, unique=True)
    points_name = models.CharField(max_length=60, help_text='What users call the points, e.g. "Supercoins".')
    expiry_kind = models.CharField(max_length=20, choices=ExpiryKind.choices, default=ExpiryKind.NEVER)
    # AFTER: N units after issue; CALENDAR_YEAR: end of the Nth calendar year after issue.
    expiry_value = models.PositiveIntegerField(null=True, blank=True)
    expiry_unit = models.CharField(max_length=10, choices=ExpiryUnit.choices, blank=True)
    consumption_order = models.CharField(
        max_length=20, choices=ConsumptionOrder.choices, default=ConsumptionOrder.EARLIEST_EXPIRY
    )
    rounding_places = models.PositiveSmallIntegerField(default=0)
    rounding_mode = models.CharField(max_length=4, choices=RoundingMode.choices, default=RoundingMode.DOWN)
    is_active = models.BooleanField("active", default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(rounding_places__lte=3), name="wallet_rounding_places_0_3"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points_name})"

    def get_absolute_url(self) -> str:
        return reverse("wallets:wallet_detail", args=[self.pk])

    @property
    def expiry_label(self) -> str:
        if self.expiry_kind == self.ExpiryKind.AFTER:
            unit = self.get_expiry_unit_display().lower()
            if self.expiry_value == 1:
                unit = unit.rstrip("s")
            return f"After {self.expiry_value} {unit}"
        if self.expiry_kind == self.ExpiryKind.CALENDAR_YEAR:
            if not self.expiry_value:
                return "End of the calendar year of issue"
            return f"End of calendar year {self.expiry_value} after issue"
        return "Never"

    @property
    def rounding_label(self) -> str:
        return f"{self.get_rounding_mode_display()} to {self.rounding_places} decimal places"


class WalletChange(models.Model):
    """Who created or changed a wallet, and what changed (SPEC 1: history on the detail page)."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(max_length=10, choices=Action.choices)
    # {field: [old, new]} for updates; {field: value} for creation.
    changes = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.wallet_id} {self.action} by {self.actor_id} at {self.created_at:%Y-%m-%d %H:%M}"


class Source(models.TextChoices):
    CAMPAIGN = "CAMPAIGN", "Promo campaign"
    API = "API", "API"
    MANUAL = "MANUAL", "Manual"
    SYSTEM = "SYSTEM", "System"


class Lot(models.Model):
    """One credit of points to one profile (SPEC 3.1); debits consume `remaining`.

    Buckets are derived from times, not from the flags: a lot is promised while
    `activates_at > now`, active while activated and not expired, expired once `expires_at <= now`.
    The `activated` / `expired` flags only say whether the periodic jobs have written the
    ACTIVATED / EXPIRED ledger rows yet.
    """

    # No single-column indexes where a composite one leads with the column (fewer index writes
    # per bulk-credited or swept lot): wallet_id → wallet_lot_wallet_profile, campaign_id →
    # wallet_lot_once_per_campaign_occurrence.
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="lots", db_index=False)
    profile = models.ForeignKey("segments.Profile", on_delete=models.PROTECT, related_name="wallet_lots")
    amount = points_field()
    remaining = points_field()
    issued_at = models.DateTimeField(default=timezone.now)
    activates_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    activated = models.BooleanField(default=True)
    expired = models.BooleanField(default=False)
    source = models.CharField(max_length=10, choices=Source.choices)
    campaign = models.ForeignKey(
        "promotions.Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="wallet_lots",
        db_index=False,
    )
    occurrence = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallet_lot_amount_positive"),
            models.CheckConstraint(condition=Q(remaining__gte=0), name="wallet_lot_remaining_not_negative"),
            models.CheckConstraint(
                condition=Q(remaining__lte=models.F("amount")), name="wallet_lot_remaining_le_amount"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("activates_at")),
                name="wallet_lot_expires_after_activation",
            ),
            # Each (campaign, profile, occurrence) is rewarded at most once (SPEC 6.2).
            models.UniqueConstraint(
                fields=["campaign", "profile", "occurrence"],
                condition=Q(campaign__isnull=False),
                name="wallet_lot_once_per_campaign_occurrence",
            ),
        ]
        indexes = [
            models.Index(fields=["wallet", "profile"], name="wallet_lot_wallet_profile"),
            # The jobs sweep only rows still due, in (time, id) order with a keyset cursor:
            # partial indexes keep those scans tiny and never revisit swept rows.
            models.Index(
                fields=["activates_at", "id"], condition=Q(activated=False), name="wallet_lot_due_activation_key"
            ),
            models.Index(
                fields=["expires_at", "id"],
                condition=Q(expired=False, expires_at__isnull=False),
                name="wallet_lot_due_expiry_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Lot {self.pk}: {self.amount} to {self.profile_id} in {self.wallet_id}"

    def is_active_at(self, at) -> bool:
        return self.activates_at <= at and (self.expires_at is None or self.expires_at > at)

    @property
    def consumed(self) -> Decimal:
        return self.amount - self.remaining


class Transaction(models.Model):
    """An append-only ledger row (a database trigger refuses UPDATE and DELETE).

    `points` is always positive; `kind` says which way it moves:
    CREDIT (+active), SCHEDULED (+promised), ACTIVATED (promised → active),
    DEBIT (−active), EXPIRED (−active).
    """

    class Kind(models.TextChoices):
        CREDIT = "CREDIT", "Credit"
        DEBIT = "DEBIT", "Debit"
        SCHEDULED = "SCHEDULED", "Scheduled"
        ACTIVATED = "ACTIVATED", "Activated"
        EXPIRED = "EXPIRED", "Expired"

    # wallet_id is covered by the composite indexes below; actor and idempotency_key are null on
    # almost every row, so they get partial indexes (fewer index writes per ledger row).
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="transactions", db_index=False)
    profile = models.ForeignKey("segments.Profile", on_delete=models.PROTECT, related_name="wallet_transactions")
    # The lot a CREDIT / SCHEDULED / ACTIVATED / EXPIRED row is about (DEBITs list theirs in Consumption).
    lot = models.ForeignKey(Lot, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField("type", max_length=10, choices=Kind.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    points = points_field()
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    campaign = models.ForeignKey(
        "promotions.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="wallet_transactions"
    )
    occurrence = models.CharField(max_length=64, blank=True)
    order_id = models.CharField(max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=300, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="wallet_txn_points_positive"),
            # An idempotency key moves points once.
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="wallet_txn_idempotency_key_once",
            ),
        ]
        indexes = [
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="wallet_txn_actor"),
            models.Index(fields=["wallet", "profile", "-created_at"], name="wallet_txn_wallet_profile_time"),
            models.Index(fields=["wallet", "-created_at"], name="wallet_txn_wallet_time"),
        ]

    def __str__(self) -> str:
        return f"Txn {self.pk}: {self.kind} {self.points} ({self.source})"

    @property
    def signed_points(self) -> Decimal:
        return -self.points if self.kind in (self.Kind.DEBIT, self.Kind.EXPIRED) else self.points


class Consumption(models.Model):
    """How much of which lot a DEBIT consumed (append-only, like the ledger)."""

    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="consumptions")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="consumptions")
    points = points_field()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="wallet_consumption_points_positive")]

    def __str__(self) -> str:
        return f"{self.points} of lot {self.lot_id} by txn {self.transaction_id}"


class IdempotencyRecord(models.Model):
    """The first response to an API request carrying an `Idempotency-Key` (SPEC 7)."""

    api_key = models.ForeignKey("config.ApiKey", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of the canonical JSON body: the same key with a different body is refused.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="wallet_idempotency_once_per_key")]

    def __str__(self) -> str:
        return f"{self.key} → {self.response_status}"
