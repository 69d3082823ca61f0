import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.urls import reverse


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
    # Single code: how often one profile may redeem each copy it holds; NULL = unlimited.
    per_user_limit = models.PositiveIntegerField(null=True, blank=True, default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Bulk series: warn on the list and detail pages when fewer unassigned codes remain.
    low_stock_threshold = models.PositiveIntegerField(null=True, blank=True)
    # Counters kept by the services in the same transaction as the rows they count, so the
    # list shows assigned / redeemed / total without counting a million-row table per coupon.
    # Bulk: codes in the series / codes assigned / codes redeemed.
    # Single: total is unused / copies handed out / redemptions made.
    codes_total = models.PositiveBigIntegerField(default=0)
    codes_assigned = models.PositiveBigIntegerField(default=0)
    codes_redeemed = models.PositiveBigIntegerField(default=0)
    # Bulk: the highest code id given so far; claims look for free codes after it
    # (codes/pool.py), moved by the claim statement with `codes_assigned`.
    codes_cursor = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(codes_assigned__lte=models.F("codes_total")) | models.Q(kind="single"),
                name="coupon_assigned_lte_total",
            ),
            models.CheckConstraint(
                condition=models.Q(total_limit__isnull=True) | models.Q(codes_redeemed__lte=models.F("total_limit")),
                name="coupon_redeemed_lte_total_limit",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("coupons:coupon_detail", args=[self.pk])

    @property
    def is_bulk(self) -> bool:
        return self.kind == self.Kind.BULK

    @property
    def codes_left(self) -> int | None:
        if self.is_bulk:
            return self.codes_total - self.codes_assigned
        if self.total_limit is None:
            return None
        return max(self.total_limit - self.codes_assigned, 0)

    @property
    def is_exhausted(self) -> bool:
        left = self.codes_left
        return left is not None and left <= 0 and (self.codes_total > 0 or not self.is_bulk)

    @property
    def is_low_stock(self) -> bool:
        left = self.codes_left
        return self.low_stock_threshold is not None and left is not None and 0 < left <= self.low_stock_threshold

    @property
    def expiry_after(self) -> timedelta | None:
        if not self.expiry_after_value or not self.expiry_after_unit:
            return None
        return timedelta(**{self.expiry_after_unit: self.expiry_after_value})


class CouponCode(models.Model):
    """One code of a bulk series; it leaves the pool only through the assignment services."""

    # No separate index: UNIQUE(coupon, code) leads with coupon (one index less to write per code).
    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="codes", db_index=False)
    code = models.CharField(max_length=64)
    # Set in the same statement that writes the assignment; NULL = still in the pool. In no
    # index (nor any index's predicate), so that UPDATE is a HOT update: the table's fillfactor
    # (migration 0008) leaves each page room for its codes' new versions.
    assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["coupon", "code"], name="coupon_code_unique_in_series")]
        indexes = [
            # The claim walks the series' codes in id order from the series' cursor.
            models.Index(fields=["coupon", "id"], name="coupon_code_series_id"),
        ]

    def __str__(self) -> str:
        return self.code


class CodeAssignment(models.Model):
    """A code given to a profile (append-only except for its redemption counter)."""

    # No separate index on coupon or profile: the once-per-occurrence unique index leads with
    # coupon and the (profile, code) index with profile; fewer indexes to write per assignment.
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="assignments", db_index=False)
    # Bulk: the series code, assigned at most once ever (unique). Single: NULL, `code` holds the shared code.
    coupon_code = models.OneToOneField(
        CouponCode, null=True, blank=True, on_delete=models.PROTECT, related_name="assignment"
    )
    code = models.CharField(max_length=64)
    profile = models.ForeignKey(
        "segments.Profile", on_delete=models.CASCADE, related_name="coupon_assignments", db_index=False
    )
    campaign = models.ForeignKey(
        "promotions.Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="coupon_assignments"
    )
    occurrence = models.CharField(max_length=64, blank=True)
    assigned_at = models.DateTimeField()
    redeemable_from = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    redeem_count = models.PositiveIntegerField(default=0)
    redeemed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-assigned_at", "-pk"]
        constraints = [
            # Idempotency: a retried task or re-sent event cannot give a second code.
            # COALESCE treats "no campaign" as one value (NULLS NOT DISTINCT).
            models.UniqueConstraint(
                "coupon",
                Coalesce("campaign", models.Value(0)),
                "profile",
                "occurrence",
                name="coupon_assignment_once_per_occurrence",
            ),
        ]
        indexes = [models.Index(fields=["profile", "code"], name="coupon_assignment_profile_code")]

    def __str__(self) -> str:
        return f"{self.code} → {self.profile_id}"


class Redemption(models.Model):
    """Append-only record of every redeem and revert made through the API."""

    class Kind(models.TextChoices):
        REDEEM = "redeem", "Redeem"
        REVERT = "revert", "Revert"

    assignment = models.ForeignKey(CodeAssignment, on_delete=models.PROTECT, related_name="redemptions")
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    profile = models.ForeignKey("segments.Profile", on_delete=models.CASCADE, related_name="coupon_redemptions")
    code = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.code}"


def import_path(instance, filename: str) -> str:
    # The uploader's file name is kept in the row, never on disk.
    return f"coupons/imports/{uuid.uuid4().hex}.csv"


class CodeBatch(models.Model):
    """One generation or import of codes into a series: its parameters and progress."""

    class Source(models.TextChoices):
        GENERATED = "generated", "Generated"
        IMPORTED = "imported", "Imported"

    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        RUNNING = "running", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        NUMERIC = "numeric", "Numeric"
        ALPHABETIC = "alphabetic", "Alphabetic"
        ALPHANUMERIC = "alphanumeric", "Alphanumeric"

    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="batches")
    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    code_format = models.CharField(max_length=12, choices=Format.choices, blank=True)
    length = models.PositiveSmallIntegerField(null=True, blank=True)
    prefix = models.CharField(max_length=20, blank=True)
    suffix = models.CharField(max_length=20, blank=True)
    requested = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=255, blank=True)
    # Imports: the CSV as uploaded (server-generated name), read by the background task.
    file = models.FileField(upload_to=import_path, max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "code batches"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done__lte=models.F("requested")), name="code_batch_done_lte_requested"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.requested} for {self.coupon_id}"

    @property
    def percent(self) -> int:
        if not self.requested:
            return 0 if self.is_running else 100
        return min(100, int(self.done * 100 / self.requested))

    @staticmethod
    def live_progress_key(batch_id: int) -> str:
        return f"coupon-batch-{batch_id}"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)


class CouponEvent(models.Model):
    """The coupon's history: who did what, when (shown on its detail page)."""

    coupon = models.ForeignKey(Coupon, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40)
    message = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action}: {self.message}"
