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
