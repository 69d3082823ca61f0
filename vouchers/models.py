from django.conf import settings
from django.db import models


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
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        EXPIRED = "expired", "Expired"
        ARCHIVED = "archived", "Archived"

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="voucher_lists")
    # Unique per partner, lowercase, no spaces (validated by the form and the service).
    tag = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    expires_on = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["partner", "tag"]
        constraints = [models.UniqueConstraint(fields=["partner", "tag"], name="voucher_list_tag_unique_per_partner")]

    def __str__(self) -> str:
        return f"{self.partner.name} / {self.tag}"
