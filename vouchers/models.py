import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce, Lower
from django.urls import reverse
from django.utils import timezone

# SPEC 3.3: a list holds at most one million codes; a code is at most this long.
MAX_CODES_PER_LIST = 1_000_000
CODE_MAX_LENGTH = 64


class Partner(models.Model):
    """A code provider whose users upload voucher lists in the partner area (SPEC 3.3)."""

    # Unique and case-sensitive: "ShopCo" and "shopco" are two partners.
    name = models.CharField(max_length=200, unique=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartnerUser(models.Model):
    """Links a partner user (group Partner) to exactly one partner."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_link")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="users")

    class Meta:
        verbose_name = "partner user"

    def __str__(self) -> str:
        return f"{self.user} → {self.partner}"


class VoucherList(models.Model):
    """A partner's list of voucher codes, a "code snippet" in the builder (SPEC 3.3)."""

    class Status(models.TextChoices):
        # A list created with its first file waits here until those codes are stored: it is
        # not offered to campaigns, and a refused, cancelled or failed first upload removes it
        # (SPEC 8: a failed upload changes nothing).
        PENDING = "pending", "Pending first upload"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        EXPIRED = "expired", "Expired"
        ARCHIVED = "archived", "Archived"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="voucher_lists")
    # Unique per partner, lowercase, no spaces (validated by the form and the service).
    tag = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # The last day codes may be given out, in the account timezone.
    expires_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(default=timezone.now)
    low_stock_threshold = models.PositiveIntegerField(
        default=100, help_text="The list is flagged as low on stock when this many codes or fewer are left."
    )
    # Counters kept by the services in the same statement as the rows they count, so list
    # pages never count a million codes per row.
    codes_total = models.PositiveIntegerField(default=0)
    codes_assigned = models.PositiveIntegerField(default=0)
    # The highest code id given so far; claims look for free codes after it (codes/pool.py).
    codes_cursor = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["partner", "tag"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "tag"], name="voucher_list_tag_unique_per_partner"),
            models.CheckConstraint(condition=models.Q(tag=Lower("tag")), name="voucher_list_tag_lowercase"),
            models.CheckConstraint(condition=~models.Q(tag__contains=" "), name="voucher_list_tag_no_spaces"),
            models.CheckConstraint(
                condition=models.Q(codes_total__lte=MAX_CODES_PER_LIST), name="voucher_list_codes_total_max"
            ),
            models.CheckConstraint(
                condition=models.Q(codes_assigned__lte=models.F("codes_total")),
                name="voucher_list_assigned_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner.name} / {self.tag}"

    def get_absolute_url(self) -> str:
        return reverse("vouchers:voucher_list_detail", args=[self.pk])

    @property
    def codes_left(self) -> int:
        return self.codes_total - self.codes_assigned

    @property
    def is_exhausted(self) -> bool:
        return self.codes_total > 0 and self.codes_left == 0

    @property
    def is_low_stock(self) -> bool:
        return self.codes_total > 0 and 0 < self.codes_left <= self.low_stock_threshold


def upload_path(instance, filename: str) -> str:
    # Server-generated names: the partner's file name is kept in the row, never on disk.
    return f"vouchers/uploads/{uuid.uuid4().hex}.csv"


def error_file_path(instance, filename: str) -> str:
    return f"vouchers/errors/{uuid.uuid4().hex}.csv"


class VoucherUpload(models.Model):
    """One CSV of codes for a list: validated into a report, confirmed, then processed."""

    class Kind(models.TextChoices):
        NEW_LIST = "new_list", "New list"
        TOP_UP = "top_up", "Top-up"

    class Status(models.TextChoices):
        VALIDATING = "validating", "Validating"
        AWAITING_CONFIRMATION = "awaiting", "Awaiting confirmation"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    voucher_list = models.ForeignKey(VoucherList, on_delete=models.PROTECT, related_name="uploads")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TOP_UP)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.VALIDATING)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    file_name = models.CharField(max_length=255)
    file = models.FileField(upload_to=upload_path, max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    error_file = models.FileField(upload_to=error_file_path, max_length=255, blank=True)
    # The validation report (SPEC 3.3, issue 5), filled before anything is stored.
    rows_read = models.PositiveIntegerField(default=0)
    codes_valid = models.PositiveIntegerField(default=0)
    duplicates_in_file = models.PositiveIntegerField(default=0)
    duplicates_existing = models.PositiveIntegerField(default=0)
    bad_rows = models.PositiveIntegerField(default=0)
    header_skipped = models.CharField(max_length=CODE_MAX_LENGTH, blank=True)
    # Why the whole file was refused, or why processing failed.
    error_message = models.TextField(blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The outcome: codes stored out of the rows read, and rows in the error file.
    codes_accepted = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["voucher_list", "-created_at"], name="voucher_upload_list_time")]

    def __str__(self) -> str:
        return f"{self.file_name} → {self.voucher_list_id} ({self.get_status_display()})"

    @property
    def is_rejected(self) -> bool:
        """The whole file was refused at validation: there is nothing to confirm."""
        return self.status == self.Status.FAILED and self.confirmed_at is None

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        if not self.progress_total:
            return 0
        done = self.progress_done
        if self.status == self.Status.IN_PROGRESS:
            # The processing transaction holds this row; its progress lives in a side row
            # (see core/db.py).
            live = VoucherUploadProgress.objects.filter(upload_id=self.pk).values_list("done", flat=True).first()
            done = max(done, live or 0)
        return min(100, int(done * 100 / self.progress_total))

    @staticmethod
    def live_progress_key(upload_id: int) -> str:
        return f"voucher-upload-{upload_id}"


class VoucherUploadProgress(models.Model):
    """How far a processing run has got, written on its own autocommit connection.

    The run is one all-or-nothing transaction holding the upload row, so the partner's
    moving percentage cannot live on that row. No database foreign key: writing this row
    must never wait on the upload row's lock.
    """

    upload = models.OneToOneField(
        VoucherUpload, on_delete=models.CASCADE, db_constraint=False, related_name="live_progress"
    )
    done = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.upload_id}: {self.done}"


class VoucherCode(models.Model):
    """One code in a list; it leaves the pool only through a VoucherAssignment."""

    voucher_list = models.ForeignKey(VoucherList, on_delete=models.PROTECT, related_name="codes", db_index=False)
    # Denormalised from the list so the database enforces "a code once per partner among
    # non-archived lists" with one partial unique index.
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", db_index=False)
    code = models.CharField(max_length=CODE_MAX_LENGTH)
    upload = models.ForeignKey(VoucherUpload, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    list_archived = models.BooleanField(default=False)
    assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["voucher_list", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "code"],
                condition=models.Q(list_archived=False),
                name="voucher_code_unique_per_partner",
            ),
        ]
        indexes = [
            # The list page reads it, and claims walk it in id order from the list's cursor.
            # `assigned_at` is in no index (nor predicate): marking a code given is a HOT update
            # (fillfactor: migration 0008).
            models.Index(fields=["voucher_list", "id"], name="voucher_code_list_id"),
        ]

    def __str__(self) -> str:
        return self.code


class VoucherAssignment(models.Model):
    """Append-only: a code given to a profile (by a campaign occurrence). Never updated."""

    # No single-column index on voucher_list or profile: the once-per-occurrence unique index
    # leads with the list and the (profile, time) index with the profile; fewer indexes to
    # write per assignment.
    code = models.OneToOneField(VoucherCode, on_delete=models.PROTECT, related_name="assignment")
    voucher_list = models.ForeignKey(VoucherList, on_delete=models.PROTECT, related_name="assignments", db_index=False)
    profile = models.ForeignKey(
        "segments.Profile", on_delete=models.PROTECT, related_name="voucher_assignments", db_index=False
    )
    campaign = models.ForeignKey(
        "promotions.Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="voucher_assignments",
    )
    occurrence = models.CharField(max_length=64, blank=True)
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-assigned_at", "-id"]
        constraints = [
            # Retries of the same (list, campaign, profile, occurrence) give nothing new.
            # COALESCE treats "no campaign" as one value (NULLS NOT DISTINCT).
            models.UniqueConstraint(
                "voucher_list",
                Coalesce("campaign", models.Value(0)),
                "profile",
                "occurrence",
                name="voucher_assignment_once",
            ),
        ]
        indexes = [models.Index(fields=["profile", "-assigned_at"], name="voucher_assignment_profile")]

    def __str__(self) -> str:
        return f"{self.code_id} → {self.profile_id}"


class DiscardedVoucherList(models.Model):
    """What is left of a new list removed because its first upload was refused, cancelled or
    failed: only enough for the upload's page to tell the person what happened (the list, its
    upload and their files are gone, and the tag is free again)."""

    class Outcome(models.TextChoices):
        REFUSED = "refused", "Refused"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    # The removed upload's id: its old URL keeps answering with this record.
    upload_id = models.PositiveBigIntegerField(unique=True)
    tag = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    file_name = models.CharField(max_length=255)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    message = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.partner_id} / {self.tag} ({self.get_outcome_display()})"


class VoucherListEvent(models.Model):
    """Who did what to a list, and when (SPEC 1: history on its detail page)."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        EDITED = "edited", "Edited"
        EXPIRY_EXTENDED = "expiry_extended", "Expiry extended"
        PAUSED = "paused", "Paused"
        ACTIVATED = "activated", "Activated"
        ARCHIVED = "archived", "Archived"
        EXPIRED = "expired", "Expired"
        UPLOAD_VALIDATED = "upload_validated", "Upload validated"
        UPLOAD_REJECTED = "upload_rejected", "Upload rejected"
        UPLOAD_CONFIRMED = "upload_confirmed", "Upload confirmed"
        UPLOAD_CANCELLED = "upload_cancelled", "Upload cancelled"
        UPLOAD_COMPLETED = "upload_completed", "Upload completed"
        UPLOAD_FAILED = "upload_failed", "Upload failed"

    voucher_list = models.ForeignKey(VoucherList, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=20, choices=Action.choices)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["voucher_list", "-created_at"], name="voucher_list_event_time")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor or 'system'}"
