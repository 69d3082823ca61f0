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
    # The `points.expiring` webhook digest (issue #20) lists points expiring within this many days;
    # 0 sends none. `expiry_digest_on`: the account-local day the digest was last sent (once a day).
    expiry_notice_days = models.PositiveSmallIntegerField(
        "expiry notice (days)", default=7, help_text="Points expiring within this many days go into the daily digest."
    )
    expiry_digest_on = models.DateField(null=True, blank=True, editable=False)

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

    Buckets are derived from times: a lot is promised while `activates_at > now`, active while
    activated and not expired, expired once `expires_at <= now`. Whether the periodic jobs have
    written its ACTIVATED / EXPIRED ledger rows yet is kept apart, in `LotDue` (one narrow row
    per pending job step), so the jobs never rewrite this wide row.
    """

    # Few indexes, each written for every one of the million lots a campaign credits: the
    # profile's lots (debits, balances; a profile has few lots, so no (wallet, profile) index)
    # and the once-per-occurrence constraint (which also serves campaign lookups). Nothing reads
    # lots by wallet alone except the detail page's totals, a scan of the wallet's lots anyway.
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="lots", db_index=False)
    profile = models.ForeignKey("segments.Profile", on_delete=models.PROTECT, related_name="wallet_lots")
    amount = points_field()
    remaining = points_field()
    issued_at = models.DateTimeField(default=timezone.now)
    activates_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
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

    def __str__(self) -> str:
        return f"Lot {self.pk}: {self.amount} to {self.profile_id} in {self.wallet_id}"

    def is_active_at(self, at) -> bool:
        return self.activates_at <= at and (self.expires_at is None or self.expires_at > at)

    @property
    def consumed(self) -> Decimal:
        return self.amount - self.remaining


class LotDue(models.Model):
    """The next lifecycle step the periodic jobs owe a lot: write its ACTIVATED row (a lot
    credited with a delay) or its EXPIRED row (a lot with an expiry). One row per lot at most:
    a delayed lot with an expiry gets its expire step when the activation sweep activates it.

    The job deletes the row in the statement that writes the ledger row, so a step is done
    exactly once however many jobs run at once (a deleted row cannot be deleted twice; a
    concurrent DELETE waits, then finds nothing). The table holds only pending steps and its
    one index is the primary key, in the order the jobs sweep: (step, due_at, lot).
    """

    class Step(models.TextChoices):
        ACTIVATE = "activate", "Activate"
        EXPIRE = "expire", "Expire"

    pk = models.CompositePrimaryKey("step", "due_at", "lot")
    step = models.CharField(max_length=8, choices=Step.choices)
    due_at = models.DateTimeField()
    # No database constraint: rows are written with their lot in one statement, lots are never
    # deleted (PROTECT everywhere), and a FK check per row would double the bulk credit's cost.
    lot = models.ForeignKey(Lot, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)

    def __str__(self) -> str:
        return f"{self.step} lot {self.lot_id} at {self.due_at:%Y-%m-%d %H:%M:%S}"


class LotRollup(models.Model):
    """The lots summed by exact lifecycle (campaign, wallet, activates_at, expires_at), kept by
    PostgreSQL triggers on `wallets_lot` in the writing transaction (migration 0011).

    Exact times, not buckets: a reader classifies each row against its own "now" as it would a
    lot (the same `_bucket_aggregates`), so the sums are exact at every moment. A credit call
    gives all its lots one (activates_at, expires_at), so a run chunk of 5,000 lots or a live
    batch adds to one row. Each key is split into shards (the writing transaction's id % 4):
    an upserted row stays locked until its transaction commits, and parallel chunks of one run
    must not queue on one row. A shard may go negative (a debit subtracts in its own shard);
    readers sum the shards. `campaign_id` NULL: credits of no campaign (manual, API).
    """

    # No foreign-key checks (a check per trigger upsert would lock the wallet and campaign rows
    # again): every row comes from lots, which hold checked keys and cannot be deleted.
    campaign = models.ForeignKey(
        "promotions.Campaign",
        null=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    wallet = models.ForeignKey(
        Wallet, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    activates_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True)
    shard = models.SmallIntegerField()
    lots = models.BigIntegerField()
    amount = models.DecimalField(max_digits=30, decimal_places=POINTS_PLACES)
    remaining = models.DecimalField(max_digits=30, decimal_places=POINTS_PLACES)

    class Meta:
        constraints = [
            # Also the readers' index: a campaign's rows lead it. NULLS NOT DISTINCT: one row per
            # shard for the campaign-less lots and for the lots that never expire.
            models.UniqueConstraint(
                fields=["campaign", "wallet", "activates_at", "expires_at", "shard"],
                nulls_distinct=False,
                name="wallet_lot_rollup_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lots} lots of campaign {self.campaign_id} in {self.wallet_id} from {self.activates_at:%Y-%m-%d}"


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

    # Every ledger row is written by a service that read its wallet, profile and campaign off a
    # lot (or, for a DEBIT, locked the lots it consumes, each kept by a Consumption row); lots
    # hold real foreign keys to them and the database refuses to delete lots. So these copies
    # need no foreign-key check of their own: `db_constraint=False` saves a check (a row lock,
    # WAL-logged) per column and ledger row, most of the cost of writing a million of them
    # (bench/RESULTS.md).
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="transactions", db_index=False, db_constraint=False
    )
    profile = models.ForeignKey(
        "segments.Profile",
        on_delete=models.PROTECT,
        related_name="wallet_transactions",
        db_index=False,
        db_constraint=False,
    )
    # The lot a CREDIT / SCHEDULED / ACTIVATED / EXPIRED row is about (DEBITs list theirs in Consumption).
    # Written from the lot row itself, in the statement that inserts or reads it, and the
    # database refuses to delete lots (migration 0006), so the reference cannot dangle; a
    # checking foreign key would lock (and WAL-log) every lot row again for each ledger row.
    lot = models.ForeignKey(
        Lot,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transactions",
        db_constraint=False,
        db_index=False,
    )
    kind = models.CharField("type", max_length=10, choices=Kind.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    points = points_field()
    # The row's own text and data: a debit's, or the jobs' ("Points activated"). A credit's are
    # its lot's and are not repeated here (nor its campaign and occurrence): see `full_description`.
    description = models.CharField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
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
            # Led by profile: serves a profile's history in a wallet, its balances from the
            # ledger, and the PROTECT check when a profile is deleted (no separate profile index).
            models.Index(fields=["profile", "wallet", "-created_at"], name="wallet_txn_profile_wallet_time"),
            models.Index(fields=["wallet", "-created_at"], name="wallet_txn_wallet_time"),
            # The wallet page's history lists (and counts) its manual adjustments: a handful among
            # a wallet's million ledger rows, which the index above would scan one by one.
            models.Index(fields=["wallet", "-created_at"], condition=Q(source="MANUAL"), name="wallet_txn_manual_time"),
            # A lot's credit row is looked up by lot; the jobs' ACTIVATED / EXPIRED rows never are,
            # so they stay out of this index (one index write fewer per row the jobs write).
            models.Index(fields=["lot"], condition=Q(kind__in=["CREDIT", "SCHEDULED"]), name="wallet_txn_credit_lot"),
        ]

    def __str__(self) -> str:
        return f"Txn {self.pk}: {self.kind} {self.points} ({self.source})"

    # What the ledger row does not repeat of its lot (load the lot with select_related("lot"),
    # or "lot__campaign" for the campaign itself). Rows written before migration 0010 still
    # hold their own copies of the description; they read the same.
    @property
    def campaign_id(self) -> int | None:
        return self.lot.campaign_id if self.lot_id else None

    @property
    def campaign(self):
        return self.lot.campaign if self.lot_id and self.lot.campaign_id else None

    @property
    def occurrence(self) -> str:
        return self.lot.occurrence if self.lot_id else ""

    @property
    def full_description(self) -> str:
        """The row's own description, else its lot's (a credit's description lives on its lot)."""
        if self.description or not self.lot_id:
            return self.description
        return self.lot.description

    @property
    def full_metadata(self) -> dict:
        if self.metadata or not self.lot_id:
            return self.metadata
        return self.lot.metadata

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


class LedgerRollup(models.Model):
    """The ledger summed per (wallet, UTC quarter hour, kind), kept by PostgreSQL (migration 0011).

    A statement-level trigger on the ledger upserts these rows in the inserting transaction, so
    the wallet page reads a few rows instead of a month of ledger rows (its chart) or a million
    lots (its totals, from the all-time rows: `quarter` NULL, one per wallet and kind). Quarters,
    because every timezone's local day is a whole number of them. Each key is split into
    `shard` rows (the writer's txid % 16, migration 0014) so parallel chunks crediting one
    wallet rarely wait on one row; readers sum the shards.
    """

    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="+", db_index=False)
    quarter = models.DateTimeField(null=True, blank=True)  # NULL: all time
    kind = models.CharField(max_length=10, choices=Transaction.Kind.choices)
    shard = models.SmallIntegerField(default=0)
    # A sum of millions of rows: room beyond one row's POINTS_DIGITS.
    points = models.DecimalField(max_digits=30, decimal_places=POINTS_PLACES)
    rows = models.BigIntegerField()

    class Meta:
        constraints = [
            # Led by (wallet, quarter): the chart reads a range of one wallet's quarters, the
            # totals its all-time rows (quarter NULL, one key: NULLs not distinct).
            models.UniqueConstraint(
                fields=["wallet", "quarter", "kind", "shard"], name="wallet_ledger_rollup_once", nulls_distinct=False
            ),
        ]

    def __str__(self) -> str:
        when = f"{self.quarter:%Y-%m-%d %H:%M}" if self.quarter else "all time"
        return f"{self.wallet_id} {self.kind} {when} #{self.shard}: {self.points}"
